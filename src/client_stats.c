/* client_stats — resource samples: one-shot (Docker with the CPU base it
 * lacks, Podman batched) and streamed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client_impl.h"
#include "error.h"
#include "loop.h"
#include "models.h"
#include "stream.h"

/* libpod streams {"Error": ..., "Stats": [one per container]}. For a
 * container it doesn't know (or that was removed meanwhile) it sends one
 * {"Error": {}, "Stats": null} with a 200 and ends: not_found, as Docker's
 * 404 is. The scratch holds the id asked for. */
static void client_split_podman_stats(stream *s, cJSON *value)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(value, "Stats");
    cJSON *item = cJSON_IsArray(list) ? list->child : NULL;
    if (cJSON_IsNull(list)) {
        const char *id = stream_scratch(s, 1);
        char message[256];
        snprintf(message, sizeof message, "no such container: %s (no stats from podman)", id ? id : "?");
        stream_fail(s, ERR_NOT_FOUND, message);
    }
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
    stream *s = stream_open(L, 1, &c->eng, &rq, &spec);
    if (c->eng.runtime == RUNTIME_PODMAN) {
        char *named = stream_scratch(s, strlen(id) + 1);
        if (named)
            memcpy(named, id, strlen(id) + 1);
    }
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
        if (!first) {
            /* libpod's answer for a container it doesn't know: 200, {"Stats": null} */
            op->stats.kind = ERR_NOT_FOUND;
            snprintf(op->stats.message, sizeof op->stats.message, "no such container: %s (no stats from podman)",
                     lua_tostring(L, 2));
            return client_raise(L, &op->stats);
        }
        cJSON_DetachItemViaPointer(list, first);
        model_push_stats(L, first, RUNTIME_PODMAN, NULL, 0);
        return 1;
    }
    model_cpu_sample now, base;
    const model_cpu_sample *basep = NULL;
    const char *id = lua_tostring(L, 2);
    if (!cJSON_IsObject(doc))
        return client_bad_shape(L, c, &op->stats, "stats that are not a sample");
    if (!model_stats_docker_cpu(doc, &now)) {
        if (!cJSON_GetObjectItemCaseSensitive(doc, "cpu_stats"))
            return client_bad_shape(L, c, &op->stats, "stats that are not a sample");
        /* not running: no time, no counters, nothing to keep as a base */
        op->stats.json = NULL;
        model_push_stats(L, doc, RUNTIME_DOCKER, NULL, 0);
        return 1;
    }
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

static int client_stats_single(lua_State *L, client *c, const char *id)
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

/* ---- Podman: one request for the samples asked in the same turn ----
 *
 * libpod answers one GET .../containers/stats?containers=a&containers=b for
 * many containers. Tasks that ask for one-shot stats during the same turn
 * of the loop (50 tasks spawned together, a monitor's sweep) wait in one
 * batch; the batch goes out on the next turn as one request, and each task
 * takes its own sample from the answer. */

typedef struct stats_batch stats_batch;
typedef struct stats_waiter stats_waiter;

struct stats_waiter {
    task_wait wait;
    stats_batch *batch;        /* until answered */
    stats_waiter *next;
    const char *id;            /* held by the caller's stack */
    cJSON *sample;             /* the answer, owned */
    engine_reply error;        /* or why there is none */
    int retry_alone;           /* the batch failed as a whole: ask alone */
};

struct stats_batch {
    client *c;
    uv_timer_t *timer;
    engine_op *eop;
    engine_reply reply;
    stats_waiter *waiters;
    int n;
};

#define STATS_WAITER_MT "moonpod.stats_waiter"

static void batch_free(stats_batch *b)
{
    if (b->c->stats_batch == b)
        b->c->stats_batch = NULL;
    if (b->timer)
        loop_close_free((uv_handle_t *)b->timer);
    engine_cancel(b->eop);
    engine_reply_clear(&b->reply);
    free(b);
}

/* Is `sample` the one `id` (an id, a prefix of one, or a name) asked for? */
static int batch_sample_is(const cJSON *sample, const char *id)
{
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(sample, "ContainerID");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(sample, "Name");
    size_t n = strlen(id);
    return (cJSON_IsString(cid) && strncmp(cid->valuestring, id, n) == 0) ||
           (cJSON_IsString(name) && strcmp(name->valuestring, id) == 0);
}

static void batch_answer(stats_waiter *w, cJSON *list)
{
    cJSON *item;
    cJSON_ArrayForEach(item, list) {
        if (batch_sample_is(item, w->id)) {
            w->sample = cJSON_DetachItemViaPointer(list, item);
            return;
        }
    }
    w->error.kind = ERR_NOT_FOUND;
    snprintf(w->error.message, sizeof w->error.message, "no such container: %s (no stats from podman)", w->id);
}

static void batch_on_done(void *ud)
{
    stats_batch *b = ud;
    b->eop = NULL;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(b->reply.json, "Stats");
    int answered = b->reply.kind == ERR_NONE && cJSON_IsArray(list);
    for (stats_waiter *w = b->waiters; w; w = w->next) {
        w->batch = NULL;
        if (answered || (b->n == 1 && b->reply.kind == ERR_NONE)) {
            /* libpod's answer for an unknown container: {"Stats": null} */
            batch_answer(w, answered ? list : NULL);
        } else if (b->n > 1) {
            w->retry_alone = 1; /* one unknown container can fail them all: ask one by one */
        } else {
            w->error = b->reply;
            memset(&b->reply, 0, sizeof b->reply);
        }
        task_wake(&w->wait);
    }
    batch_free(b);
}

/* Next turn: one request for every container asked about. */
static void batch_on_timer(uv_timer_t *t)
{
    stats_batch *b = t->data;
    b->c->stats_batch = NULL; /* later callers start a new batch */
    buf path;
    buf_init(&path);
    buf_puts(&path, "/containers/stats?stream=false");
    for (stats_waiter *w = b->waiters; w; w = w->next) {
        buf_puts(&path, "&containers=");
        buf_add_urlenc(&path, w->id);
    }
    engine_request rq = {.method = "GET", .path = buf_str(&path) ? buf_str(&path) : "/containers/stats"};
    b->eop = engine_call(&b->c->eng, &rq, &b->reply, batch_on_done, b);
    buf_free(&path);
    if (!b->eop)
        batch_on_done(b);
}

static void batch_waiter_cancel(task_wait *tw)
{
    stats_waiter *w = (stats_waiter *)tw;
    stats_batch *b = w->batch;
    if (!b)
        return;
    stats_waiter **pp = &b->waiters;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
        *pp = w->next;
    w->batch = NULL;
    if (--b->n == 0)
        batch_free(b);
}

static int batch_waiter_gc(lua_State *L)
{
    stats_waiter *w = lua_touserdata(L, 1);
    batch_waiter_cancel(&w->wait);
    cJSON_Delete(w->sample);
    w->sample = NULL;
    engine_reply_clear(&w->error);
    return 0;
}

static int client_stats_single(lua_State *L, client *c, const char *id);

static int batch_k(lua_State *L, int status, lua_KContext ctx)
{
    stats_waiter *w = (stats_waiter *)ctx;
    client *c = lua_touserdata(L, 1);
    (void)status;
    if (w->retry_alone)
        return client_stats_single(L, c, w->id);
    if (!w->sample)
        return client_raise(L, &w->error);
    cJSON *sample = w->sample;
    w->sample = NULL;
    model_push_stats(L, sample, RUNTIME_PODMAN, NULL, 0);
    return 1;
}

static int client_stats_batched(lua_State *L, client *c, const char *id)
{
    task_check_wait(L, "get_container_stats");
    stats_waiter *w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    if (luaL_newmetatable(L, STATS_WAITER_MT)) {
        lua_pushcfunction(L, batch_waiter_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    w->id = id;
    w->wait.cancel = batch_waiter_cancel;
    stats_batch *b = c->stats_batch;
    if (!b) {
        b = calloc(1, sizeof *b);
        uv_timer_t *t = malloc(sizeof *t);
        if (!b || !t) {
            free(b);
            free(t);
            return luaL_error(L, "out of memory");
        }
        b->c = c;
        b->timer = t;
        uv_timer_init(loop_get(), t);
        t->data = b;
        uv_timer_start(t, batch_on_timer, 0, 0);
        c->stats_batch = b;
    }
    w->batch = b;
    w->next = b->waiters;
    b->waiters = w;
    b->n++;
    return task_yield(L, &w->wait, batch_k, (lua_KContext)w);
}

static int client_stats_once(lua_State *L, client *c, const char *id)
{
    if (c->eng.runtime == RUNTIME_PODMAN && c->eng.ep.transport != TRANSPORT_CLI)
        return client_stats_batched(L, c, id);
    return client_stats_single(L, c, id);
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

const luaL_Reg client_stats_methods[] = {
    {"get_container_stats", client_l_get_container_stats},
    {NULL, NULL},
};
