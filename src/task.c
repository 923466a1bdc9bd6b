/* task — the coroutine scheduler (see task.h).
 *
 * A task is a full userdata holding the struct below; its thread is the
 * userdata's first user value, its outcome (error value) the second. While a
 * task has not ended it is anchored in the registry, so a script that drops
 * the handle does not lose the task. The ready queue is process-wide and is
 * drained from a uv_idle handle: an active idle handle keeps the loop from
 * blocking in poll while tasks are ready. */
#include "task.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "log.h"
#include "loop.h"

#define TASK_MT "moonpod.task"

/* The value every host yield carries, so coroutine wrappers can tell a
 * task-level wait from a user's coroutine.yield. */
static char task_wait_key;

typedef struct join_wait join_wait;

struct task {
    lua_State *L;          /* the state the task belongs to */
    lua_State *co;         /* the task's thread */
    int ref;               /* registry anchor while alive, else LUA_NOREF */
    task_status status;
    int start_nargs;       /* arguments waiting on the stack for the first resume */
    task_wait *wait;       /* what it waits on, when TASK_WAITING or woken */
    task *next_ready;
    int queued;
    int nresults;          /* results left on co's stack when TASK_DONE */
    int yield_now;         /* a host yield that only gives way to others */
    join_wait *joiners;
    task *alive_prev, *alive_next;
    task_exit_fn on_exit;
    void *on_exit_ud;
    int closes_opened;     /* streams it opens are closed if it is cancelled */
    unsigned long id;
    char name[80];
};

struct join_wait {
    task_wait wait;
    task *target;
    join_wait *next;
};

static struct {
    task *head, *tail;
    uv_idle_t *idle;
    task *current;
    task *alive_head;      /* tasks that have not ended, for shutdown */
    int alive;
    unsigned long next_id;
    unsigned long resumes;  /* one more at every resume: a slice's identity */
} sched;

static void task_resume(task *t);

/* ---- the ready queue ---- */

static void sched_drain(uv_idle_t *idle)
{
    /* Only what was queued before this turn runs now: a task that keeps
     * yielding can't starve the loop's I/O. */
    task *last = sched.tail;
    while (sched.head && !loop_exit_requested(NULL)) {
        task *t = sched.head;
        sched.head = t->next_ready;
        if (!sched.head)
            sched.tail = NULL;
        t->next_ready = NULL;
        t->queued = 0;
        task_resume(t);
        if (t == last)
            break;
    }
    if (!sched.head)
        uv_idle_stop(idle);
}

static void sched_push(task *t)
{
    if (t->queued)
        return;
    t->queued = 1;
    t->status = TASK_READY;
    if (sched.tail)
        sched.tail->next_ready = t;
    else
        sched.head = t;
    sched.tail = t;
    if (!sched.idle) {
        sched.idle = malloc(sizeof *sched.idle);
        if (!sched.idle)
            abort();
        uv_idle_init(loop_get(), sched.idle);
    }
    uv_idle_start(sched.idle, sched_drain);
}

static void sched_unlink(task *t)
{
    task **pp = &sched.head, *prev = NULL;
    while (*pp && *pp != t) {
        prev = *pp;
        pp = &(*pp)->next_ready;
    }
    if (!*pp)
        return;
    *pp = t->next_ready;
    if (sched.tail == t)
        sched.tail = prev;
    t->next_ready = NULL;
    t->queued = 0;
}

/* ---- ending a task ---- */

/* Reports the error of the failed task t (a light userdata at 1):
 * "message\ntraceback", the message through __tostring. Runs protected —
 * a broken __tostring or a memory error must not take the scheduler down. */
static task_report_fn task_reporter;

void task_set_reporter(task_report_fn fn)
{
    task_reporter = fn;
}

static int task_report_p(lua_State *L)
{
    task *t = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    lua_getiuservalue(L, -1, 2);
    luaL_traceback(L, t->co, luaL_tolstring(L, -1, NULL), 0);
    const char *who = strcmp(t->name, "main") == 0 ? NULL : t->name;
    if (!task_reporter || !task_reporter(L, t->name, lua_tostring(L, -1)))
        log_error_text(who, lua_tostring(L, -1));
    return 0;
}

static void task_report(task *t)
{
    lua_State *L = t->L;
    lua_pushcfunction(L, task_report_p);
    lua_pushlightuserdata(L, t);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_error_text(t->name, "failed, and its error could not be shown");
        lua_pop(L, 1);
    }
}

/* ---- what a task opened ---- */

/* The handle at 1; its third user value is a weak-keyed set of what the
 * task opened. Each is closed through its __close, alone, protected: one
 * that fails must not keep the others open. */
static int task_close_opened_p(lua_State *L)
{
    if (lua_getiuservalue(L, 1, 3) != LUA_TTABLE)
        return 0;
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 3);
    lua_newtable(L); /* a list: the set can't change while it is walked */
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, ++n);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 3, i);
        if (luaL_getmetafield(L, -1, "__close") == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    return 0;
}

void task_close_opened(lua_State *L, task *t)
{
    if (!t || t->ref == LUA_NOREF)
        return;
    lua_pushcfunction(L, task_close_opened_p);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

void task_track_opened(task *t)
{
    if (t)
        t->closes_opened = 1;
}

/* Adds the value at idx to the set of the current task (created here the
 * first time; weak keys: a value the script dropped is not kept). */
static int task_opened_p(lua_State *L)
{
    if (lua_getiuservalue(L, 1, 3) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 3);
    }
    lua_pushvalue(L, 2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    return 0;
}

void task_opened(lua_State *L, int idx)
{
    task *t = sched.current;
    if (!t || !t->closes_opened || t->ref == LUA_NOREF || t->L != task_main_thread(L))
        return;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, task_opened_p);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    lua_pushvalue(L, idx);
    lua_call(L, 2, 0);
}

static void task_finish(task *t, task_status st)
{
    lua_State *L = t->L;
    t->status = st;
    t->wait = NULL;
    sched.alive--;
    if (t->alive_prev)
        t->alive_prev->alive_next = t->alive_next;
    else
        sched.alive_head = t->alive_next;
    if (t->alive_next)
        t->alive_next->alive_prev = t->alive_prev;
    for (join_wait *j = t->joiners; j; j = j->next)
        task_wake(&j->wait);
    int joined = t->joiners != NULL;
    t->joiners = NULL;

    int handled = t->on_exit ? t->on_exit(t, st, t->on_exit_ud) : 0;
    if (st == TASK_FAILED && !handled && !joined)
        task_report(t);
    if (st == TASK_CANCELLED && t->closes_opened)
        task_close_opened(L, t);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref); /* keep the handle until the thread is reset */
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
    if (st != TASK_DONE)
        lua_resetthread(t->co); /* closes to-be-closed variables; the thread is dead */
    lua_pop(L, 1);
}

/* Is the error value on top of co the marker of a self-cancel? */
static int task_is_cancel_error(lua_State *co)
{
    return lua_touserdata(co, -1) == (void *)&task_wait_key;
}

static void task_resume(task *t)
{
    int nres = 0;
    int nargs = t->start_nargs;
    t->start_nargs = 0;
    t->wait = NULL;
    t->status = TASK_RUNNING;
    task *prev = sched.current;
    sched.current = t;
    sched.resumes++;
    int st = lua_resume(t->co, NULL, nargs, &nres);
    sched.current = prev;

    if (st == LUA_YIELD) {
        int host = nres >= 1 && lua_touserdata(t->co, -nres) == (void *)&task_wait_key;
        lua_pop(t->co, nres);
        if (host && !t->yield_now) {
            t->status = TASK_WAITING;
        } else {
            t->yield_now = 0;
            sched_push(t); /* a bare coroutine.yield in a task gives way to others */
        }
        return;
    }
    if (st == LUA_OK) {
        t->nresults = nres;
        task_finish(t, TASK_DONE);
        return;
    }
    if (task_is_cancel_error(t->co)) {
        task_finish(t, TASK_CANCELLED);
        return;
    }
    /* Keep the error value with the handle, so join can raise it again. */
    lua_State *L = t->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    lua_xmove(t->co, L, 1);
    lua_setiuservalue(L, -2, 2);
    lua_pop(L, 1);
    task_finish(t, TASK_FAILED);
}

/* ---- public C API ---- */

lua_State *task_main_thread(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main;
}

task *task_current(void)
{
    return sched.current;
}

task_status task_get_status(const task *t)
{
    return t->status;
}

task *task_test_handle(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, TASK_MT);
}

const char *task_get_name(const task *t)
{
    return t->name;
}

int task_alive_count(void)
{
    return sched.alive;
}

int task_alive_count_of(lua_State *L)
{
    int n = 0;
    for (task *t = sched.alive_head; t; t = t->alive_next)
        n += t->L == L;
    return n;
}

unsigned long task_resume_serial(void)
{
    return sched.resumes;
}

void task_on_exit(task *t, task_exit_fn fn, void *ud)
{
    t->on_exit = fn;
    t->on_exit_ud = ud;
}

static void task_check_callable(lua_State *L, int idx)
{
    if (lua_isfunction(L, idx))
        return;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    luaL_typeerror(L, idx, "function");
}

static void task_default_name(lua_State *L, task *t, int fidx)
{
    lua_Debug ar;
    lua_pushvalue(L, fidx);
    if (lua_getinfo(L, ">S", &ar) && ar.what[0] != 'C')
        snprintf(t->name, sizeof t->name, "task %lu (%s:%d)", t->id, ar.short_src, ar.linedefined);
    else
        snprintf(t->name, sizeof t->name, "task %lu", t->id);
}

task *task_spawn(lua_State *L, int nargs, const char *name, int push_handle)
{
    int fidx = lua_absindex(L, -nargs - 1);
    task_check_callable(L, fidx);
    task *t = lua_newuserdatauv(L, sizeof *t, 3);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TASK_MT);
    /* L may be a coroutine that ends before the task does: keep the main thread */
    t->L = task_main_thread(L);
    t->id = ++sched.next_id;
    t->co = lua_newthread(L);
    lua_setiuservalue(L, -2, 1);
    if (name)
        snprintf(t->name, sizeof t->name, "%s", name);
    else
        task_default_name(L, t, fidx);

    /* function and arguments move to the thread, below the handle */
    lua_insert(L, fidx);              /* handle below the function */
    lua_xmove(L, t->co, nargs + 1);
    t->start_nargs = nargs;
    lua_pushvalue(L, -1);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!push_handle)
        lua_pop(L, 1);
    sched.alive++;
    t->alive_next = sched.alive_head;
    if (sched.alive_head)
        sched.alive_head->alive_prev = t;
    sched.alive_head = t;
    sched_push(t);
    return t;
}

void task_check_wait(lua_State *L, const char *what)
{
    if (!sched.current)
        luaL_error(L, "%s: can only wait inside a moonpod task", what);
    if (!lua_isyieldable(L))
        luaL_error(L, "%s: cannot wait here (inside a metamethod, finalizer, require "
                      "or C function that does not allow yields)", what);
}

int task_yield(lua_State *L, task_wait *w, lua_KFunction k, lua_KContext ctx)
{
    task *t = sched.current;
    w->owner = t;
    t->wait = w;
    lua_pushlightuserdata(L, &task_wait_key);
    return lua_yieldk(L, 1, ctx, k);
}

void task_wake(task_wait *w)
{
    task *t = w->owner;
    if (!t || t->status != TASK_WAITING || t->wait != w)
        return;
    sched_push(t);
}

int task_park(lua_State *L)
{
    if (!sched.current || !lua_isyieldable(L))
        return 0;
    lua_pushlightuserdata(L, &task_wait_key);
    return lua_yield(L, 1);
}

/* Ends t without resuming it. Not for the running task. */
static void task_cancel(task *t)
{
    if (t->status >= TASK_DONE)
        return;
    task_wait *w = t->wait;
    t->wait = NULL;
    if (w)
        w->cancel(w);
    if (t->queued)
        sched_unlink(t);
    task_finish(t, TASK_CANCELLED);
}

void task_cancel_all(lua_State *L)
{
    task *t = sched.alive_head;
    while (t) {
        task *next = t->alive_next;
        if (t->L == L && t != sched.current)
            task_cancel(t);
        t = next;
    }
}

void task_shutdown(void)
{
    if (sched.idle) {
        loop_close_free((uv_handle_t *)sched.idle);
        sched.idle = NULL;
    }
    sched.head = sched.tail = NULL;
}

/* ---- Lua: task handles ---- */

static task *task_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, TASK_MT);
}

static void join_cancel(task_wait *w)
{
    join_wait *j = (join_wait *)w;
    join_wait **pp = &j->target->joiners;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
    free(j);
}

/* Pushes the outcome of an ended task onto L: its results, or raises. */
static int task_push_outcome(lua_State *L, task *t)
{
    if (t->status == TASK_DONE) {
        luaL_checkstack(L, t->nresults, "too many results to join");
        for (int i = 1; i <= t->nresults; i++)
            lua_pushvalue(t->co, i);
        lua_xmove(t->co, L, t->nresults);
        return t->nresults;
    }
    if (t->status == TASK_CANCELLED)
        return luaL_error(L, "%s was cancelled", t->name);
    lua_getiuservalue(L, 1, 2);
    return lua_error(L);
}

static int task_join_k(lua_State *L, int status, lua_KContext ctx)
{
    join_wait *j = (join_wait *)ctx;
    task *t = j->target;
    free(j);
    return task_push_outcome(L, t);
}

/* task:join() -> the task's results; raises the task's error if it failed. */
static int task_l_join(lua_State *L)
{
    task *t = task_check(L, 1);
    lua_settop(L, 1);
    if (t->status >= TASK_DONE)
        return task_push_outcome(L, t);
    if (t == sched.current)
        return luaL_error(L, "a task cannot join itself");
    task_check_wait(L, "task:join");
    join_wait *j = calloc(1, sizeof *j);
    if (!j)
        return luaL_error(L, "out of memory");
    j->wait.cancel = join_cancel;
    j->target = t;
    j->next = t->joiners;
    t->joiners = j;
    return task_yield(L, &j->wait, task_join_k, (lua_KContext)j);
}

/* task:cancel() -> true if the task was still alive. Its pending operation
 * is abandoned and its to-be-closed variables are closed. A task cancelling
 * itself ends at once. */
static int task_l_cancel(lua_State *L)
{
    task *t = task_check(L, 1);
    if (t->status >= TASK_DONE) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (t == sched.current) {
        lua_pushlightuserdata(L, &task_wait_key);
        return lua_error(L);
    }
    task_cancel(t);
    lua_pushboolean(L, 1);
    return 1;
}

static const char *const task_status_names[] = {
    "ready", "running", "waiting", "done", "failed", "cancelled",
};

/* task:status() -> "ready" | "running" | "waiting" | "done" | "failed" | "cancelled" */
static int task_l_status(lua_State *L)
{
    task *t = task_check(L, 1);
    lua_pushstring(L, task_status_names[t->status]);
    return 1;
}

static int task_l_tostring(lua_State *L)
{
    task *t = task_check(L, 1);
    lua_pushfstring(L, "%s [%s]", t->name, task_status_names[t->status]);
    return 1;
}

/* moonpod.spawn(fn, ...) -> task: runs fn(...) as a new task, starting on
 * the next turn of the loop. fn may be anything callable (a stream, say). */
static int task_l_spawn(lua_State *L)
{
    task_check_callable(L, 1);
    task_spawn(L, lua_gettop(L) - 1, NULL, 1);
    return 1;
}

/* moonpod.yield(): gives way to other ready tasks and resumes on the next turn. */
static int task_l_yield(lua_State *L)
{
    task_check_wait(L, "moonpod.yield");
    sched.current->yield_now = 1;
    lua_pushlightuserdata(L, &task_wait_key);
    return lua_yield(L, 1);
}

/* moonpod.current_task() -> task | nil */
static int task_l_current(lua_State *L)
{
    task *t = sched.current;
    if (!t || t->ref == LUA_NOREF) {
        lua_pushnil(L);
        return 1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    return 1;
}

static void task_open_coroutine_wrappers(lua_State *L)
{
    size_t len;
    const char *src = embed_find("moonpod.coroutine", &len);
    if (!src || luaL_loadbuffer(L, src, len, "=moonpod/coroutine.lua") != LUA_OK)
        luaL_error(L, "moonpod: cannot load the coroutine wrappers");
    lua_getglobal(L, "coroutine");
    lua_pushlightuserdata(L, &task_wait_key);
    lua_call(L, 2, 0);
}

void task_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"join", task_l_join},
        {"cancel", task_l_cancel},
        {"status", task_l_status},
        {NULL, NULL},
    };
    luaL_newmetatable(L, TASK_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, task_l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    task_open_coroutine_wrappers(L);
}

/* Adds spawn, yield and current_task to the module table on top of L. */
void task_register(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"spawn", task_l_spawn},
        {"yield", task_l_yield},
        {"current_task", task_l_current},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
