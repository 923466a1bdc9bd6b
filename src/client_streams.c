/* client_streams — what an engine streams: logs, stats, events.
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

/* ---- stats ---- */

/* libpod streams {"Error": ..., "Stats": [one per container]}. */
static void client_split_podman_stats(stream *s, cJSON *value)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(value, "Stats");
    cJSON *item = cJSON_IsArray(list) ? list->child : NULL;
    while (item) {
        cJSON *next = item->next;
        stream_queue_json(s, cJSON_DetachItemViaPointer(list, item));
        item = next;
    }
    cJSON_Delete(value);
}

/* Samples of a Docker stream carry the previous counters from the second
 * on; the first has none and is skipped by model_push_stats. */
static int client_push_stats(lua_State *L, stream *s, cJSON *value)
{
    return model_push_stats(L, value, stream_get_spec(s)->runtime, NULL, 1);
}

static int client_push_event(lua_State *L, stream *s, cJSON *value)
{
    const stream_spec *spec = stream_get_spec(s);
    return model_push_event(L, value, spec->runtime, spec->runtime_name);
}

static int client_stats_stream(lua_State *L, client *c, const char *id)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (c->eng.runtime == RUNTIME_PODMAN) {
        luaL_addstring(&b, "/containers/stats?stream=true&interval=1&containers=");
        client_add_urlenc(&b, id);
        luaL_pushresult(&b);
    } else {
        luaL_pushresult(&b);
        client_container_path(L, id, "/stats?stream=true");
    }
    engine_request rq = {.method = "GET", .path = lua_tostring(L, -1)};
    stream_spec spec = {
        .framing = STREAM_JSON,
        .policy = STREAM_PAUSE,
        .max_items = 16,
        .split = c->eng.runtime == RUNTIME_PODMAN ? client_split_podman_stats : NULL,
        .push = client_push_stats,
        .runtime = c->eng.runtime,
    };
    stream_open(L, 1, &c->eng, &rq, &spec);
    return stream_push_for(L, -1);
}

/* ---- one-shot stats ----
 *
 * Podman's one-shot sample measures CPU since the container started.
 * Docker's one-shot sample has no previous counters, so moonpod measures
 * the same way: since the previous sample this client took of the
 * container, or since the container started (asked for by an inspect
 * running alongside the stats request). */

#define CPU_CACHE_SIZE 256

typedef struct cpu_cache_entry {
    char id[72];
    model_cpu_sample s;
    unsigned long used;
} cpu_cache_entry;

typedef struct cpu_cache {
    cpu_cache_entry e[CPU_CACHE_SIZE];
    unsigned long clock;
} cpu_cache;

static cpu_cache_entry *client_cpu_cache_slot(client *c, const char *id, int create)
{
    cpu_cache *cc = c->cpu_cache;
    if (!cc && (!create || !(cc = c->cpu_cache = calloc(1, sizeof *cc))))
        return NULL;
    cpu_cache_entry *oldest = &cc->e[0];
    for (int i = 0; i < CPU_CACHE_SIZE; i++) {
        if (strcmp(cc->e[i].id, id) == 0)
            return &cc->e[i];
        if (cc->e[i].used < oldest->used)
            oldest = &cc->e[i];
    }
    if (!create)
        return NULL;
    snprintf(oldest->id, sizeof oldest->id, "%s", id);
    return oldest;
}

typedef struct stats_op {
    task_wait wait;
    client *c;
    engine_op *stats_eop, *inspect_eop;
    engine_reply stats, inspect;
    int pending;
} stats_op;

#define STATS_OP_MT "moonpod.stats_op"

static void stats_op_done(void *ud)
{
    stats_op *op = ud;
    if (--op->pending == 0)
        task_wake(&op->wait);
}

static void stats_op_done_stats(void *ud)
{
    ((stats_op *)ud)->stats_eop = NULL;
    stats_op_done(ud);
}

static void stats_op_done_inspect(void *ud)
{
    ((stats_op *)ud)->inspect_eop = NULL;
    stats_op_done(ud);
}

static void stats_op_release(stats_op *op)
{
    engine_cancel(op->stats_eop);
    engine_cancel(op->inspect_eop);
    op->stats_eop = op->inspect_eop = NULL;
}

static void stats_op_cancel(task_wait *w)
{
    stats_op_release((stats_op *)w);
}

static int stats_op_gc(lua_State *L)
{
    stats_op *op = lua_touserdata(L, 1);
    stats_op_release(op);
    engine_reply_clear(&op->stats);
    engine_reply_clear(&op->inspect);
    return 0;
}

/* The container's start from an inspect answer, as a CPU base of zero. */
static int client_started_base(const engine_reply *inspect, model_cpu_sample *base)
{
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(inspect->json, "State");
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(state, "StartedAt");
    base->total_ns = 0;
    return cJSON_IsString(started) && model_parse_time(started->valuestring, &base->at) == 0 ? 0 : -1;
}

static int client_stats_k(lua_State *L, int status, lua_KContext ctx)
{
    stats_op *op = (stats_op *)ctx;
    client *c = op->c;
    (void)status;
    if (op->stats.kind != ERR_NONE)
        return client_raise(L, &op->stats);
    cJSON *doc = op->stats.json;
    if (c->eng.runtime == RUNTIME_PODMAN) {
        cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "Stats");
        cJSON *first = cJSON_IsArray(list) ? list->child : NULL;
        if (!first)
            return client_bad_shape(L, c, &op->stats, "stats with no sample in them");
        cJSON_DetachItemViaPointer(list, first);
        model_push_stats(L, first, RUNTIME_PODMAN, NULL, 0);
        return 1;
    }
    model_cpu_sample now, base;
    const model_cpu_sample *basep = NULL;
    const char *id = lua_tostring(L, 2);
    if (!cJSON_IsObject(doc) || !model_stats_docker_cpu(doc, &now))
        return client_bad_shape(L, c, &op->stats, "stats that are not a sample");
    cpu_cache_entry *prev = client_cpu_cache_slot(c, id, 0);
    if (prev && prev->s.at < now.at && prev->s.total_ns <= now.total_ns) {
        base = prev->s;
        basep = &base;
    } else if (op->inspect.kind == ERR_NONE && client_started_base(&op->inspect, &base) == 0) {
        basep = &base;
    }
    cpu_cache_entry *slot = client_cpu_cache_slot(c, id, 1);
    if (slot) {
        slot->s = now;
        slot->used = ++((cpu_cache *)c->cpu_cache)->clock;
    }
    op->stats.json = NULL; /* the model owns it */
    model_push_stats(L, doc, RUNTIME_DOCKER, basep, 0);
    return 1;
}

static int client_stats_once(lua_State *L, client *c, const char *id)
{
    task_check_wait(L, "get_container_stats");
    stats_op *op = lua_newuserdatauv(L, sizeof *op, 0);
    memset(op, 0, sizeof *op);
    if (luaL_newmetatable(L, STATS_OP_MT)) {
        lua_pushcfunction(L, stats_op_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    op->c = c;
    op->wait.cancel = stats_op_cancel;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (c->eng.runtime == RUNTIME_PODMAN) {
        luaL_addstring(&b, "/containers/stats?stream=false&containers=");
        client_add_urlenc(&b, id);
        luaL_pushresult(&b);
    } else {
        luaL_pushresult(&b);
        client_container_path(L, id, "/stats?stream=false&one-shot=true");
    }
    engine_request rq = {.method = "GET", .path = lua_tostring(L, -1)};
    op->pending = 1;
    op->stats_eop = engine_call(&c->eng, &rq, &op->stats, stats_op_done_stats, op);
    if (!op->stats_eop)
        return client_raise(L, &op->stats);
    cpu_cache_entry *prev = c->eng.runtime == RUNTIME_DOCKER ? client_cpu_cache_slot(c, id, 0) : NULL;
    if (c->eng.runtime == RUNTIME_DOCKER && !prev) {
        engine_request irq = {.method = "GET", .path = client_container_path(L, id, "/json")};
        op->inspect_eop = engine_call(&c->eng, &irq, &op->inspect, stats_op_done_inspect, op);
        if (op->inspect_eop)
            op->pending++;
    }
    return task_yield(L, &op->wait, client_stats_k, (lua_KContext)op);
}

/* client:get_container_stats(id) -> ContainerStats
 * client:get_container_stats(id, { stream = true }) -> iterator of ContainerStats
 * cpu_percent is CPU time over elapsed time × 100 (100 = one full CPU):
 * one-shot, since the container started or since this client's previous
 * sample of it; streamed, over each interval of about a second. */
static int client_l_get_container_stats(lua_State *L)
{
    client *c = client_check(L);
    const char *id = client_check_id(L, 2);
    int streaming = client_opt_bool(L, 3, "stream", 0);
    lua_settop(L, 2);
    return streaming ? client_stats_stream(L, c, id) : client_stats_once(L, c, id);
}

/* ---- events ---- */

/* Drops events later than the `until` kept in the stream's scratch. */
static void client_split_until(stream *s, cJSON *event)
{
    const double *until = stream_scratch(s, sizeof *until);
    const cJSON *nano = cJSON_GetObjectItemCaseSensitive(event, "timeNano");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(event, "time");
    double t = cJSON_IsNumber(nano) ? nano->valuedouble / 1e9 : cJSON_IsNumber(secs) ? secs->valuedouble : 0;
    if (until && t > *until)
        cJSON_Delete(event);
    else
        stream_queue_json(s, event);
}

/* Podman's libpod API names an exit "died". */
static const char *client_podman_event_name(const char *key, const char *value)
{
    return strcmp(key, "event") == 0 && strcmp(value, "die") == 0 ? "died" : value;
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
        client_filters_json(L, 2, c->eng.runtime == RUNTIME_PODMAN ? client_podman_event_name : NULL);
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
        .split = podman_past ? client_split_until : NULL,
        .push = client_push_event,
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
    {"get_container_stats", client_l_get_container_stats},
    {"get_events", client_l_get_events},
    {NULL, NULL},
};
