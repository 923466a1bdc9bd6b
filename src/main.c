/* main — the script runner: `moonpod [options] [script [args]]`.
 *
 * Behaves like the `lua` interpreter (-e, -l, -v, -E, -W, --, -, the `arg`
 * table, a shebang line, exit status 1 and a traceback on an uncaught error)
 * so that existing Lua tools, busted among them, run inside moonpod. The
 * difference: everything runs as the "main" task on the loop, so the script
 * may wait on engines and timers, and the process ends when the main chunk
 * has returned and nothing it started is still alive. */
#include <lauxlib.h>
#include <lualib.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "broken_pipe.h"
#include "loop.h"
#include "moonpod.h"
#include "serve.h"
#include "task.h"
#include "version.h"

static const char *cli_progname = "moonpod";

typedef struct cli_args {
    int script;        /* index in argv of the script, or 0 */
    int has_e, has_v, has_i, no_env, warnings, stdin_script;
    int repl;          /* the prompt comes after the steps */
    int top;           /* `moonpod top [args]` */
    int first_bad;     /* index of an unknown or incomplete option, or 0 */
} cli_args;

static void cli_usage(const char *badopt)
{
    if (badopt[1] == 'e' || badopt[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", cli_progname, badopt);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", cli_progname, badopt);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n",
            cli_progname);
}

/* Scans options the way lua.c does: they end at the first non-option, which
 * is the script. */
static void cli_scan(int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    int i;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-') {
            a->script = i;
            return;
        }
        if (o[1] == '\0') { /* "-": stdin */
            a->script = i;
            a->stdin_script = 1;
            return;
        }
        if (o[1] == '-' && o[2] == '\0') {
            if (i + 1 < argc)
                a->script = i + 1;
            return;
        }
        switch (o[1]) {
        case 'E': if (o[2]) goto bad; a->no_env = 1; break;
        case 'W': if (o[2]) goto bad; a->warnings = 1; break;
        case 'i': if (o[2]) goto bad; a->has_i = 1; break;
        case 'v': if (o[2]) goto bad; a->has_v = 1; break;
        case 'e':
            a->has_e = 1;
            /* fall through */
        case 'l':
            if (o[2] == '\0' && (++i >= argc || argv[i][0] == '-'))
                goto bad;
            break;
        default:
            goto bad;
        }
    }
    return;
bad:
    a->first_bad = i < argc ? i : i - 1;
}

static void cli_print_version(void)
{
    printf("moonpod %s (%s, libuv %s, libcurl %s)\n", MOONPOD_VERSION, LUA_RELEASE, uv_version_string(),
           curl_version_info(CURLVERSION_NOW)->version);
    fflush(stdout);
}

/* arg: the script at 0, its arguments at 1.., the interpreter and options
 * at negative indices, as lua.c does. With no script the interpreter is at 0. */
static void cli_create_arg(lua_State *L, int argc, char **argv, int script)
{
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* The main task runs a list of steps, each { f, args...; n = #args }:
 * LUA_INIT, the -e and -l options in order, then the script. */
static void cli_add_step(lua_State *L, int steps, int nargs)
{
    int base = lua_gettop(L) - nargs; /* the function */
    lua_createtable(L, nargs + 1, 1);
    for (int i = 0; i <= nargs; i++) {
        lua_pushvalue(L, base + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, nargs);
    lua_setfield(L, -2, "n");
    lua_rawseti(L, steps, (lua_Integer)lua_rawlen(L, steps) + 1);
    lua_settop(L, base - 1);
}

/* -l mod / -l g=mod: g = require "mod" */
static int cli_require_step(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    const char *eq = strchr(spec, '=');
    lua_getglobal(L, "require");
    lua_pushstring(L, eq ? eq + 1 : spec);
    lua_call(L, 1, 1); /* require itself can't yield: a plain call */
    if (eq)
        lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
        lua_pushstring(L, spec);
    lua_pushvalue(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    return 0;
}

/* Runs the steps from number ctx on; a step that waits yields the task and
 * comes back here through the continuation. */
static int cli_run_steps(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    for (lua_Integer i = (lua_Integer)ctx;; i++) {
        lua_settop(L, 0);
        if (lua_rawgeti(L, lua_upvalueindex(1), i + 1) == LUA_TNIL)
            return 0;
        lua_getfield(L, 1, "n");
        int nargs = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        luaL_checkstack(L, nargs + 1, "too many arguments to script");
        for (int a = 1; a <= nargs + 1; a++)
            lua_rawgeti(L, 1, a);
        lua_remove(L, 1);
        lua_callk(L, nargs, 0, (lua_KContext)(i + 1), cli_run_steps);
    }
}

static int cli_main_task(lua_State *L)
{
    return cli_run_steps(L, LUA_OK, 0);
}

static int cli_report_load(lua_State *L, int status)
{
    if (status == LUA_OK)
        return 0;
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", cli_progname, msg ? msg : "(error object is not a string)");
    fflush(stderr);
    return 1;
}

/* A step written in Lua, taking the step's arguments as `...`. */
static int cli_add_code_step(lua_State *L, int steps, const char *code, const char *name, int nargs)
{
    if (cli_report_load(L, luaL_loadbuffer(L, code, strlen(code), name)))
        return 1;
    lua_insert(L, -nargs - 1);
    cli_add_step(L, steps, nargs);
    return 0;
}

/* LUA_INIT_5_4, else LUA_INIT: "@file" or a chunk. */
static int cli_load_init(lua_State *L, int steps)
{
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (!init) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (!init)
        return 0;
    int st = init[0] == '@' ? luaL_loadfile(L, init + 1) : luaL_loadbuffer(L, init, strlen(init), name);
    if (cli_report_load(L, st))
        return 1;
    cli_add_step(L, steps, 0);
    return 0;
}

/* Loads every chunk up front, so that a syntax error or a missing file is
 * reported without a traceback, as lua.c does. */
static int cli_load_steps(lua_State *L, int argc, char **argv, const cli_args *a, int steps)
{
    if (!a->no_env && cli_load_init(L, steps))
        return 1;
    int last = a->script ? a->script : argc;
    for (int i = 1; i < last; i++) {
        const char *o = argv[i];
        if (o[0] != '-' || (o[1] != 'e' && o[1] != 'l'))
            continue;
        const char *val = o[2] ? o + 2 : argv[++i];
        if (o[1] == 'l') {
            lua_pushcfunction(L, cli_require_step);
            lua_pushstring(L, val);
            cli_add_step(L, steps, 1);
        } else {
            if (cli_report_load(L, luaL_loadbuffer(L, val, strlen(val), "=(command line)")))
                return 1;
            cli_add_step(L, steps, 0);
        }
    }
    if (a->top) {
        int nargs = argc - 2;
        luaL_checkstack(L, nargs, "too many arguments to top");
        for (int i = 2; i < argc; i++)
            lua_pushstring(L, argv[i]);
        return cli_add_code_step(L, steps, "return require('moonpod.top').main({...})", "=top", nargs);
    }
    if (a->script) {
        const char *fname = argv[a->script];
        /* "-" is stdin, unless it came after "--" */
        if (strcmp(fname, "-") == 0 && strcmp(argv[a->script - 1], "--") != 0)
            fname = NULL;
        /* code piped in gets the REPL's globals (client, events, help ...) */
        if (!fname && cli_add_code_step(L, steps, "require('moonpod.repl').preload()", "=stdin", 0))
            return 1;
        if (cli_report_load(L, luaL_loadfile(L, fname)))
            return 1;
        int nargs = argc - a->script - 1;
        luaL_checkstack(L, nargs, "too many arguments to script");
        for (int i = a->script + 1; i < argc; i++)
            lua_pushstring(L, argv[i]);
        cli_add_step(L, steps, nargs);
    } else if (!a->has_e && !a->has_v && !a->repl) {
        /* nothing to run and stdin is not a terminal: run stdin, as lua does */
        if (cli_add_code_step(L, steps, "require('moonpod.repl').preload()", "=stdin", 0))
            return 1;
        if (cli_report_load(L, luaL_loadfile(L, NULL)))
            return 1;
        cli_add_step(L, steps, 0);
    }
    if (a->repl)
        return cli_add_code_step(L, steps, "require('moonpod.repl').run()", "=repl", 0);
    return 0;
}

static int cli_main_failed;

static int cli_on_main_exit(task *t, task_status st, void *ud)
{
    (void)t;
    (void)ud;
    if (st == TASK_FAILED) {
        /* an error escaping the main chunk ends the script, whatever else runs */
        cli_main_failed = 1;
        loop_request_exit(1);
    }
    return 0; /* the scheduler reports it */
}

static int cli_run(lua_State *L, int argc, char **argv, const cli_args *a)
{
    if (a->warnings)
        lua_warning(L, "@on", 0);
    cli_create_arg(L, argc, argv, a->script);
    lua_newtable(L);
    int steps = lua_gettop(L);
    if (cli_load_steps(L, argc, argv, a, steps))
        return 1;
    lua_pushcclosure(L, cli_main_task, 1);
    task *main_task = task_spawn(L, 0, "main", 0);
    task_on_exit(main_task, cli_on_main_exit, NULL);
    int code = moonpod_run();
    if (code >= 0)
        return code;
    return cli_main_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (broken_pipe_install() != 0)
        perror("moonpod: sigaction(SIGPIPE)");
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    cli_args a;
    cli_scan(argc, argv, &a);
    if (a.first_bad) {
        cli_usage(argv[a.first_bad]);
        return 1;
    }
    a.top = argc >= 2 && strcmp(argv[1], "top") == 0;
    if (a.top)
        a.script = 0;
    else if (a.has_v)
        cli_print_version();
    a.repl = !a.top && (a.has_i || (!a.script && !a.has_e && !a.has_v && isatty(STDIN_FILENO)));
    lua_State *L = moonpod_new_state();
    if (!L)
        return 1;
    int code = cli_run(L, argc, argv, &a);
    moonpod_close_state(L);
    return code;
}
