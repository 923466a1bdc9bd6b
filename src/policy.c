/* policy — one policy of `moonpod serve` in a Lua state of its own (see
 * policy.h).
 *
 * A state's allocator and hook find their bookkeeping (a pol_state)
 * through the allocator's user data, so nothing is kept in the state that
 * the policy could reach. A fault is only marked where it is detected (in
 * the allocator or the hook, inside Lua); the state is closed from a loop
 * callback, when no Lua of it runs. */
#include "policy.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "event_source.h"
#include "log.h"
#include "loop.h"
#include "lua_alloc.h"
#include "moonpod.h"
#include "task.h"

/* Instructions between two looks at the clock: cheap enough to leave on,
 * fine enough that a runaway loop is seen within microseconds of its
 * budget. */
#define POL_HOOK_COUNT 1000

enum { FAULT_NONE, FAULT_TIME, FAULT_MEMORY };

typedef struct pol_state {
    policy *p;
    lua_State *L;
    size_t used, limit;
    uint64_t budget_ns;
    unsigned long slice;      /* task_resume_serial() of the slice being timed */
    uint64_t slice_start;
    int fault;
    int closing;
    int ready_told;
} pol_state;

struct policy {
    char *path;
    char name[64];
    policy_limits lim;
    policy_ready_fn on_ready;
    void *ready_ud;
    pol_state *cur;           /* the running version, or NULL */
    policy_status status;
    struct stat loaded;       /* the file the running version came from */
    uv_timer_t *fault_timer;
    policy_counters counters;
    policy *next;
};

static policy *pol_all;

/* ---- the cap on memory ---- */

static void pol_fault(pol_state *ps, int kind);

static void *pol_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    pol_state *ps = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        lalloc_free(ptr, old);
        ps->used -= old;
        return NULL;
    }
    if (nsize > old && !ps->closing && ps->used - old + nsize > ps->limit) {
        pol_fault(ps, FAULT_MEMORY);
        return NULL;
    }
    void *np = lalloc_resize(ptr, old, nsize);
    if (np)
        ps->used = ps->used - old + nsize;
    return np;
}

static pol_state *pol_of(lua_State *L)
{
    void *ud;
    return lua_getallocf(L, &ud) == pol_alloc ? ud : NULL;
}

/* ---- the time budget ---- */

static void pol_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    pol_state *ps = pol_of(L);
    if (!ps)
        return;
    if (ps->fault) {
        /* stopped: every instruction raises, so that pcall can't keep it going */
        lua_sethook(L, pol_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "policy '%s' is stopped", ps->p->name);
        return;
    }
    unsigned long serial = task_resume_serial();
    uint64_t now = uv_hrtime();
    if (serial != ps->slice) {
        ps->slice = serial;
        ps->slice_start = now;
        return;
    }
    if (now - ps->slice_start <= ps->budget_ns)
        return;
    pol_fault(ps, FAULT_TIME);
    lua_sethook(L, pol_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "ran %.3f s without waiting, over the policy's budget of %.3f s",
               (double)(now - ps->slice_start) / 1e9, ps->p->lim.slice_seconds);
}

/* ---- lifetime of a state ---- */

static void pol_tell_ready(pol_state *ps);

static void pol_close(pol_state *ps)
{
    /* a version replaced before it was set up still counts as settled */
    pol_tell_ready(ps);
    ps->closing = 1;
    task_cancel_all(ps->L);
    lua_close(ps->L);
    free(ps);
}

static void pol_tell_ready(pol_state *ps)
{
    if (ps->ready_told || ps->closing)
        return;
    ps->ready_told = 1;
    if (ps->p->on_ready)
        ps->p->on_ready(ps->p, ps->p->ready_ud);
}

static void pol_on_fault(uv_timer_t *t)
{
    policy *p = t->data;
    pol_state *ps = p->cur;
    if (!ps || !ps->fault)
        return;
    if (ps->fault == FAULT_MEMORY)
        log_msg(LOG_ERROR, "policy '%s' stopped: it reached its memory limit of %zu bytes; it runs again when its "
                "file changes and the service reloads", p->name, p->lim.memory_bytes);
    else
        log_msg(LOG_ERROR, "policy '%s' stopped: a handler ran over its time budget of %.3f s without waiting; "
                "it runs again when its file changes and the service reloads", p->name, p->lim.slice_seconds);
    p->cur = NULL;
    p->status = POLICY_FAILED;
    pol_tell_ready(ps);
    pol_close(ps);
}

static void pol_fault(pol_state *ps, int kind)
{
    if (ps->fault || ps->closing)
        return;
    ps->fault = kind;
    if (kind == FAULT_MEMORY)
        ps->p->counters.memory_faults++;
    else
        ps->p->counters.timeouts++;
    if (ps->p->cur == ps)
        uv_timer_start(ps->p->fault_timer, pol_on_fault, 0, 0);
}

/* A failed task of a policy: named after the policy, counted. */
static int pol_report(lua_State *L, const char *name, const char *text)
{
    pol_state *ps = pol_of(L);
    if (!ps)
        return 0;
    if (ps->closing)
        return 1;
    if (!ps->fault)
        ps->p->counters.errors++;
    char who[200];
    snprintf(who, sizeof who, "policy '%s' (%s)", ps->p->name, name);
    log_error_text(who, text);
    return 1;
}

/* A listener of the policy fell behind the shared stream: counted, and
 * logged at the 1st, 10th, 100th ... drop so that a stuck policy does not
 * flood the log. */
static void pol_on_drop(lua_State *L)
{
    pol_state *ps = pol_of(L);
    if (!ps || ps->closing)
        return;
    uint64_t n = ++ps->p->counters.events_dropped;
    uint64_t mark = 1;
    while (mark * 10 <= n)
        mark *= 10;
    if (n == mark)
        log_msg(LOG_WARN, "policy '%s' falls behind: %llu event%s dropped so far (its listener's buffer is full)",
                ps->p->name, (unsigned long long)n, n == 1 ? "" : "s");
}

static int pol_main_exit(task *t, task_status st, void *ud)
{
    (void)t;
    pol_state *ps = ud;
    if (st != TASK_DONE)
        pol_tell_ready(ps);
    return 0;
}

/* ---- what a policy state sees: moonpod.policy_core ---- */

static pol_state *pol_check(lua_State *L)
{
    pol_state *ps = pol_of(L);
    if (!ps)
        luaL_error(L, "not inside a policy of moonpod serve");
    return ps;
}

/* ready(): the policy has set itself up */
static int pol_l_ready(lua_State *L)
{
    pol_tell_ready(pol_check(L));
    return 0;
}

/* error(text): a handler's error, caught by the runtime: logged, counted */
static int pol_l_error(lua_State *L)
{
    pol_state *ps = pol_check(L);
    const char *text = luaL_checkstring(L, 1);
    if (!ps->fault)
        ps->p->counters.errors++;
    char who[100];
    snprintf(who, sizeof who, "policy '%s'", ps->p->name);
    log_error_text(who, text);
    return 0;
}

static int pol_open_core(lua_State *L)
{
    pol_state *ps = pol_check(L);
    static const luaL_Reg fns[] = {
        {"ready", pol_l_ready},
        {"error", pol_l_error},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_pushstring(L, ps->p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, ps->p->path);
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, (lua_Integer)ps->p->lim.memory_bytes);
    lua_setfield(L, -2, "memory_limit");
    lua_pushnumber(L, ps->p->lim.slice_seconds);
    lua_setfield(L, -2, "time_limit");
    return 1;
}

static const char pol_runner[] =
    "local chunk, name = ...\n"
    "return require('moonpod.policy').run(chunk, name)\n";

/* Protected: leaves the runner, the file's chunk and the policy's name. */
static int pol_load_p(lua_State *L)
{
    pol_state *ps = lua_touserdata(L, 1);
    lua_pop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, pol_open_core);
    lua_setfield(L, -2, "moonpod.policy_core");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, pol_runner, sizeof pol_runner - 1, "=policy") != LUA_OK)
        return lua_error(L);
    if (luaL_loadfile(L, ps->p->path) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, ps->p->name);
    return 3;
}

/* Protected: spawns the task that runs the file (runner, chunk, name at 2..4). */
static int pol_spawn_p(lua_State *L)
{
    pol_state *ps = lua_touserdata(L, 1);
    /* from here on every thread of the state inherits the hook */
    lua_sethook(L, pol_hook, LUA_MASKCOUNT, POL_HOOK_COUNT);
    char tname[100];
    snprintf(tname, sizeof tname, "%s main", ps->p->name);
    task *t = task_spawn(L, 2, tname, 0);
    task_on_exit(t, pol_main_exit, ps);
    return 0;
}

static int pol_failed_start(policy *p, pol_state *ps, char *err, size_t errlen)
{
    const char *msg = lua_tostring(ps->L, -1);
    snprintf(err, errlen, "%s", msg ? msg : "cannot load");
    ps->ready_told = 1; /* never started: the caller knows */
    pol_close(ps);
    if (p->cur)
        p->counters.reload_failures++;
    else
        p->status = POLICY_FAILED;
    return -1;
}

int policy_start(policy *p, char *err, size_t errlen)
{
    struct stat st;
    if (stat(p->path, &st) != 0) {
        snprintf(err, errlen, "cannot open %s", p->path);
        return -1;
    }
    pol_state *ps = calloc(1, sizeof *ps);
    if (!ps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ps->p = p;
    ps->limit = p->lim.memory_bytes;
    ps->budget_ns = (uint64_t)(p->lim.slice_seconds * 1e9);
    ps->L = moonpod_new_state_with(pol_alloc, ps);
    if (!ps->L) {
        snprintf(err, errlen, "cannot set up a Lua state within the memory limit of %zu bytes", p->lim.memory_bytes);
        free(ps);
        return -1;
    }
    lua_State *L = ps->L;
    lua_pushcfunction(L, pol_load_p);
    lua_pushlightuserdata(L, ps);
    if (lua_pcall(L, 1, 3, 0) != LUA_OK)
        return pol_failed_start(p, ps, err, errlen);
    /* the old version goes before the new one starts: the two never
     * handle the same event */
    if (p->cur) {
        pol_close(p->cur);
        p->cur = NULL;
        p->counters.reloads++;
    }
    uv_timer_stop(p->fault_timer);
    lua_pushcfunction(L, pol_spawn_p);
    lua_insert(L, -4);
    lua_pushlightuserdata(L, ps);
    lua_insert(L, -4);
    if (lua_pcall(L, 4, 0, 0) != LUA_OK)
        return pol_failed_start(p, ps, err, errlen);
    p->cur = ps;
    p->loaded = st;
    p->status = POLICY_RUNNING;
    p->counters.starts++;
    return 0;
}

/* ---- the service's side ---- */

policy *policy_new(const char *path, const policy_limits *lim, policy_ready_fn on_ready, void *ud)
{
    policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->path = strdup(path);
    p->fault_timer = malloc(sizeof *p->fault_timer);
    if (!p->path || !p->fault_timer) {
        free(p->path);
        free(p->fault_timer);
        free(p);
        return NULL;
    }
    uv_timer_init(loop_get(), p->fault_timer);
    p->fault_timer->data = p;
    uv_unref((uv_handle_t *)p->fault_timer);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
        n -= 4;
    snprintf(p->name, sizeof p->name, "%.*s", (int)n, base);
    p->lim = *lim;
    p->on_ready = on_ready;
    p->ready_ud = ud;
    p->next = pol_all;
    pol_all = p;
    task_set_reporter(pol_report);
    event_source_on_drop(pol_on_drop);
    return p;
}

int policy_file_changed(const policy *p)
{
    struct stat st;
    if (stat(p->path, &st) != 0)
        return 1;
    return st.st_ino != p->loaded.st_ino || st.st_size != p->loaded.st_size ||
           st.st_mtim.tv_sec != p->loaded.st_mtim.tv_sec || st.st_mtim.tv_nsec != p->loaded.st_mtim.tv_nsec;
}

static const char pol_drainer[] = "return require('moonpod.policy').drain()";

static int pol_drain_p(lua_State *L)
{
    if (luaL_loadbuffer(L, pol_drainer, sizeof pol_drainer - 1, "=drain") != LUA_OK)
        return lua_error(L);
    task_spawn(L, 0, "drain", 0);
    return 0;
}

void policy_drain(policy *p)
{
    if (!p->cur)
        return;
    lua_State *L = p->cur->L;
    lua_pushcfunction(L, pol_drain_p);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        log_msg(LOG_WARN, "policy '%s': cannot drain: %s", p->name, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

int policy_busy(const policy *p)
{
    return p->cur ? task_alive_count_of(p->cur->L) : 0;
}

void policy_stop(policy *p)
{
    if (!p->cur)
        return;
    pol_close(p->cur);
    p->cur = NULL;
    p->status = POLICY_STOPPED;
}

void policy_free(policy *p)
{
    if (!p)
        return;
    policy_stop(p);
    policy **pp = &pol_all;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    loop_close_free((uv_handle_t *)p->fault_timer);
    free(p->path);
    free(p);
}

const char *policy_name(const policy *p) { return p->name; }
const char *policy_path(const policy *p) { return p->path; }
policy_status policy_get_status(const policy *p) { return p->status; }
const policy_counters *policy_get_counters(const policy *p) { return &p->counters; }
size_t policy_memory(const policy *p) { return p->cur ? p->cur->used : 0; }

const char *policy_status_name(policy_status st)
{
    static const char *const names[] = {"idle", "running", "stopped", "failed"};
    return names[st];
}

void policy_foreach(void (*fn)(policy *p, void *ud), void *ud)
{
    for (policy *p = pol_all; p; p = p->next)
        fn(p, ud);
}
