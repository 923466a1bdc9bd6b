/* history_store — a stats monitor's samples in SQLite (see history_store.h).
 *
 * The sqlite3 handle is only touched by jobs on the thread pool, and only
 * one job runs at a time (the others wait in a queue), so no two threads
 * ever use it together. The store itself lives on the heap: the Lua
 * userdata holds a pointer, and the store is freed when both the userdata
 * and every job that refers to it are gone. */
#include "history_store.h"

#include <lauxlib.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "stats_history.h"
#include "stats_monitor.h"
#include "task.h"

#define HST_MT "moonpod.history_store"
#define HST_ID_LEN 72
#define HST_NAME_LEN 128
#define HST_IMAGE_LEN 256
#define HST_MAX_KNOWN 4096
#define HST_BUSY_MS 250

typedef struct hst_row {
    char id[HST_ID_LEN];
    double t;
    double v[SH_METRICS];
} hst_row;

/* A container's name and image, written with its samples. */
typedef struct hst_meta {
    char id[HST_ID_LEN];
    char name[HST_NAME_LEN];
    char image[HST_IMAGE_LEN];
    int dirty;
} hst_meta;

/* Read back: one sample (span 0) or the aggregate of `count` samples in
 * the span-long slot that holds t (its first sample's time), as the
 * monitor's tier of that span keeps it: means of the gauges, CPU and
 * memory extremes, the counters' last values. Samples refer to their
 * container by index. */
typedef struct hst_loaded {
    double t;
    double ctr[4];             /* network rx, tx, block read, write: last */
    float avg[4];              /* cpu, memory, memory percent, pids: mean */
    float lo[2], hi[2];        /* cpu, memory */
    float span;
    uint32_t idx, count;
} hst_loaded;

enum { JOB_OPEN, JOB_WRITE, JOB_LOAD, JOB_CLOSE };

typedef struct hst_store hst_store;
typedef struct hst_job hst_job;

struct hst_job {
    uv_work_t req;
    task_wait wait;            /* a task that waits for the job, if any */
    hst_job *next;
    hst_store *st;
    int kind, waited, orphaned, done;
    double now;
    /* write */
    hst_row *rows;
    size_t nrows;
    hst_meta *metas;
    size_t nmetas;
    /* load */
    sh_layout lay;             /* the monitor's tiers */
    hst_loaded *out;
    size_t nout, cap;
    hst_meta *ids;             /* index -> id, name, image */
    size_t nids, capids;
    /* result */
    int failed;
    char err[300];
};

struct hst_store {
    sqlite3 *db;               /* thread pool only */
    char *path;
    double retention;
    int refs;                  /* the userdata, and each job queued or running */
    int closed, open_ok;
    uv_timer_t *timer;
    hst_job *running, *queue_head, *queue_tail;
    hst_row *pending;
    size_t npending, cap_pending, max_pending;
    hst_meta *known;
    size_t nknown;
    uint64_t written, dropped, failed_batches;
    char last_error[300];
};

static void hst_run_next(hst_store *st);

/* ---- lifetime ---- */

static void hst_unref(hst_store *st)
{
    if (--st->refs > 0)
        return;
    free(st->pending);
    free(st->known);
    free(st->path);
    free(st);
}

static void hst_job_free(hst_job *j)
{
    free(j->rows);
    free(j->metas);
    free(j->out);
    free(j->ids);
    free(j);
}

/* ---- jobs on the thread pool ---- */

static int hst_fail(hst_job *j, const char *what)
{
    j->failed = 1;
    snprintf(j->err, sizeof j->err, "%s: %s", what, j->st->db ? sqlite3_errmsg(j->st->db) : "cannot open");
    return -1;
}

static int hst_exec(hst_job *j, const char *sql)
{
    return sqlite3_exec(j->st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : hst_fail(j, sql);
}

static const char hst_schema[] =
    "CREATE TABLE IF NOT EXISTS samples(id TEXT NOT NULL, t REAL NOT NULL, cpu_percent REAL, "
    "memory_usage_bytes REAL, memory_percent REAL, network_rx_bytes REAL, network_tx_bytes REAL, "
    "block_read_bytes REAL, block_write_bytes REAL, pids REAL);"
    "CREATE INDEX IF NOT EXISTS samples_by_id_t ON samples(id, t);"
    "CREATE INDEX IF NOT EXISTS samples_by_t ON samples(t);"
    "CREATE TABLE IF NOT EXISTS containers(id TEXT PRIMARY KEY, name TEXT, image TEXT);";

static void hst_do_open(hst_job *j)
{
    hst_store *st = j->st;
    if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        hst_fail(j, "open");
        sqlite3_close(st->db);
        st->db = NULL;
        return;
    }
    sqlite3_busy_timeout(st->db, HST_BUSY_MS);
    sqlite3_stmt *s = NULL;
    /* the first read of the file: a corrupt or locked database says so here */
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        hst_fail(j, "PRAGMA journal_mode=WAL");
    } else if (strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0) {
        j->failed = 1;
        snprintf(j->err, sizeof j->err, "cannot switch to WAL mode (journal mode %s)", sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    if (!j->failed && hst_exec(j, "PRAGMA synchronous=NORMAL") == 0)
        hst_exec(j, hst_schema);
    if (!j->failed) {
        /* a table that exists with another shape is a store of something else */
        if (sqlite3_prepare_v2(st->db, "SELECT id, t, cpu_percent, pids FROM samples LIMIT 1", -1, &s, NULL) != SQLITE_OK)
            hst_fail(j, "the samples table");
        sqlite3_finalize(s);
    }
    if (j->failed) {
        sqlite3_close(st->db);
        st->db = NULL;
    }
}

static void hst_do_write(hst_job *j)
{
    sqlite3 *db = j->st->db;
    sqlite3_stmt *ins = NULL, *meta = NULL, *del = NULL;
    if (hst_exec(j, "BEGIN IMMEDIATE") != 0)
        return;
    if (sqlite3_prepare_v2(db, "INSERT INTO samples VALUES(?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO containers VALUES(?,?,?)", -1, &meta, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM samples WHERE t < ?", -1, &del, NULL) != SQLITE_OK) {
        hst_fail(j, "prepare");
        goto out;
    }
    for (size_t i = 0; i < j->nrows; i++) {
        const hst_row *r = &j->rows[i];
        sqlite3_bind_text(ins, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 2, r->t);
        for (int m = 0; m < SH_METRICS; m++)
            sqlite3_bind_double(ins, 3 + m, r->v[m]);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            hst_fail(j, "insert");
            goto out;
        }
        sqlite3_reset(ins);
    }
    for (size_t i = 0; i < j->nmetas; i++) {
        sqlite3_bind_text(meta, 1, j->metas[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(meta, 2, j->metas[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(meta, 3, j->metas[i].image, -1, SQLITE_STATIC);
        if (sqlite3_step(meta) != SQLITE_DONE) {
            hst_fail(j, "insert container");
            goto out;
        }
        sqlite3_reset(meta);
    }
    sqlite3_bind_double(del, 1, j->now - j->st->retention);
    if (sqlite3_step(del) != SQLITE_DONE)
        hst_fail(j, "retention");
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(meta);
    sqlite3_finalize(del);
    if (j->failed)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    else
        hst_exec(j, "COMMIT");
}

static uint32_t hst_load_id(hst_job *j, const char *id)
{
    if (j->nids && strcmp(j->ids[j->nids - 1].id, id) == 0)
        return (uint32_t)(j->nids - 1);
    if (j->nids == j->capids) {
        size_t cap = j->capids ? j->capids * 2 : 64;
        hst_meta *n = realloc(j->ids, cap * sizeof *n);
        if (!n)
            return UINT32_MAX;
        j->ids = n;
        j->capids = cap;
    }
    hst_meta *m = &j->ids[j->nids];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    return (uint32_t)j->nids++;
}

/* Every sample within the retention, by container then time: the
 * aggregates are made here, as the monitor's tiers make them, so that a
 * restarted monitor's history is the one it had (an aggregate keeps its
 * count, so summaries and `samples` come back right). */
static const char hst_load_sql[] =
    "SELECT id, t, cpu_percent, memory_usage_bytes, memory_percent, network_rx_bytes, network_tx_bytes,"
    " block_read_bytes, block_write_bytes, pids FROM samples WHERE t >= ?1 ORDER BY id, t";

static const int hst_gauges[4] = {SH_CPU, SH_MEM, SH_MEM_PCT, SH_PIDS};

/* The aggregate being made: one container, one slot of one tier. */
typedef struct hst_acc {
    uint32_t idx;
    int fine;                  /* a slot of the first tier */
    double span, key;          /* the slot's length and start */
    double t;                  /* its first sample's time */
    uint32_t count;
    double sum[4], lo[2], hi[2], ctr[4];
} hst_acc;

static hst_loaded *hst_load_slot(hst_job *j)
{
    if (j->nout == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        hst_loaded *n = realloc(j->out, cap * sizeof *n);
        if (!n) {
            snprintf(j->err, sizeof j->err, "out of memory reading back");
            j->failed = 1;
            return NULL;
        }
        j->out = n;
        j->cap = cap;
    }
    return &j->out[j->nout++];
}

static void hst_acc_emit(hst_job *j, hst_acc *a)
{
    if (!a->count)
        return;
    hst_loaded *r = hst_load_slot(j);
    if (r) {
        /* a first-tier slot of one sample is that sample; an aggregate is
         * placed by its first sample's time, which no rounding of the
         * slot's start can put in the slot before */
        int one = a->fine && a->count == 1;
        r->idx = a->idx;
        r->t = a->t;
        r->span = one ? 0 : (float)a->span;
        r->count = a->count;
        for (int k = 0; k < 4; k++) {
            r->avg[k] = (float)(a->sum[k] / a->count);
            r->ctr[k] = a->ctr[k];
        }
        for (int k = 0; k < 2; k++) {
            r->lo[k] = (float)a->lo[k];
            r->hi[k] = (float)a->hi[k];
        }
    }
    a->count = 0;
}

/* The tier a sample of time t is read back into: the finest that reaches
 * it (the coarsest for what none reaches). */
static int hst_tier_of(const hst_job *j, double t)
{
    const sh_layout *l = &j->lay;
    for (int i = 0; i < l->ntiers; i++)
        if (t >= j->now - l->cap[i] * l->step[i])
            return i;
    return l->ntiers - 1;
}

/* Samples are gathered by the slot of the tier they are read back into,
 * even in the first tier: a database denser than the monitor's interval
 * reads back at most one row per slot. */
static void hst_load_row(hst_job *j, hst_acc *a, uint32_t idx, double t, const double v[SH_METRICS])
{
    int tier = hst_tier_of(j, t);
    double span = j->lay.step[tier];
    double key = stats_history_slot(span, t);
    if (a->count && (a->idx != idx || a->span != span || a->key != key))
        hst_acc_emit(j, a);
    if (!a->count) {
        a->idx = idx;
        a->span = span;
        a->key = key;
        a->fine = tier == 0;
        a->t = t;
        for (int k = 0; k < 4; k++)
            a->sum[k] = 0;
        for (int k = 0; k < 2; k++)
            a->lo[k] = a->hi[k] = v[k == 0 ? SH_CPU : SH_MEM];
    }
    a->count++;
    for (int k = 0; k < 4; k++) {
        a->sum[k] += v[hst_gauges[k]];
        a->ctr[k] = v[SH_NET_RX + k];
    }
    for (int k = 0; k < 2; k++) {
        double x = v[k == 0 ? SH_CPU : SH_MEM];
        a->lo[k] = fmin(a->lo[k], x);
        a->hi[k] = fmax(a->hi[k], x);
    }
}

static void hst_do_load(hst_job *j)
{
    sqlite3 *db = j->st->db;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, hst_load_sql, -1, &s, NULL) != SQLITE_OK) {
        hst_fail(j, "read back");
        return;
    }
    sqlite3_bind_double(s, 1, j->now - j->st->retention);
    hst_acc acc = {0};
    int rc = SQLITE_DONE;
    while (!j->failed && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        if (!id)
            continue;
        uint32_t idx = hst_load_id(j, id);
        if (idx == UINT32_MAX) {
            snprintf(j->err, sizeof j->err, "out of memory reading back");
            j->failed = 1;
            break;
        }
        double v[SH_METRICS];
        for (int m = 0; m < SH_METRICS; m++)
            v[m] = sqlite3_column_double(s, 2 + m);
        hst_load_row(j, &acc, idx, sqlite3_column_double(s, 1), v);
    }
    if (!j->failed)
        hst_acc_emit(j, &acc);
    if (!j->failed && rc != SQLITE_DONE)
        hst_fail(j, "read back");
    sqlite3_finalize(s);
    /* names and images */
    if (j->failed || sqlite3_prepare_v2(db, "SELECT id, name, image FROM containers", -1, &s, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        for (size_t i = 0; id && i < j->nids; i++) {
            if (strcmp(j->ids[i].id, id) != 0)
                continue;
            const char *name = (const char *)sqlite3_column_text(s, 1), *image = (const char *)sqlite3_column_text(s, 2);
            snprintf(j->ids[i].name, sizeof j->ids[i].name, "%s", name ? name : "");
            snprintf(j->ids[i].image, sizeof j->ids[i].image, "%s", image ? image : "");
        }
    }
    sqlite3_finalize(s);
}

static void hst_work(uv_work_t *req)
{
    hst_job *j = req->data;
    hst_store *st = j->st;
    if (j->kind == JOB_OPEN) {
        hst_do_open(j);
        return;
    }
    if (!st->db) {
        j->failed = 1;
        snprintf(j->err, sizeof j->err, "the store is not open");
        return;
    }
    if (j->kind == JOB_WRITE)
        hst_do_write(j);
    else if (j->kind == JOB_LOAD)
        hst_do_load(j);
    else {
        sqlite3_close(st->db);
        st->db = NULL;
    }
}

/* Back on the loop. */
static void hst_after(uv_work_t *req, int status)
{
    hst_job *j = req->data;
    hst_store *st = j->st;
    (void)status;
    st->running = NULL;
    j->done = 1;
    if (j->kind == JOB_OPEN)
        st->open_ok = !j->failed;
    if (j->kind == JOB_WRITE) {
        if (j->failed) {
            st->failed_batches++;
            st->dropped += j->nrows;
        } else {
            st->written += j->nrows;
        }
    }
    if (j->failed)
        snprintf(st->last_error, sizeof st->last_error, "%s", j->err);
    int keep = j->waited && !j->orphaned; /* the waiting task reads and frees it */
    if (keep)
        task_wake(&j->wait);
    else
        hst_job_free(j);
    hst_run_next(st);
    hst_unref(st);
}

static void hst_run_next(hst_store *st)
{
    if (st->running || !st->queue_head)
        return;
    hst_job *j = st->queue_head;
    st->queue_head = j->next;
    if (!st->queue_head)
        st->queue_tail = NULL;
    st->running = j;
    j->req.data = j;
    if (uv_queue_work(loop_get(), &j->req, hst_work, hst_after) != 0) {
        j->failed = 1;
        snprintf(j->err, sizeof j->err, "cannot queue work");
        hst_after(&j->req, 0);
    }
}

static hst_job *hst_job_new(hst_store *st, int kind)
{
    hst_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->st = st;
    j->kind = kind;
    j->now = loop_wall_now();
    return j;
}

/* Queues a job filled in completely: it may start on another thread at once. */
static hst_job *hst_enqueue(hst_store *st, hst_job *j)
{
    st->refs++;
    if (st->queue_tail)
        st->queue_tail->next = j;
    else
        st->queue_head = j;
    st->queue_tail = j;
    hst_run_next(st);
    return j;
}

static hst_job *hst_submit(hst_store *st, int kind)
{
    hst_job *j = hst_job_new(st, kind);
    return j ? hst_enqueue(st, j) : NULL;
}

/* ---- the batch ---- */

static hst_meta *hst_known(hst_store *st, const char *id)
{
    for (size_t i = 0; i < st->nknown; i++)
        if (strcmp(st->known[i].id, id) == 0)
            return &st->known[i];
    if (st->nknown >= HST_MAX_KNOWN)
        return NULL;
    if (!st->known && !(st->known = calloc(HST_MAX_KNOWN, sizeof *st->known)))
        return NULL;
    hst_meta *m = &st->known[st->nknown++];
    snprintf(m->id, sizeof m->id, "%s", id);
    m->dirty = 1;
    return m;
}

static void hst_append(void *ud, const char *id, const char *name, const char *image, double t,
                       const double row[SH_METRICS])
{
    hst_store *st = ud;
    if (st->closed || !st->open_ok)
        return;
    if (st->npending >= st->max_pending) {
        st->dropped++;
        return;
    }
    if (st->npending == st->cap_pending) {
        size_t cap = st->cap_pending ? st->cap_pending * 2 : 256;
        if (cap > st->max_pending)
            cap = st->max_pending;
        hst_row *n = realloc(st->pending, cap * sizeof *n);
        if (!n) {
            st->dropped++;
            return;
        }
        st->pending = n;
        st->cap_pending = cap;
    }
    hst_row *r = &st->pending[st->npending++];
    snprintf(r->id, sizeof r->id, "%s", id);
    r->t = t;
    memcpy(r->v, row, sizeof r->v);
    hst_meta *m = hst_known(st, id);
    if (m && ((name && strcmp(m->name, name) != 0) || (image && strcmp(m->image, image) != 0))) {
        snprintf(m->name, sizeof m->name, "%s", name ? name : "");
        snprintf(m->image, sizeof m->image, "%s", image ? image : "");
        m->dirty = 1;
    }
}

/* Hands the pending samples to a write job; NULL when there are none. */
static hst_job *hst_flush(hst_store *st)
{
    if (!st->npending || !st->open_ok)
        return NULL;
    hst_job *j = hst_job_new(st, JOB_WRITE);
    if (!j)
        return NULL;
    j->rows = st->pending;
    j->nrows = st->npending;
    st->pending = NULL;
    st->npending = st->cap_pending = 0;
    size_t dirty = 0;
    for (size_t i = 0; i < st->nknown; i++)
        dirty += st->known[i].dirty;
    if (dirty && (j->metas = malloc(dirty * sizeof *j->metas))) {
        for (size_t i = 0; i < st->nknown; i++)
            if (st->known[i].dirty) {
                j->metas[j->nmetas++] = st->known[i];
                st->known[i].dirty = 0;
            }
    }
    return hst_enqueue(st, j);
}

static void hst_on_timer(uv_timer_t *t)
{
    hst_store *st = t->data;
    /* one write at a time: while one runs, samples gather for the next */
    if (!st->running || st->running->kind != JOB_WRITE)
        hst_flush(st);
}

static void hst_close(hst_store *st)
{
    if (st->closed)
        return;
    hst_flush(st);
    st->closed = 1;
    if (st->timer) {
        loop_close_free((uv_handle_t *)st->timer);
        st->timer = NULL;
    }
    if (st->open_ok)
        hst_submit(st, JOB_CLOSE);
}

/* ---- Lua ---- */

typedef struct hst_handle {
    hst_store *st;
} hst_handle;

static hst_store *hst_check(lua_State *L, int idx)
{
    hst_handle *h = luaL_checkudata(L, idx, HST_MT);
    return h->st;
}

static void hst_wait_cancel(task_wait *w)
{
    hst_job *j = (hst_job *)((char *)w - offsetof(hst_job, wait));
    if (j->done)
        hst_job_free(j);
    else
        j->orphaned = 1; /* freed when it completes */
}

static int hst_wait(lua_State *L, hst_job *j, lua_KFunction k)
{
    j->waited = 1;
    j->wait.cancel = hst_wait_cancel;
    return task_yield(L, &j->wait, k, (lua_KContext)j);
}

static int hst_open_k(lua_State *L, int status, lua_KContext ctx)
{
    hst_job *j = (hst_job *)ctx;
    hst_store *st = j->st;
    (void)status;
    if (j->failed) {
        lua_pushnil(L);
        lua_pushfstring(L, "history store %s: %s", st->path, j->err);
        hst_job_free(j);
        hst_close(st);
        return 2;
    }
    hst_job_free(j);
    lua_settop(L, 3); /* the handle */
    return 1;
}

static lua_Number hst_num(lua_State *L, int t, const char *k, lua_Number dflt)
{
    if (lua_type(L, t) != LUA_TTABLE)
        return dflt;
    lua_getfield(L, t, k);
    lua_Number v = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    return v;
}

/* history_store(path, opts) -> store | nil, message */
static int hst_l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double retention = hst_num(L, 2, "retention", 3600);
    double flush = hst_num(L, 2, "flush_interval", 5);
    double maxp = hst_num(L, 2, "max_pending", 100000);
    luaL_argcheck(L, retention > 0 && retention <= 400 * 86400.0, 2, "retention must be up to 400 days");
    luaL_argcheck(L, flush >= 0.05 && flush <= 3600, 2, "flush_interval must be 0.05..3600 seconds");
    luaL_argcheck(L, maxp >= 1 && maxp <= 1e7, 2, "max_pending must be 1..10000000");
    task_check_wait(L, "history_store");
    lua_settop(L, 2);
    hst_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->st = NULL;
    luaL_setmetatable(L, HST_MT);
    hst_store *st = calloc(1, sizeof *st);
    char *p = strdup(path);
    uv_timer_t *t = malloc(sizeof *t);
    if (!st || !p || !t) {
        free(st);
        free(p);
        free(t);
        return luaL_error(L, "out of memory");
    }
    st->refs = 1;
    st->path = p;
    st->retention = retention;
    st->max_pending = (size_t)maxp;
    st->timer = t;
    uv_timer_init(loop_get(), t);
    t->data = st;
    uv_timer_start(t, hst_on_timer, (uint64_t)(flush * 1000), (uint64_t)(flush * 1000));
    uv_unref((uv_handle_t *)t); /* pending writes alone don't keep a script running */
    h->st = st;
    hst_job *j = hst_submit(st, JOB_OPEN);
    if (!j)
        return luaL_error(L, "out of memory");
    return hst_wait(L, j, hst_open_k);
}

/* store:attach(monitor): what the monitor keeps is written too. */
static int hst_l_attach(lua_State *L)
{
    hst_store *st = hst_check(L, 1);
    sm_monitor *m = stats_monitor_check(L, 2);
    luaL_argcheck(L, st && !st->closed, 1, "the history store is closed");
    stats_monitor_set_sink(m, hst_append, st);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 2, 2); /* the monitor keeps the store alive */
    return 0;
}

static int hst_load_k(lua_State *L, int status, lua_KContext ctx)
{
    hst_job *j = (hst_job *)ctx;
    (void)status;
    if (j->failed) {
        lua_pushnil(L);
        lua_pushfstring(L, "history store %s: %s", j->st->path, j->err);
        hst_job_free(j);
        return 2;
    }
    sm_monitor *m = stats_monitor_check(L, 2);
    lua_Integer n = 0;
    for (size_t i = 0; i < j->nout; i++) {
        const hst_loaded *r = &j->out[i];
        const hst_meta *meta = &j->ids[r->idx];
        sh_point p = {.t = r->t, .count = r->count};
        for (int k = 0; k < 4; k++) {
            int g = hst_gauges[k], c = SH_NET_RX + k;
            p.avg[g] = p.min[g] = p.max[g] = p.last[g] = r->avg[k];
            p.avg[c] = p.min[c] = p.max[c] = p.last[c] = r->ctr[k];
        }
        p.min[SH_CPU] = r->lo[0];
        p.max[SH_CPU] = r->hi[0];
        p.min[SH_MEM] = r->lo[1];
        p.max[SH_MEM] = r->hi[1];
        if (stats_monitor_restore(m, meta->id, meta->name, meta->image, &p, r->span) == 0)
            n += r->count;
    }
    hst_job_free(j);
    lua_pushinteger(L, n);
    return 1;
}

/* store:load(monitor) -> rows | nil, message */
static int hst_l_load(lua_State *L)
{
    hst_store *st = hst_check(L, 1);
    sm_monitor *m = stats_monitor_check(L, 2);
    luaL_argcheck(L, st && !st->closed, 1, "the history store is closed");
    task_check_wait(L, "history_store:load");
    lua_settop(L, 2);
    hst_job *j = hst_job_new(st, JOB_LOAD);
    if (!j)
        return luaL_error(L, "out of memory");
    j->lay = *stats_monitor_layout(m);
    hst_enqueue(st, j);
    return hst_wait(L, j, hst_load_k);
}

static int hst_flush_k(lua_State *L, int status, lua_KContext ctx)
{
    hst_job *j = (hst_job *)ctx;
    (void)status;
    int failed = j->failed;
    lua_pushboolean(L, !failed);
    if (failed)
        lua_pushstring(L, j->err);
    hst_job_free(j);
    return failed ? 2 : 1;
}

/* store:flush() -> true | false, message: writes what is pending now */
static int hst_l_flush(lua_State *L)
{
    hst_store *st = hst_check(L, 1);
    luaL_argcheck(L, st && !st->closed, 1, "the history store is closed");
    task_check_wait(L, "history_store:flush");
    hst_job *j = hst_flush(st);
    if (!j) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return hst_wait(L, j, hst_flush_k);
}

static void hst_set(lua_State *L, const char *k, double v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static int hst_l_stats(lua_State *L)
{
    hst_store *st = hst_check(L, 1);
    lua_createtable(L, 0, 5);
    if (!st)
        return 1;
    hst_set(L, "written", (double)st->written);
    hst_set(L, "dropped", (double)st->dropped);
    hst_set(L, "failed_batches", (double)st->failed_batches);
    hst_set(L, "pending", (double)st->npending);
    if (st->last_error[0]) {
        lua_pushstring(L, st->last_error);
        lua_setfield(L, -2, "last_error");
    }
    return 1;
}

static int hst_l_close(lua_State *L)
{
    hst_store *st = hst_check(L, 1);
    if (st)
        hst_close(st);
    return 0;
}

static int hst_l_gc(lua_State *L)
{
    hst_handle *h = luaL_checkudata(L, 1, HST_MT);
    if (h->st) {
        hst_close(h->st);
        hst_unref(h->st);
        h->st = NULL;
    }
    return 0;
}

void history_store_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"attach", hst_l_attach}, {"load", hst_l_load}, {"flush", hst_l_flush},
        {"stats", hst_l_stats},   {"close", hst_l_close}, {NULL, NULL},
    };
    luaL_newmetatable(L, HST_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, hst_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, hst_l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, hst_l_open);
    lua_setfield(L, -2, "history_store");
}
