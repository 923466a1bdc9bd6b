/* process — child processes on the loop: moonpod.run(argv, opts).
 *
 * A command is an argv vector handed to uv_spawn: there is never a shell in
 * between, so nothing in an argument is interpreted. Output is collected
 * from pipes up to a bound (what exceeds it is counted, not kept) and the
 * task waits without blocking the loop. The process itself is a child
 * (child.h), which outlives the task when it is cancelled: it is killed
 * and reaped in the background. */
#include "process.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "child.h"
#include "task.h"

#define PROCESS_DEFAULT_MAX_OUTPUT CHILD_DEFAULT_MAX_OUTPUT

/* What the task waits on. The child (child.h) owns the handles; this only
 * lives until the task is resumed or cancelled. */
typedef struct proc_op {
    task_wait wait;
    child *c;
    child_status st;
} proc_op;

static void proc_on_done(void *ud, const child_status *st)
{
    proc_op *op = ud;
    op->st = *st;
    task_wake(&op->wait);
}

/* The task was cancelled: the child is killed and reaped. */
static void proc_cancel(task_wait *w)
{
    proc_op *op = (proc_op *)w;
    child_release(op->c);
    free(op);
}

static void proc_push_result(lua_State *L, proc_op *op)
{
    size_t out_len, err_len;
    const char *out = child_output(op->c, 1, &out_len);
    const char *err = child_output(op->c, 2, &err_len);
    size_t dropped = child_dropped(op->c, 1) + child_dropped(op->c, 2);
    int sig = op->st.term_signal;
    lua_createtable(L, 0, 6);
    if (sig) {
        lua_pushinteger(L, sig);
        lua_setfield(L, -2, "signal");
    }
    lua_pushinteger(L, sig ? 128 + sig : op->st.exit_status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, !sig && op->st.exit_status == 0);
    lua_setfield(L, -2, "ok");
    lua_pushlstring(L, out, out_len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, err, err_len);
    lua_setfield(L, -2, "stderr");
    if (dropped) {
        lua_pushinteger(L, (lua_Integer)dropped);
        lua_setfield(L, -2, "dropped_bytes");
    }
    if (op->st.timed_out) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timed_out");
    }
}

static int proc_k(lua_State *L, int status, lua_KContext ctx)
{
    proc_op *op = (proc_op *)ctx;
    (void)status;
    proc_push_result(L, op);
    child_release(op->c);
    free(op);
    return 1;
}

/* ---- arguments ---- */

/* argv from a Lua list of strings. The strings stay referenced by the list
 * while uv_spawn copies them; the array is a userdata on the stack. */
static char **proc_argv(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    luaL_argcheck(L, n >= 1 && n < 4096, idx, "argv must be a non-empty list of strings");
    char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, idx, "argv must be a non-empty list of strings");
        argv[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1); /* still referenced by the list */
    }
    argv[n] = NULL;
    return argv;
}

/* The inherited environment with opts.env's entries added or replaced. */
static char **proc_env(lua_State *L, int opts)
{
    extern char **environ;
    if (lua_getfield(L, opts, "env") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_argcheck(L, lua_istable(L, -1), opts, "env must be a table of strings");
    int envt = lua_gettop(L);
    lua_newtable(L); /* name -> "name=value" */
    int merged = lua_gettop(L);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        lua_pushstring(L, *e);
        lua_rawset(L, merged);
    }
    lua_pushnil(L);
    while (lua_next(L, envt)) {
        int unset = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING ||
            (!unset && lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
            luaL_argerror(L, opts, "env must map names to strings (or false to unset)");
        lua_pushvalue(L, -2);
        if (unset)
            lua_pushnil(L);
        else
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -3), lua_tostring(L, -2));
        lua_rawset(L, merged);
        lua_pop(L, 1);
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, merged)) {
        n++;
        lua_pop(L, 1);
    }
    char **env = lua_newuserdatauv(L, (n + 1) * sizeof *env, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, merged)) {
        env[i++] = (char *)lua_tostring(L, -1); /* kept alive by `merged` */
        lua_pop(L, 1);
    }
    env[i] = NULL;
    /* leave envt, merged and the array on the stack for the call's duration */
    return env;
}

static const char *proc_opt_str(lua_State *L, int opts, const char *key)
{
    int t = lua_getfield(L, opts, key);
    luaL_argcheck(L, t == LUA_TNIL || t == LUA_TSTRING, opts, "option must be a string");
    return lua_tostring(L, -1); /* left on the stack */
}

/* moonpod.run(argv, { stdin = "text", env = { K = "v", UNSET = false }, cwd = "dir",
 *                     timeout = seconds, max_output = bytes })
 *   -> { status, ok, stdout, stderr, signal?, timed_out?, dropped_bytes? }
 * Runs a program (no shell: argv[1] is looked up in PATH) and waits for it
 * without blocking the loop. Raises when the program can't be started. */
static int process_l_run(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_isnil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    char **argv = proc_argv(L, 1);
    task_check_wait(L, "moonpod.run");
    const char *input = proc_opt_str(L, 2, "stdin");
    const char *cwd = proc_opt_str(L, 2, "cwd");
    lua_getfield(L, 2, "timeout");
    lua_Number timeout = luaL_optnumber(L, -1, 0);
    lua_getfield(L, 2, "max_output");
    lua_Integer max_output = luaL_optinteger(L, -1, (lua_Integer)PROCESS_DEFAULT_MAX_OUTPUT);
    luaL_argcheck(L, timeout >= 0 && max_output >= 0, 2, "timeout and max_output must be >= 0");
    char **env = proc_env(L, 2);

    proc_op *op = calloc(1, sizeof *op);
    if (!op)
        return luaL_error(L, "out of memory");
    op->wait.cancel = proc_cancel;
    child_opts o = {
        .argv = (const char *const *)argv,
        .env = (const char *const *)env,
        .cwd = cwd,
        .input = input,
        .input_len = input ? strlen(input) : 0,
        .max_output = (size_t)max_output,
        .on_done = proc_on_done,
        .ud = op,
        .timeout_ms = timeout > 0 ? (long)ceil(timeout * 1000) : 0,
    };
    char err[256];
    int uv_err;
    op->c = child_spawn(&o, &uv_err, err, sizeof err);
    if (!op->c) {
        free(op);
        if (uv_err == UV_ENOMEM)
            return luaL_error(L, "out of memory");
        return luaL_error(L, "moonpod.run: cannot start '%s': %s", argv[0], uv_strerror(uv_err));
    }
    return task_yield(L, &op->wait, proc_k, (lua_KContext)op);
}

void process_register(lua_State *L)
{
    lua_pushcfunction(L, process_l_run);
    lua_setfield(L, -2, "run");
}
