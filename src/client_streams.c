/* client_streams — what an engine streams: logs and events (stats are in
 * client_stats.c).
 *
 * Each method builds the request for the engine at hand and opens a stream
 * (stream.h) with the framing, queue policy and model that suit it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_impl.h"
#include "error.h"
#include "event_scan.h"
#include "loop.h"
#include "models.h"
#include "stream.h"

/* ---- logs ---- */

/* "since"/"until" options: epoch seconds (fractions kept) or the engine's
 * own syntax as a string ("10m", an RFC 3339 time). Read before any
 * luaL_Buffer is started: a buffer owns the top of the stack. */
typedef struct client_times {
    char since[64], until[64];
    double since_num, until_num;   /* -1 unless given as numbers */
} client_times;

static void client_time_opt(lua_State *L, int opts, const char *key, engine_runtime rt, char *out, size_t len,
                            double *num)
{
    out[0] = '\0';
    *num = -1;
    if (!client_opts(L, opts))
        return;
    int t = lua_getfield(L, opts, key);
    if (t == LUA_TNUMBER) {
        lua_Number n = *num = lua_tonumber(L, -1);
        if (rt == RUNTIME_DOCKER) {
            snprintf(out, len, "%.9f", n); /* seconds.nanoseconds */
        } else {
            /* RFC 3339 for Podman: 4.3 misreads plain epoch seconds */
            time_t secs = (time_t)floor(n);
            struct tm tm;
            char day[32];
            gmtime_r(&secs, &tm);
            strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(out, len, "%s.%09ldZ", day, (long)((n - floor(n)) * 1e9));
        }
    } else if (t == LUA_TSTRING && lua_rawlen(L, -1) < len) {
        snprintf(out, len, "%s", lua_tostring(L, -1));
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option '%s' must be epoch seconds or a short string", key);
    }
    lua_pop(L, 1);
}

static void client_get_times(lua_State *L, int opts, engine_runtime rt, client_times *t)
{
    client_time_opt(L, opts, "since", rt, t->since, sizeof t->since, &t->since_num);
    client_time_opt(L, opts, "until", rt, t->until, sizeof t->until, &t->until_num);
}

static void client_add_times(luaL_Buffer *b, const client_times *t)
{
    if (t->since[0]) {
        luaL_addstring(b, "&since=");
        client_add_urlenc(b, t->since);
    }
    if (t->until[0]) {
        luaL_addstring(b, "&until=");
        client_add_urlenc(b, t->until);
    }
}

/* client:get_container_logs(id, { tail =, since =, until =, timestamps = false,
 *   stdout = true, stderr = true, follow = false, stream = false })
 *   -> { LogLine } ; with follow or stream: an iterator of LogLine
 * LogLine { stream = "stdout"|"stderr", text, timestamp }. Every line has
 * the engine's timestamp; `timestamps = true` also keeps it in text. */
static int client_l_get_container_logs(lua_State *L)
{
    client *c = client_check(L);
    const char *id = client_check_id(L, 2);
    int follow = client_opt_bool(L, 3, "follow", 0);
    int as_stream = follow || client_opt_bool(L, 3, "stream", 0);
    int out = client_opt_bool(L, 3, "stdout", 1), err = client_opt_bool(L, 3, "stderr", 1);
    luaL_argcheck(L, out || err, 3, "stdout and stderr can't both be false");
    lua_Number tail = client_opt_num(L, 3, "tail", -1);
    int keep_timestamps = client_opt_bool(L, 3, "timestamps", 0);
    client_times times;
    client_get_times(L, 3, c->eng.runtime, &times);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/logs?timestamps=true");
    luaL_addstring(&b, out ? "&stdout=true" : "&stdout=false");
    luaL_addstring(&b, err ? "&stderr=true" : "&stderr=false");
    if (follow)
        luaL_addstring(&b, "&follow=true");
    if (tail >= 0) {
        char num[40];
        snprintf(num, sizeof num, "&tail=%.0f", floor(tail));
        luaL_addstring(&b, num);
    }
    client_add_times(&b, &times);
    luaL_pushresult(&b);
    engine_request rq = {.method = "GET", .path = client_container_path(L, id, lua_tostring(L, -1))};
    /* a list is one answer like any other: it has the request timeout
     * (when there is one); only an iterator may wait for ever */
    if (!as_stream && c->eng.request_timeout_ms > 0)
        rq.timeout_ms = c->eng.request_timeout_ms;
    stream_spec spec = {
        .framing = STREAM_LOG_MUX,
        .policy = STREAM_PAUSE,
        .max_items = 4096,
        .max_bytes = (size_t)1 << 20,
        .keep_timestamps = keep_timestamps,
        .runtime = c->eng.runtime,
    };
    stream_open(L, 1, &c->eng, &rq, &spec);
    if (as_stream)
        return stream_push_for(L, -1);
    return stream_collect(L, lua_gettop(L));
}

/* ---- events ---- */

static int client_push_event(lua_State *L, stream *s, const char *text, size_t len)
{
    const stream_spec *spec = stream_get_spec(s);
    return model_push_event_text(L, text, len, spec->runtime_name ? spec->runtime_name : engine_runtime_name(spec->runtime));
}


/* Keeps events no later than the `until` kept in the stream's scratch. */
static int client_keep_until(stream *s, const char *text, size_t len)
{
    const double *until = stream_scratch(s, sizeof *until);
    ev_scan e;
    if (ev_scan_event(text, len, &e) != 0)
        return 1; /* not an event: the model will say so */
    return !until || (double)e.time_nano / 1e9 <= *until;
}

/* The engines' own words for the API's event names: Podman's libpod API
 * says "died" and "exec_died", Docker says "destroy" for a removed container. */
static const char *client_podman_event_name(const char *key, const char *value)
{
    if (strcmp(key, "event") != 0)
        return value;
    if (strcmp(value, "die") == 0)
        return "died";
    return strcmp(value, "exec_die") == 0 ? "exec_died" : value;
}

static const char *client_docker_event_name(const char *key, const char *value)
{
    return strcmp(key, "event") == 0 && strcmp(value, "remove") == 0 ? "destroy" : value;
}

/* client:get_events{ filters = { type =, event =, container =, label = }, since =, until =,
 *                    buffer_size = 10000 } -> iterator of ContainerEvent
 * Without `until` the stream follows new events for as long as it is open.
 * A reader that falls more than buffer_size events behind loses the oldest
 * ones; stream:stats().dropped counts them. */
static int client_l_get_events(lua_State *L)
{
    client *c = client_check(L);
    lua_Number buffer = client_opt_num(L, 2, "buffer_size", 10000);
    luaL_argcheck(L, buffer >= 1 && buffer <= 1e7, 2, "buffer_size must be between 1 and 10000000");
    const char *filters =
        client_filters_json(L, 2, c->eng.runtime == RUNTIME_PODMAN ? client_podman_event_name : client_docker_event_name);
    client_times times;
    client_get_times(L, 2, c->eng.runtime, &times);
    /* Podman 4.3 takes `until` as a deadline for reading its events file,
     * so an `until` already past returns almost nothing. Read what is
     * there (stream=false) and drop what came after `until` here. */
    int podman_past = c->eng.runtime == RUNTIME_PODMAN && times.until_num >= 0 && times.until_num <= loop_wall_now();
    if (podman_past)
        times.until[0] = '\0';
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (c->eng.runtime == RUNTIME_PODMAN)
        luaL_addstring(&b, podman_past ? "/events?stream=false" : "/events?stream=true");
    else
        luaL_addstring(&b, "/events?");
    client_add_times(&b, &times);
    if (filters) {
        luaL_addstring(&b, "&filters=");
        client_add_urlenc(&b, filters);
    }
    luaL_pushresult(&b);
    engine_request rq = {.method = "GET", .path = lua_tostring(L, -1)};
    stream_spec spec = {
        .framing = STREAM_JSON,
        .policy = STREAM_DROP_OLDEST,
        .max_items = (size_t)buffer,
        .keep_text = podman_past ? client_keep_until : NULL,
        .push_text = client_push_event,
        .runtime = c->eng.runtime,
    };
    stream *s = stream_open(L, 1, &c->eng, &rq, &spec);
    if (podman_past) {
        double *until = stream_scratch(s, sizeof *until);
        if (until)
            *until = times.until_num;
    }
    return stream_push_for(L, -1);
}

const luaL_Reg client_stream_methods[] = {
    {"get_container_logs", client_l_get_container_logs},
    {"get_events", client_l_get_events},
    {NULL, NULL},
};
