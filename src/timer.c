/* timer — time for scripts: moonpod.sleep, every, now, monotonic.
 *
 * uv handles are heap-allocated and freed in their close callback: libuv
 * finishes closing after Lua may already have collected the userdata that
 * pointed at them. */
#include "timer.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>

#include "log.h"
#include "loop.h"
#include "task.h"

#define TIMER_MT "moonpod.timer"

/* ---- sleep ---- */

typedef struct sleep_op {
    task_wait wait;
    uv_timer_t *timer;     /* NULL once fired or cancelled */
} sleep_op;

static void sleep_release_timer(sleep_op *op)
{
    if (op->timer) {
        loop_close_free((uv_handle_t *)op->timer);
        op->timer = NULL;
    }
}

static void sleep_on_timer(uv_timer_t *t)
{
    sleep_op *op = t->data;
    sleep_release_timer(op);
    task_wake(&op->wait);
}

static void sleep_cancel(task_wait *w)
{
    sleep_release_timer((sleep_op *)w);
    free(w);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    free((sleep_op *)ctx);
    return 0;
}

static uint64_t timer_ms(lua_State *L, int idx)
{
    lua_Number s = luaL_checknumber(L, idx);
    luaL_argcheck(L, s >= 0 && s < 1e9, idx, "seconds must be >= 0 and finite");
    return (uint64_t)ceil(s * 1000);
}

/* moonpod.sleep(seconds): yields the task for that long; other tasks run. */
static int timer_l_sleep(lua_State *L)
{
    uint64_t ms = timer_ms(L, 1);
    task_check_wait(L, "moonpod.sleep");
    sleep_op *op = calloc(1, sizeof *op);
    uv_timer_t *t = malloc(sizeof *t);
    if (!op || !t) {
        free(op);
        free(t);
        return luaL_error(L, "out of memory");
    }
    op->wait.cancel = sleep_cancel;
    op->timer = t;
    uv_timer_init(loop_get(), t);
    t->data = op;
    /* The loop's clock was read when this turn began; Lua may have run a
     * while since. Without this a sleep could end early. */
    uv_update_time(loop_get());
    uv_timer_start(t, sleep_on_timer, ms, 0);
    return task_yield(L, &op->wait, sleep_k, (lua_KContext)op);
}

/* ---- every ---- */

typedef struct every_timer {
    lua_State *L;
    uv_timer_t *timer;     /* NULL once stopped */
    int self_ref;          /* anchors the handle while running */
    int fn_ref;
    int task_ref;          /* the tick still running, or LUA_NOREF */
    double interval;
    unsigned long ticks, skipped;
} every_timer;

static void every_stop(every_timer *e)
{
    if (!e->timer)
        return;
    loop_close_free((uv_handle_t *)e->timer);
    e->timer = NULL;
    luaL_unref(e->L, LUA_REGISTRYINDEX, e->fn_ref);
    luaL_unref(e->L, LUA_REGISTRYINDEX, e->self_ref);
    luaL_unref(e->L, LUA_REGISTRYINDEX, e->task_ref);
    e->fn_ref = e->self_ref = e->task_ref = LUA_NOREF;
}

/* A tick whose previous run is still going is skipped (and counted): a
 * slow handler must not pile up tasks. */
static int every_busy(every_timer *e)
{
    if (e->task_ref == LUA_NOREF)
        return 0;
    lua_rawgeti(e->L, LUA_REGISTRYINDEX, e->task_ref);
    task *t = task_test_handle(e->L, -1);
    lua_pop(e->L, 1);
    return t && task_get_status(t) < TASK_DONE;
}

/* Spawns one tick (the timer is a light userdata at 1). Runs protected: a
 * memory error here must be reported, not abort the process. */
static int every_tick_p(lua_State *L)
{
    every_timer *e = lua_touserdata(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, e->task_ref);
    e->task_ref = LUA_NOREF;
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->fn_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->self_ref);
    task_spawn(L, 1, NULL, 1);
    e->task_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static void every_on_timer(uv_timer_t *t)
{
    every_timer *e = t->data;
    lua_State *L = e->L;
    if (every_busy(e)) {
        e->skipped++;
        return;
    }
    e->ticks++;
    lua_pushcfunction(L, every_tick_p);
    lua_pushlightuserdata(L, e);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_msg(LOG_ERROR, "moonpod.every: cannot start a tick: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static every_timer *every_check(lua_State *L)
{
    return luaL_checkudata(L, 1, TIMER_MT);
}

/* timer:stop(): no more ticks; a tick already running goes on. */
static int every_l_stop(lua_State *L)
{
    every_stop(every_check(L));
    return 0;
}

/* timer:active() -> boolean */
static int every_l_active(lua_State *L)
{
    lua_pushboolean(L, every_check(L)->timer != NULL);
    return 1;
}

/* timer:stats() -> { ticks, skipped, interval } */
static int every_l_stats(lua_State *L)
{
    every_timer *e = every_check(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)e->ticks);
    lua_setfield(L, -2, "ticks");
    lua_pushinteger(L, (lua_Integer)e->skipped);
    lua_setfield(L, -2, "skipped");
    lua_pushnumber(L, e->interval);
    lua_setfield(L, -2, "interval");
    return 1;
}

static int every_l_gc(lua_State *L)
{
    every_timer *e = every_check(L);
    if (e->timer) {
        /* only reached at state close: a running timer is anchored */
        loop_close_free((uv_handle_t *)e->timer);
        e->timer = NULL;
    }
    return 0;
}

/* moonpod.every(seconds, fn) -> timer: runs fn(timer) as a new task every
 * `seconds`, the first time after one interval. The timer keeps the script
 * alive until timer:stop(). */
static int timer_l_every(lua_State *L)
{
    uint64_t ms = timer_ms(L, 1);
    luaL_argcheck(L, ms > 0, 1, "interval must be > 0");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    every_timer *e = lua_newuserdatauv(L, sizeof *e, 0);
    e->L = task_main_thread(L);
    e->fn_ref = e->self_ref = e->task_ref = LUA_NOREF;
    e->interval = (double)ms / 1000;
    e->ticks = e->skipped = 0;
    e->timer = malloc(sizeof *e->timer);
    if (!e->timer)
        return luaL_error(L, "out of memory");
    luaL_setmetatable(L, TIMER_MT);
    uv_timer_init(loop_get(), e->timer);
    e->timer->data = e;
    lua_pushvalue(L, 2);
    e->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    e->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    uv_update_time(loop_get());
    uv_timer_start(e->timer, every_on_timer, ms, ms);
    return 1;
}

/* moonpod.now() -> wall-clock seconds since the epoch, sub-millisecond */
static int timer_l_now(lua_State *L)
{
    lua_pushnumber(L, loop_wall_now());
    return 1;
}

/* moonpod.monotonic() -> seconds from an arbitrary start, never stepped
 * back by clock changes: the clock for measuring durations. */
static int timer_l_monotonic(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
    return 1;
}

void timer_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"stop", every_l_stop},
        {"active", every_l_active},
        {"stats", every_l_stats},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"sleep", timer_l_sleep},
        {"every", timer_l_every},
        {"now", timer_l_now},
        {"monotonic", timer_l_monotonic},
        {NULL, NULL},
    };
    luaL_newmetatable(L, TIMER_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, every_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_setfuncs(L, fns, 0);
}
