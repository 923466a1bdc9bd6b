/* process — child processes on the loop: moonpod.run(argv, opts).
 *
 * A command is an argv vector handed to uv_spawn: there is never a shell in
 * between, so nothing in an argument is interpreted. Output is collected
 * from pipes up to a bound (what exceeds it is counted, not kept) and the
 * task waits without blocking the loop. The operation frees itself when its
 * last libuv handle has closed and the task no longer needs it. */
#include "process.h"

#include <lauxlib.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "loop.h"
#include "task.h"

#define PROCESS_DEFAULT_MAX_OUTPUT ((size_t)16 << 20)

typedef struct proc_op proc_op;

typedef struct proc_pipe {
    uv_pipe_t pipe;
    proc_op *op;
    buf data;
    size_t dropped;        /* bytes beyond the bound */
    int open;
} proc_pipe;

struct proc_op {
    task_wait wait;
    uv_process_t proc;
    proc_pipe out, err;
    uv_pipe_t in;
    uv_write_t write_req;
    uv_timer_t timer;
    char *input;
    size_t max_output;
    int refs;              /* handles not yet closed + the task's claim */
    int running;           /* the child has not exited */
    int collecting;        /* exit or EOFs still to come before waking the task */
    int timed_out;
    int64_t exit_status;
    int term_signal;
};

static void proc_unref(proc_op *op)
{
    if (--op->refs > 0)
        return;
    buf_free(&op->out.data);
    buf_free(&op->err.data);
    free(op->input);
    free(op);
}

static void proc_on_close(uv_handle_t *h)
{
    proc_unref(h->data);
}

static void proc_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, proc_on_close);
}

static void proc_settle(proc_op *op)
{
    if (--op->collecting == 0) {
        proc_close((uv_handle_t *)&op->timer);
        task_wake(&op->wait);
    }
}

/* ---- output ---- */

static void proc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char scratch[65536];
    (void)h;
    (void)hint;
    /* Reads are copied out at once: one static buffer serves all pipes. */
    *b = uv_buf_init(scratch, sizeof scratch);
}

static void proc_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    proc_pipe *p = (proc_pipe *)s;
    if (n > 0) {
        size_t keep = p->data.len >= p->op->max_output ? 0 : p->op->max_output - p->data.len;
        size_t take = (size_t)n < keep ? (size_t)n : keep;
        buf_add(&p->data, b->base, take);
        p->dropped += (size_t)n - take;
        return;
    }
    if (n < 0) {
        p->open = 0;
        uv_read_stop(s);
        proc_close((uv_handle_t *)s);
        proc_settle(p->op);
    }
}

/* ---- the child ---- */

static void proc_on_exit(uv_process_t *pr, int64_t status, int sig)
{
    proc_op *op = pr->data;
    op->running = 0;
    op->exit_status = status;
    op->term_signal = sig;
    proc_close((uv_handle_t *)pr);
    proc_settle(op);
}

static void proc_on_timeout(uv_timer_t *t)
{
    proc_op *op = t->data;
    if (op->running) {
        op->timed_out = 1;
        uv_process_kill(&op->proc, SIGKILL);
    }
}

static void proc_on_written(uv_write_t *w, int status)
{
    proc_op *op = w->data;
    (void)status;
    proc_close((uv_handle_t *)&op->in);
}

/* The task was cancelled: kill the child, stop listening, let the handles
 * close and free the operation. */
static void proc_cancel(task_wait *w)
{
    proc_op *op = (proc_op *)w;
    if (op->running)
        uv_process_kill(&op->proc, SIGKILL);
    op->collecting = -1; /* nothing will wake the task again */
    proc_close((uv_handle_t *)&op->timer);
    if (op->out.open)
        proc_close((uv_handle_t *)&op->out.pipe);
    if (op->err.open)
        proc_close((uv_handle_t *)&op->err.pipe);
    proc_unref(op);
}

static void proc_push_result(lua_State *L, proc_op *op)
{
    lua_createtable(L, 0, 6);
    if (op->term_signal) {
        lua_pushinteger(L, op->term_signal);
        lua_setfield(L, -2, "signal");
    }
    lua_pushinteger(L, op->term_signal ? 128 + op->term_signal : op->exit_status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, !op->term_signal && op->exit_status == 0);
    lua_setfield(L, -2, "ok");
    lua_pushlstring(L, op->out.data.p ? op->out.data.p : "", op->out.data.len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, op->err.data.p ? op->err.data.p : "", op->err.data.len);
    lua_setfield(L, -2, "stderr");
    if (op->out.dropped || op->err.dropped) {
        lua_pushinteger(L, (lua_Integer)(op->out.dropped + op->err.dropped));
        lua_setfield(L, -2, "dropped_bytes");
    }
    if (op->timed_out) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timed_out");
    }
}

static int proc_k(lua_State *L, int status, lua_KContext ctx)
{
    proc_op *op = (proc_op *)ctx;
    (void)status;
    proc_push_result(L, op);
    proc_unref(op);
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
    if (!op || (input && !(op->input = strdup(input)))) {
        free(op);
        return luaL_error(L, "out of memory");
    }
    op->wait.cancel = proc_cancel;
    op->max_output = (size_t)max_output;
    /* five handles, each releasing one reference when closed, and the task */
    op->refs = 6;
    uv_loop_t *loop = loop_get();
    uv_pipe_init(loop, &op->out.pipe, 0);
    uv_pipe_init(loop, &op->err.pipe, 0);
    uv_pipe_init(loop, &op->in, 0);
    uv_timer_init(loop, &op->timer);
    op->out.pipe.data = op->err.pipe.data = op->in.data = op->timer.data = op->proc.data = op;
    op->out.op = op->err.op = op;

    uv_stdio_container_t stdio[3] = {
        {.flags = input ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE, .data.stream = (uv_stream_t *)&op->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&op->out.pipe},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&op->err.pipe},
    };
    uv_process_options_t po = {
        .exit_cb = proc_on_exit,
        .file = argv[0],
        .args = argv,
        .env = env,
        .cwd = cwd,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(loop, &op->proc, &po);
    if (rc != 0) {
        /* libuv wants even a failed process handle closed */
        proc_close((uv_handle_t *)&op->proc);
        proc_close((uv_handle_t *)&op->out.pipe);
        proc_close((uv_handle_t *)&op->err.pipe);
        proc_close((uv_handle_t *)&op->in);
        proc_close((uv_handle_t *)&op->timer);
        proc_unref(op);
        return luaL_error(L, "moonpod.run: cannot start '%s': %s", argv[0], uv_strerror(rc));
    }
    op->running = 1;
    op->collecting = 3; /* the exit and the end of both outputs */
    op->out.open = op->err.open = 1;
    uv_read_start((uv_stream_t *)&op->out.pipe, proc_alloc, proc_on_read);
    uv_read_start((uv_stream_t *)&op->err.pipe, proc_alloc, proc_on_read);
    if (input) {
        uv_buf_t b = uv_buf_init(op->input, (unsigned)strlen(op->input));
        op->write_req.data = op;
        if (uv_write(&op->write_req, (uv_stream_t *)&op->in, &b, 1, proc_on_written) != 0)
            proc_close((uv_handle_t *)&op->in);
    } else {
        proc_close((uv_handle_t *)&op->in);
    }
    if (timeout > 0)
        uv_timer_start(&op->timer, proc_on_timeout, (uint64_t)ceil(timeout * 1000), 0);
    return task_yield(L, &op->wait, proc_k, (lua_KContext)op);
}

void process_register(lua_State *L)
{
    lua_pushcfunction(L, process_l_run);
    lua_setfield(L, -2, "run");
}
