/* serve_lua — the host state's view of the service (see serve_lua.h).
 *
 * Plain reads of C state, no waits: a /metrics request calls them from a
 * task of the host, never from a policy's state. */
#include "serve_lua.h"

#include <lauxlib.h>
#include <uv.h>

#include "loop.h"
#include "serve.h"
#include "stats_monitor.h"

static void sl_int(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void sl_push_policy(policy *p, void *ud)
{
    lua_State *L = ud;
    const policy_counters *c = policy_get_counters(p);
    lua_createtable(L, 0, 11);
    lua_pushstring(L, policy_name(p));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, policy_path(p));
    lua_setfield(L, -2, "path");
    lua_pushstring(L, policy_status_name(policy_get_status(p)));
    lua_setfield(L, -2, "status");
    sl_int(L, "starts", c->starts);
    sl_int(L, "errors", c->errors);
    sl_int(L, "timeouts", c->timeouts);
    sl_int(L, "memory_faults", c->memory_faults);
    sl_int(L, "reloads", c->reloads);
    sl_int(L, "reload_failures", c->reload_failures);
    sl_int(L, "events_dropped", c->events_dropped);
    sl_int(L, "memory_bytes", policy_memory(p));
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

/* policies() -> { { name, path, status, starts, errors, timeouts, memory_faults,
 *   reloads, reload_failures, events_dropped, memory_bytes }, ... } */
static int sl_policies(lua_State *L)
{
    lua_newtable(L);
    policy_foreach(sl_push_policy, L);
    return 1;
}

/* health() -> ok, reason ("ok", "starting", "reloading", "draining") */
static int sl_health(lua_State *L)
{
    lua_pushboolean(L, serve_healthy());
    lua_pushstring(L, serve_health_reason());
    return 2;
}

/* resident_memory() -> bytes, or nil when the system does not say */
static int sl_resident_memory(lua_State *L)
{
    size_t rss;
    if (uv_resident_set_memory(&rss) != 0)
        return 0;
    lua_pushinteger(L, (lua_Integer)rss);
    return 1;
}

/* container_metrics() -> the text of the container_* families of every
 * stats monitor the policies hold ("" when they hold none) */
static int sl_container_metrics(lua_State *L)
{
    buf b;
    buf_init(&b);
    if (stats_monitor_prometheus_all(&b) != 0) {
        buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.p ? b.p : "", b.len);
    buf_free(&b);
    return 1;
}

void serve_lua_push(lua_State *L, const policy_limits *lim)
{
    static const luaL_Reg fns[] = {
        {"policies", sl_policies},
        {"health", sl_health},
        {"resident_memory", sl_resident_memory},
        {"container_metrics", sl_container_metrics},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    sl_int(L, "memory_limit_bytes", lim->memory_bytes);
    lua_pushnumber(L, lim->slice_seconds);
    lua_setfield(L, -2, "time_limit_seconds");
    lua_pushnumber(L, loop_wall_now());
    lua_setfield(L, -2, "start_time");
}
