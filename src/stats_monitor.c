/* stats_monitor — resource samples of many containers (see stats_monitor.h).
 *
 * The curl side (sm_on_data, sm_on_end, the timer) runs in loop callbacks
 * and never touches Lua; Lua reads the monitor through its methods and
 * takes queued samples with monitor:next(), waiting when there are none. */
#include "stats_monitor.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client_impl.h"
#include "framing.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "models.h"
#include "stats_history.h"
#include "task.h"

#define SM_MT "moonpod.stats_monitor"
#define SM_MAX_VALUE ((size_t)4 << 20)  /* one stats document: 100s of containers on Podman */
#define SM_MAX_WATCHED 4096
#define SM_ID_LEN 72

typedef struct sm_values {
    double t, cpu, cpu_total_ns, mem, mem_raw, mem_limit, mem_pct, rx, tx, rd, wr, pids;
} sm_values;

typedef struct sm_item {
    struct sm_item *next;
    char id[SM_ID_LEN];
    sm_values v;
} sm_item;

typedef struct sm_entry {
    sm_monitor *mon;
    char id[SM_ID_LEN];
    char *name, *image;
    double started_at;
    int active;              /* sampled now (else only its history is kept) */
    stats_history *hist;
    int has_last;
    sm_values last;
    double next_due;         /* when the next sample is due for the history */
    model_cpu_sample prev;   /* the CPU counter of its previous sample */
    int has_prev;
    /* Docker: the container's own stream */
    engine_op *eop;
    engine_reply end;
    frame_json fj;
    uv_timer_t *retry;
} sm_entry;

struct sm_monitor {
    task_wait wait;
    int waiting;
    engine *e;
    double interval;
    sh_layout layout;
    sm_entry **entries;
    size_t n, cap;
    int closed, deliver;
    /* Podman: one stream for all */
    engine_op *pod_eop;
    engine_reply pod_end;
    frame_json pod_fj;
    uv_timer_t *timer;       /* reopens the Podman stream */
    int pod_reopen;
    /* samples for Lua */
    sm_item *head, *tail;
    size_t count, max_items;
    sm_sink_fn sink;
    void *sink_ud;
    /* every open monitor of the process, for stats_monitor_prometheus_all */
    sm_monitor *all_prev, *all_next;
    /* counters */
    uint64_t restored, samples, kept, delivered, dropped, decode_errors, stream_errors, reconnects, unknown;
};

static void sm_pod_schedule(sm_monitor *m, double delay);
static void sm_docker_open(sm_entry *en);

/* Open monitors, whatever Lua state made them: `moonpod serve` shows the
 * containers its policies' monitors watch on its own /metrics. One loop,
 * one thread: a plain list. */
static sm_monitor *sm_all;

static void sm_all_link(sm_monitor *m)
{
    m->all_prev = NULL;
    m->all_next = sm_all;
    if (sm_all)
        sm_all->all_prev = m;
    sm_all = m;
}

static void sm_all_unlink(sm_monitor *m)
{
    if (m->all_prev)
        m->all_prev->all_next = m->all_next;
    else if (sm_all == m)
        sm_all = m->all_next;
    if (m->all_next)
        m->all_next->all_prev = m->all_prev;
    m->all_prev = m->all_next = NULL;
}

/* ---- the watched set ---- */

static sm_entry *sm_find(sm_monitor *m, const char *id)
{
    size_t n = strlen(id);
    for (size_t i = 0; i < m->n; i++)
        if (strncmp(m->entries[i]->id, id, n) == 0 && (n >= 12 || m->entries[i]->id[n] == '\0'))
            return m->entries[i];
    for (size_t i = 0; i < m->n; i++)
        if (m->entries[i]->name && strcmp(m->entries[i]->name, id) == 0)
            return m->entries[i];
    return NULL;
}

static void sm_entry_stop(sm_entry *en)
{
    engine_cancel(en->eop);
    en->eop = NULL;
    engine_reply_clear(&en->end);
    frame_json_reset(&en->fj);
    en->has_prev = 0;
    if (en->retry) {
        loop_close_free((uv_handle_t *)en->retry);
        en->retry = NULL;
    }
}

static void sm_entry_free(sm_entry *en)
{
    sm_entry_stop(en);
    frame_json_free(&en->fj);
    stats_history_free(en->hist);
    free(en->name);
    free(en->image);
    free(en);
}

static size_t sm_index(sm_monitor *m, sm_entry *en)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->entries[i] == en)
            return i;
    return m->n;
}

/* ---- samples ---- */

static void sm_values_of(const model_stats_values *mv, sm_values *v)
{
    v->t = mv->timestamp;
    v->cpu = mv->cpu_percent;
    v->cpu_total_ns = mv->cpu_total_ns;
    v->mem = mv->memory_usage;
    v->mem_raw = mv->memory_raw_usage;
    v->mem_limit = mv->memory_limit;
    v->mem_pct = mv->memory_percent;
    v->rx = mv->network_rx;
    v->tx = mv->network_tx;
    v->rd = mv->block_read;
    v->wr = mv->block_write;
    v->pids = mv->pids;
}

static void sm_queue(sm_monitor *m, const sm_entry *en, const sm_values *v)
{
    while (m->count >= m->max_items && m->head) {
        sm_item *old = m->head;
        m->head = old->next;
        if (!m->head)
            m->tail = NULL;
        m->count--;
        m->dropped++;
        free(old);
    }
    sm_item *it = malloc(sizeof *it);
    if (!it) {
        m->dropped++;
        return;
    }
    it->next = NULL;
    memcpy(it->id, en->id, sizeof it->id);
    it->v = *v;
    if (m->tail)
        m->tail->next = it;
    else
        m->head = it;
    m->tail = it;
    m->count++;
    if (m->waiting)
        task_wake(&m->wait);
}

/* A sample of a watched container: latest, history, and Lua if asked. */
static void sm_take(sm_entry *en, const sm_values *v)
{
    sm_monitor *m = en->mon;
    m->samples++;
    if (v->t <= 0 || v->cpu < 0)
        return;
    en->last = *v;
    en->has_last = 1;
    /* engines stream about every second whatever the interval: keep one
     * per interval, on a schedule, so that jitter in the engine's
     * timestamps neither drops samples nor lets the spacing drift */
    double tol = fmin(0.3, m->interval * 0.3);
    if (en->next_due > 0 && v->t + tol < en->next_due)
        return;
    en->next_due = v->t - en->next_due > m->interval || en->next_due <= 0 ? v->t + m->interval
                                                                          : en->next_due + m->interval;
    double row[SH_METRICS] = {
        [SH_CPU] = v->cpu, [SH_MEM] = v->mem, [SH_MEM_PCT] = v->mem_pct, [SH_NET_RX] = v->rx,
        [SH_NET_TX] = v->tx, [SH_BLK_READ] = v->rd, [SH_BLK_WRITE] = v->wr, [SH_PIDS] = v->pids,
    };
    if (en->hist)
        stats_history_add(en->hist, v->t, row);
    if (m->sink)
        m->sink(m->sink_ud, en->id, en->name, en->image, v->t, row);
    m->kept++;
    if (m->deliver)
        sm_queue(m, en, v);
}

/* ---- Podman: one stream for every active container ---- */

static int sm_pod_value(void *ud, int fd, const char *p, size_t n)
{
    sm_monitor *m = ud;
    (void)fd;
    cJSON *doc = cJSON_ParseWithLength(p, n);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "Stats");
    if (!cJSON_IsArray(list)) {
        /* {"Error": ...} with no samples, or not JSON */
        if (!doc || !cJSON_IsNull(list))
            m->decode_errors++;
        cJSON_Delete(doc);
        return 0;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, list) {
        model_stats_values mv;
        model_stats_read(s, RUNTIME_PODMAN, NULL, &mv);
        sm_entry *en = mv.id && *mv.id ? sm_find(m, mv.id) : NULL;
        if (!en || !en->active) {
            m->unknown++;
            continue;
        }
        /* libpod's CPU is Δcpu/Δwall × 100 since its own previous sample,
         * and since the container started on the first sample of a
         * stream: measured here over the same two counters instead, from
         * this container's previous sample, so that a stream reopened for
         * a change in the set (often, on a busy engine) loses nothing */
        model_cpu_sample now = {.total_ns = mv.cpu_total_ns, .at = mv.timestamp};
        double cpu = -1;
        if (en->has_prev && now.at > en->prev.at && now.total_ns >= en->prev.total_ns)
            cpu = (now.total_ns - en->prev.total_ns) / ((now.at - en->prev.at) * 1e9) * 100.0;
        if (now.at > 0 && (!en->has_prev || now.at > en->prev.at)) {
            en->prev = now;
            en->has_prev = 1;
        }
        sm_values v;
        sm_values_of(&mv, &v);
        v.cpu = cpu;
        sm_take(en, &v);
    }
    cJSON_Delete(doc);
    return 0;
}

static int sm_pod_data(const char *p, size_t n, void *ud)
{
    sm_monitor *m = ud;
    return frame_json_feed(&m->pod_fj, p, n, sm_pod_value, m) == -1 ? HTTP_DATA_ABORT : HTTP_DATA_OK;
}

static void sm_pod_end(void *ud)
{
    sm_monitor *m = ud;
    m->pod_eop = NULL;
    frame_json_reset(&m->pod_fj);
    if (m->pod_end.kind != ERR_NONE) {
        m->stream_errors++;
        log_debug("stats stream ended: %s", m->pod_end.message);
    }
    engine_reply_clear(&m->pod_end);
    if (m->closed)
        return;
    m->reconnects++;
    sm_pod_schedule(m, m->interval < 1 ? 1 : m->interval);
}

static void sm_pod_open(sm_monitor *m)
{
    engine_cancel(m->pod_eop);
    m->pod_eop = NULL;
    frame_json_reset(&m->pod_fj);
    buf path;
    buf_init(&path);
    /* libpod takes whole seconds */
    buf_printf(&path, "/containers/stats?stream=true&interval=%d", m->interval < 1 ? 1 : (int)lround(m->interval));
    int any = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->entries[i]->active)
            continue;
        buf_puts(&path, "&containers=");
        buf_add_urlenc(&path, m->entries[i]->id);
        any = 1;
    }
    if (!any || !buf_str(&path)) {
        buf_free(&path);
        return;
    }
    engine_request rq = {
        .method = "GET", .path = buf_str(&path), .flags = ENGINE_STREAM, .on_data = sm_pod_data, .data_ud = m,
    };
    m->pod_eop = engine_call(m->e, &rq, &m->pod_end, sm_pod_end, m);
    buf_free(&path);
    if (!m->pod_eop) {
        m->stream_errors++;
        engine_reply_clear(&m->pod_end);
        sm_pod_schedule(m, m->interval < 1 ? 1 : m->interval);
    }
}

static void sm_on_timer(uv_timer_t *t)
{
    sm_monitor *m = t->data;
    m->pod_reopen = 0;
    if (!m->closed)
        sm_pod_open(m);
}

/* Reopens the stream after `delay` seconds (0: next turn, so that the
 * containers watched in one turn share one request). */
static void sm_pod_schedule(sm_monitor *m, double delay)
{
    if (m->closed || (m->pod_reopen && delay > 0))
        return;
    m->pod_reopen = 1;
    uv_timer_start(m->timer, sm_on_timer, (uint64_t)(delay * 1000), 0);
}

/* ---- Docker: one stream per container ---- */

static int sm_docker_value(void *ud, int fd, const char *p, size_t n)
{
    sm_entry *en = ud;
    (void)fd;
    cJSON *doc = cJSON_ParseWithLength(p, n);
    if (!cJSON_IsObject(doc)) {
        en->mon->decode_errors++;
        cJSON_Delete(doc);
        return 0;
    }
    model_stats_values mv;
    model_cpu_sample now;
    int has_now = model_stats_docker_cpu(doc, &now);
    model_stats_read(doc, RUNTIME_DOCKER, en->has_prev ? &en->prev : NULL, &mv);
    if (has_now) {
        en->prev = now;
        en->has_prev = 1;
    }
    sm_values v;
    sm_values_of(&mv, &v);
    cJSON_Delete(doc);
    sm_take(en, &v);
    return 0;
}

static int sm_docker_data(const char *p, size_t n, void *ud)
{
    sm_entry *en = ud;
    return frame_json_feed(&en->fj, p, n, sm_docker_value, en) == -1 ? HTTP_DATA_ABORT : HTTP_DATA_OK;
}

static void sm_docker_retry(uv_timer_t *t)
{
    sm_entry *en = t->data;
    if (en->active && !en->eop && !en->mon->closed)
        sm_docker_open(en);
}

static void sm_docker_end(void *ud)
{
    sm_entry *en = ud;
    sm_monitor *m = en->mon;
    en->eop = NULL;
    frame_json_reset(&en->fj);
    if (en->end.kind != ERR_NONE) {
        m->stream_errors++;
        log_debug("stats stream of %.12s ended: %s", en->id, en->end.message);
    }
    engine_reply_clear(&en->end);
    if (m->closed || !en->active)
        return;
    m->reconnects++;
    if (!en->retry) {
        en->retry = malloc(sizeof *en->retry);
        if (!en->retry)
            return;
        uv_timer_init(loop_get(), en->retry);
        en->retry->data = en;
    }
    double d = m->interval < 1 ? 1 : m->interval;
    uv_timer_start(en->retry, sm_docker_retry, (uint64_t)(d * 1000), 0);
}

static void sm_docker_open(sm_entry *en)
{
    char path[160];
    snprintf(path, sizeof path, "/containers/%s/stats?stream=true", en->id);
    engine_request rq = {
        .method = "GET", .path = path, .flags = ENGINE_STREAM, .on_data = sm_docker_data, .data_ud = en,
    };
    en->has_prev = 0;
    en->eop = engine_call(en->mon->e, &rq, &en->end, sm_docker_end, en);
    if (!en->eop) {
        en->mon->stream_errors++;
        engine_reply_clear(&en->end);
    }
}

/* ---- starting and stopping containers ---- */

static void sm_activate(sm_monitor *m, sm_entry *en)
{
    if (en->active)
        return;
    en->active = 1;
    if (m->e->runtime == RUNTIME_PODMAN)
        sm_pod_schedule(m, 0);
    else
        sm_docker_open(en);
}

static void sm_deactivate(sm_monitor *m, sm_entry *en)
{
    if (!en->active)
        return;
    en->active = 0;
    en->has_prev = 0; /* a restarted container's counters start again */
    if (m->e->runtime == RUNTIME_PODMAN)
        sm_pod_schedule(m, 0);
    else
        sm_entry_stop(en);
}

static void sm_close(sm_monitor *m)
{
    if (m->closed)
        return;
    m->closed = 1;
    sm_all_unlink(m);
    engine_cancel(m->pod_eop);
    m->pod_eop = NULL;
    engine_reply_clear(&m->pod_end);
    frame_json_free(&m->pod_fj);
    if (m->timer) {
        loop_close_free((uv_handle_t *)m->timer);
        m->timer = NULL;
    }
    for (size_t i = 0; i < m->n; i++)
        sm_entry_free(m->entries[i]);
    free(m->entries);
    m->entries = NULL;
    m->n = m->cap = 0;
    sm_item *it;
    while ((it = m->head)) {
        m->head = it->next;
        free(it);
    }
    m->tail = NULL;
    m->count = 0;
    if (m->waiting)
        task_wake(&m->wait);
}

/* ---- Lua ---- */

static sm_monitor *sm_check(lua_State *L)
{
    sm_monitor *m = luaL_checkudata(L, 1, SM_MT);
    if (m->closed)
        luaL_error(L, "the stats monitor is closed");
    return m;
}

static char *sm_opt_strdup(lua_State *L, int t, const char *k)
{
    char *s = NULL;
    if (lua_getfield(L, t, k) == LUA_TSTRING)
        s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return s;
}

/* A new entry, not sampled yet; NULL with the reason in *why. */
static sm_entry *sm_add(sm_monitor *m, const char *id, const char **why)
{
    size_t len = strlen(id);
    if (m->n >= SM_MAX_WATCHED) {
        *why = "too many containers (4096)";
        return NULL;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        sm_entry **ne = realloc(m->entries, cap * sizeof *ne);
        if (!ne) {
            *why = "out of memory";
            return NULL;
        }
        m->entries = ne;
        m->cap = cap;
    }
    sm_entry *en = calloc(1, sizeof *en);
    stats_history *h = stats_history_new(&m->layout);
    if (!en || !h || len >= SM_ID_LEN) {
        free(en);
        stats_history_free(h);
        *why = len >= SM_ID_LEN ? "container id too long" : "out of memory for a history";
        return NULL;
    }
    en->mon = m;
    memcpy(en->id, id, len + 1);
    frame_json_init(&en->fj, SM_MAX_VALUE);
    en->hist = h;
    m->entries[m->n++] = en;
    return en;
}

static void sm_set_str(char **slot, const char *s)
{
    char *d;
    if (!s || !*s || (*slot && strcmp(*slot, s) == 0) || !(d = strdup(s)))
        return;
    free(*slot);
    *slot = d;
}

sm_monitor *stats_monitor_check(lua_State *L, int idx)
{
    sm_monitor *m = luaL_checkudata(L, idx, SM_MT);
    if (m->closed)
        luaL_error(L, "the stats monitor is closed");
    return m;
}

void stats_monitor_set_sink(sm_monitor *m, sm_sink_fn fn, void *ud)
{
    m->sink = fn;
    m->sink_ud = ud;
}

const sh_layout *stats_monitor_layout(const sm_monitor *m)
{
    return &m->layout;
}

int stats_monitor_restore(sm_monitor *m, const char *id, const char *name, const char *image, const sh_point *p,
                          double span)
{
    if (m->closed)
        return -1;
    sm_entry *en = NULL;
    for (size_t i = 0; i < m->n && !en; i++)
        if (strcmp(m->entries[i]->id, id) == 0)
            en = m->entries[i];
    const char *why;
    if (!en && !(en = sm_add(m, id, &why)))
        return -1;
    sm_set_str(&en->name, name);
    sm_set_str(&en->image, image);
    if (stats_history_restore(en->hist, p, span) != 0)
        return -1;
    m->restored += p->count;
    return 0;
}

/* monitor:watch(full_id, { name =, image =, started_at = }) -> true */
static int sm_l_watch(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    size_t len;
    const char *id = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, len > 0 && len < SM_ID_LEN && strspn(id, "0123456789abcdef") == len, 2,
                  "a full container id (hexadecimal)");
    int info = lua_istable(L, 3);
    sm_entry *en = sm_find(m, id);
    if (!en) {
        const char *why = NULL;
        en = sm_add(m, id, &why);
        if (!en)
            return luaL_error(L, "stats monitor: %s", why);
    }
    if (info) {
        char *name = sm_opt_strdup(L, 3, "name"), *image = sm_opt_strdup(L, 3, "image");
        if (name) {
            free(en->name);
            en->name = name;
        }
        if (image) {
            free(en->image);
            en->image = image;
        }
        lua_getfield(L, 3, "started_at");
        double t;
        if (lua_type(L, -1) == LUA_TNUMBER)
            en->started_at = lua_tonumber(L, -1);
        else if (lua_type(L, -1) == LUA_TSTRING && model_parse_time(lua_tostring(L, -1), &t) == 0)
            en->started_at = t; /* an inspect's State.StartedAt */
        lua_pop(L, 1);
    }
    sm_activate(m, en);
    lua_pushboolean(L, 1);
    return 1;
}

/* monitor:idle(id): stops sampling, keeps the history. -> known */
static int sm_l_idle(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    sm_entry *en = sm_find(m, luaL_checkstring(L, 2));
    if (en)
        sm_deactivate(m, en);
    lua_pushboolean(L, en != NULL);
    return 1;
}

/* monitor:forget(id): stops sampling and drops the history. -> known */
static int sm_l_forget(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    sm_entry *en = sm_find(m, luaL_checkstring(L, 2));
    if (en) {
        sm_deactivate(m, en);
        size_t i = sm_index(m, en);
        m->entries[i] = m->entries[--m->n];
        sm_entry_free(en);
    }
    lua_pushboolean(L, en != NULL);
    return 1;
}

/* monitor:deliver(on): queue samples for next() or not. */
static int sm_l_deliver(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    m->deliver = lua_toboolean(L, 2);
    return 0;
}

static void sm_setnum(lua_State *L, const char *k, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void sm_push_sample(lua_State *L, const char *id, const sm_values *v)
{
    model_stats_values mv = {
        .id = id, .timestamp = v->t, .cpu_percent = v->cpu, .cpu_total_ns = v->cpu_total_ns,
        .memory_usage = v->mem, .memory_raw_usage = v->mem_raw, .memory_limit = v->mem_limit,
        .memory_percent = v->mem_pct, .network_rx = v->rx, .network_tx = v->tx, .block_read = v->rd,
        .block_write = v->wr, .pids = v->pids,
    };
    lua_createtable(L, 0, 12);
    model_push_stats_values(L, &mv);
}

static int sm_next(lua_State *L, sm_monitor *m);

static int sm_next_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    sm_monitor *m = luaL_checkudata(L, 1, SM_MT);
    m->waiting = 0;
    return sm_next(L, m);
}

static void sm_wait_cancel(task_wait *w)
{
    ((sm_monitor *)w)->waiting = 0;
}

static int sm_next(lua_State *L, sm_monitor *m)
{
    if (m->head) {
        sm_item *it = m->head;
        m->head = it->next;
        if (!m->head)
            m->tail = NULL;
        m->count--;
        m->delivered++;
        char id[SM_ID_LEN];
        sm_values v = it->v;
        memcpy(id, it->id, sizeof id);
        free(it);
        sm_push_sample(L, id, &v);
        return 1;
    }
    if (m->closed) {
        lua_pushnil(L);
        return 1;
    }
    if (m->waiting)
        return luaL_error(L, "another task is already reading this stats monitor");
    task_check_wait(L, "stats monitor");
    m->waiting = 1;
    m->wait.cancel = sm_wait_cancel;
    return task_yield(L, &m->wait, sm_next_k, 0);
}

/* monitor:next() -> ContainerStats, waiting for one; nil once closed. */
static int sm_l_next(lua_State *L)
{
    lua_settop(L, 1);
    return sm_next(L, luaL_checkudata(L, 1, SM_MT));
}

static sm_entry *sm_check_entry(lua_State *L, sm_monitor *m)
{
    return sm_find(m, luaL_checkstring(L, 2));
}

/* monitor:latest(id) -> ContainerStats | nil */
static int sm_l_latest(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    sm_entry *en = sm_check_entry(L, m);
    if (!en || !en->has_last) {
        lua_pushnil(L);
        return 1;
    }
    sm_push_sample(L, en->id, &en->last);
    return 1;
}

typedef struct sm_hist_out {
    lua_State *L;
    const char *id;
    lua_Integer n;
    int with_range;
} sm_hist_out;

static int sm_hist_point(void *ud, const sh_point *p)
{
    sm_hist_out *o = ud;
    lua_State *L = o->L;
    lua_createtable(L, 0, 14);
    lua_pushnumber(L, p->t);
    lua_setfield(L, -2, "timestamp");
    lua_pushstring(L, o->id);
    lua_setfield(L, -2, "container_id");
    for (int k = 0; k < SH_METRICS; k++) {
        if (k == SH_CPU || k == SH_MEM_PCT)
            lua_pushnumber(L, p->avg[k]);
        else
            lua_pushinteger(L, (lua_Integer)llround(p->avg[k]));
        lua_setfield(L, -2, stats_history_metric_name(k));
    }
    lua_pushinteger(L, p->count);
    lua_setfield(L, -2, "samples");
    if (o->with_range) {
        lua_pushnumber(L, p->max[SH_CPU]);
        lua_setfield(L, -2, "cpu_percent_max");
        lua_pushnumber(L, p->max[SH_MEM]);
        lua_setfield(L, -2, "memory_usage_bytes_max");
    }
    lua_rawseti(L, -2, ++o->n);
    return 0;
}

/* monitor:history(id, since, until, step) -> { ContainerStats + samples } */
static int sm_l_history(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    sm_entry *en = sm_check_entry(L, m);
    double until = luaL_optnumber(L, 4, loop_wall_now());
    double since = luaL_optnumber(L, 3, until - 1e9);
    double step = luaL_optnumber(L, 5, 0);
    luaL_argcheck(L, step >= 0, 5, "step must be >= 0");
    lua_newtable(L);
    if (!en)
        return 1;
    sm_hist_out o = {.L = L, .id = en->id, .with_range = step > 0};
    luaL_checkstack(L, 8, "history");
    stats_history_query(en->hist, since, until, step, sm_hist_point, &o);
    return 1;
}

/* monitor:summary(id, metric, since, until) -> { min, max, avg, last, count } | nil */
static int sm_l_summary(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    sm_entry *en = sm_check_entry(L, m);
    const char *metric = luaL_checkstring(L, 3);
    int k = stats_history_metric(metric);
    luaL_argcheck(L, k >= 0, 3, "unknown metric (a numeric ContainerStats field)");
    double until = luaL_optnumber(L, 5, loop_wall_now());
    double since = luaL_optnumber(L, 4, until - 60);
    if (!en) {
        lua_pushnil(L);
        return 1;
    }
    sh_summary s;
    stats_history_summary(en->hist, k, since, until, &s);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)s.count);
    lua_setfield(L, -2, "count");
    if (s.count) {
        lua_pushnumber(L, s.min);
        lua_setfield(L, -2, "min");
        lua_pushnumber(L, s.max);
        lua_setfield(L, -2, "max");
        lua_pushnumber(L, s.avg);
        lua_setfield(L, -2, "avg");
        lua_pushnumber(L, s.last);
        lua_setfield(L, -2, "last");
    }
    return 1;
}

/* monitor:ids() -> { id = true|false (sampled now) } */
static int sm_l_ids(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    lua_createtable(L, 0, (int)m->n);
    for (size_t i = 0; i < m->n; i++) {
        lua_pushboolean(L, m->entries[i]->active);
        lua_setfield(L, -2, m->entries[i]->id);
    }
    return 1;
}

/* monitor:stats() -> counters, and the memory the histories hold */
static int sm_l_stats(lua_State *L)
{
    sm_monitor *m = luaL_checkudata(L, 1, SM_MT);
    size_t bytes = 0, active = 0, streams = m->pod_eop ? 1 : 0;
    uint64_t framing = m->pod_fj.garbage + m->pod_fj.overflows;
    for (size_t i = 0; i < m->n; i++) {
        const sm_entry *en = m->entries[i];
        bytes += stats_history_bytes(en->hist) + sizeof *en;
        active += en->active;
        streams += en->eop != NULL;
        framing += en->fj.garbage + en->fj.overflows;
    }
    lua_createtable(L, 0, 14);
    sm_setnum(L, "containers", (double)m->n);
    sm_setnum(L, "sampling", (double)active);
    sm_setnum(L, "streams", (double)streams);
    sm_setnum(L, "samples_received", (double)m->samples);
    sm_setnum(L, "samples_kept", (double)m->kept);
    sm_setnum(L, "samples_delivered", (double)m->delivered);
    sm_setnum(L, "samples_dropped", (double)m->dropped);
    sm_setnum(L, "samples_queued", (double)m->count);
    sm_setnum(L, "decode_errors", (double)(m->decode_errors + framing));
    sm_setnum(L, "stream_errors", (double)m->stream_errors);
    sm_setnum(L, "reconnects", (double)m->reconnects);
    sm_setnum(L, "unknown_samples", (double)m->unknown);
    sm_setnum(L, "samples_restored", (double)m->restored);
    sm_setnum(L, "history_bytes", (double)bytes);
    sm_setnum(L, "history_bytes_per_container", (double)stats_history_layout_bytes(&m->layout));
    sm_setnum(L, "interval", m->interval);
    return 1;
}

/* ---- Prometheus ---- */

typedef struct sm_family {
    const char *name, *type, *help;
} sm_family;

enum { F_CPU, F_MEM, F_WSET, F_RX, F_TX, F_RD, F_WR, F_SEEN, F_START, F_LIMIT, F_PCT, F_COUNT };

static const sm_family sm_families[F_COUNT] = {
    {"container_cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed, in seconds."},
    {"container_memory_usage_bytes", "gauge", "Current memory usage, including page cache, in bytes."},
    {"container_memory_working_set_bytes", "gauge", "Current working set (usage without inactive page cache), in bytes."},
    {"container_network_receive_bytes_total", "counter", "Cumulative bytes received, all interfaces."},
    {"container_network_transmit_bytes_total", "counter", "Cumulative bytes transmitted, all interfaces."},
    {"container_fs_reads_bytes_total", "counter", "Cumulative bytes read from block devices."},
    {"container_fs_writes_bytes_total", "counter", "Cumulative bytes written to block devices."},
    {"container_last_seen", "gauge", "Last time the container was seen by moonpod, epoch seconds."},
    {"container_start_time_seconds", "gauge", "Start time of the container, epoch seconds."},
    {"container_spec_memory_limit_bytes", "gauge", "Memory limit of the container, in bytes."},
    {"moonpod_container_cpu_percent", "gauge", "CPU use over the last interval, 100 = one full CPU (as docker stats shows it)."},
};

static double sm_family_value(int f, const sm_entry *en)
{
    const sm_values *v = &en->last;
    switch (f) {
    case F_CPU: return v->cpu_total_ns / 1e9;
    case F_MEM: return v->mem_raw;
    case F_WSET: return v->mem;
    case F_RX: return v->rx;
    case F_TX: return v->tx;
    case F_RD: return v->rd;
    case F_WR: return v->wr;
    case F_SEEN: return floor(v->t);
    case F_START: return en->started_at;
    case F_LIMIT: return v->mem_limit;
    default: return v->cpu;
    }
}

/* The container families over ens[0..n): one series per entry. */
static void sm_render(buf *b, const sm_entry *const *ens, size_t n)
{
    for (int f = 0; f < F_COUNT; f++) {
        metrics_family(b, sm_families[f].name, sm_families[f].type, sm_families[f].help);
        for (size_t i = 0; i < n; i++) {
            const sm_entry *en = ens[i];
            if (f == F_START && en->started_at <= 0)
                continue;
            const char *labels[] = {"id", en->id, "name", en->name ? en->name : "", "image",
                                    en->image ? en->image : "", "runtime",
                                    engine_runtime_name(en->mon->e->runtime), NULL};
            metrics_sample(b, sm_families[f].name, labels, sm_family_value(f, en));
        }
    }
}

/* Entries with a sample, of `first` alone or of it and the monitors after
 * it in sm_all: a fresh array in *out (NULL when no monitor has an
 * entry). -1 when out of memory. */
static int sm_sampled(const sm_monitor *first, int just_one, const sm_entry ***out, size_t *n)
{
    size_t cap = 0;
    for (const sm_monitor *m = first; m; m = just_one ? NULL : m->all_next)
        cap += m->n;
    *out = NULL;
    *n = 0;
    if (cap == 0)
        return 0;
    const sm_entry **ens = malloc(cap * sizeof *ens);
    if (!ens)
        return -1;
    for (const sm_monitor *m = first; m; m = just_one ? NULL : m->all_next)
        for (size_t i = 0; i < m->n; i++)
            if (m->entries[i]->has_last)
                ens[(*n)++] = m->entries[i];
    *out = ens;
    return 0;
}

/* By container (runtime, then id), the latest sample first. */
static int sm_entry_cmp(const void *a, const void *b)
{
    const sm_entry *x = *(const sm_entry *const *)a, *y = *(const sm_entry *const *)b;
    if (x->mon->e->runtime != y->mon->e->runtime)
        return x->mon->e->runtime < y->mon->e->runtime ? -1 : 1;
    int c = strcmp(x->id, y->id);
    if (c != 0)
        return c;
    return x->last.t > y->last.t ? -1 : x->last.t < y->last.t;
}

int stats_monitor_prometheus_all(buf *b)
{
    if (!sm_all)
        return 0;
    const sm_entry **ens;
    size_t n, kept = 0;
    if (sm_sampled(sm_all, 0, &ens, &n) != 0)
        return -1;
    /* two policies may watch one container: it is one series, from the
     * monitor that sampled it last */
    qsort(ens, n, sizeof *ens, sm_entry_cmp);
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || ens[kept - 1]->mon->e->runtime != ens[i]->mon->e->runtime ||
            strcmp(ens[kept - 1]->id, ens[i]->id) != 0)
            ens[kept++] = ens[i];
    if (kept > 0)
        sm_render(b, ens, kept);
    free(ens);
    return b->oom ? -1 : 0;
}

/* monitor:prometheus() -> text: the container families, one series per
 * container that has a sample */
static int sm_l_prometheus(lua_State *L)
{
    sm_monitor *m = sm_check(L);
    const sm_entry **ens;
    size_t n;
    buf b;
    buf_init(&b);
    if (sm_sampled(m, 1, &ens, &n) != 0)
        return luaL_error(L, "out of memory");
    sm_render(&b, ens, n);
    free(ens);
    if (b.oom) {
        buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.p ? b.p : "", b.len);
    buf_free(&b);
    return 1;
}

static int sm_l_close(lua_State *L)
{
    sm_close(luaL_checkudata(L, 1, SM_MT));
    return 0;
}

/* stats_monitor(client, { interval, retention, queue_size }) -> monitor */
static int sm_l_new(lua_State *L)
{
    client *c = client_check(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "interval");
    double interval = luaL_optnumber(L, -1, 1.0);
    lua_getfield(L, 2, "retention");
    double retention = luaL_optnumber(L, -1, 3600);
    lua_getfield(L, 2, "queue_size");
    double qsize = luaL_optnumber(L, -1, 1000);
    lua_pop(L, 3);
    luaL_argcheck(L, qsize >= 1 && qsize <= 1e6, 2, "queue_size must be between 1 and 1000000");
    sh_layout lay;
    if (stats_history_layout(&lay, interval, retention) != 0)
        return luaL_error(L, "stats monitor: interval must be 0.1..3600 s and retention interval..400 days");
    sm_monitor *m = lua_newuserdatauv(L, sizeof *m, 2); /* the client; a history store */
    memset(m, 0, sizeof *m);
    m->closed = 1; /* until set up: __gc has nothing to release */
    luaL_setmetatable(L, SM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* keeps the client (and its engine) alive */
    m->timer = malloc(sizeof *m->timer);
    if (!m->timer)
        return luaL_error(L, "out of memory");
    uv_timer_init(loop_get(), m->timer);
    m->timer->data = m;
    uv_unref((uv_handle_t *)m->timer); /* an idle monitor does not keep a script alive */
    m->closed = 0;
    m->e = &c->eng;
    m->interval = interval;
    m->layout = lay;
    m->max_items = (size_t)qsize;
    frame_json_init(&m->pod_fj, SM_MAX_VALUE);
    sm_all_link(m);
    return 1;
}

static int sm_l_gc(lua_State *L)
{
    sm_close(luaL_checkudata(L, 1, SM_MT));
    return 0;
}

void stats_monitor_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"watch", sm_l_watch},     {"idle", sm_l_idle},           {"forget", sm_l_forget},
        {"deliver", sm_l_deliver}, {"next", sm_l_next},           {"latest", sm_l_latest},
        {"history", sm_l_history}, {"summary", sm_l_summary},     {"ids", sm_l_ids},
        {"stats", sm_l_stats},     {"prometheus", sm_l_prometheus}, {"close", sm_l_close},
        {NULL, NULL},
    };
    luaL_newmetatable(L, SM_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, sm_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, sm_l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, sm_l_new);
    lua_setfield(L, -2, "stats_monitor");
}
