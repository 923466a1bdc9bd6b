/* stats_history — tiered rings of resource samples (see stats_history.h).
 *
 * Gauges (CPU, memory, pids) are floats: a history is kept for hundreds of
 * containers, and seven significant digits are more than a chart or an
 * alert needs. The byte counters are doubles: they are cumulative, a
 * float would lose their low bits past 16 MiB, and a rate is the
 * difference of two of them. Buckets are counted from 2020 so that 32
 * bits last a century even at a 0.1 s interval; 0 marks an empty slot. */
#include "stats_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SH_EPOCH 1577836800.0  /* 2020-01-01T00:00:00Z */
#define SH_GAUGES 4            /* cpu, memory, memory percent, pids */
#define SH_COUNTERS 4          /* network rx/tx, block read/write */
#define SH_EXTRA 4             /* aggregated tiers: min/max of CPU and memory */
#define SH_FINE_SPAN 900.0
#define SH_MID_SPAN 21600.0

typedef struct sh_tier {
    double step;
    uint32_t cap, gstride;
    uint32_t newest;           /* newest bucket written, 0 before any */
    uint32_t *bucket;
    uint16_t *count;           /* NULL in the first tier (one sample a slot) */
    float *g;                  /* gauges (means), then the extras */
    double *c;                 /* counters: the last value of the slot */
} sh_tier;

struct stats_history {
    int ntiers;
    size_t bytes;
    sh_tier tier[SH_MAX_TIERS];
};

static const char *const sh_names[SH_METRICS] = {
    "cpu_percent", "memory_usage_bytes", "memory_percent", "network_rx_bytes",
    "network_tx_bytes", "block_read_bytes", "block_write_bytes", "pids",
};

/* metric -> its place among the gauges, or -1 for a counter */
static const int sh_gauge[SH_METRICS] = {0, 1, 2, -1, -1, -1, -1, 3};

const char *stats_history_metric_name(int m)
{
    return m >= 0 && m < SH_METRICS ? sh_names[m] : NULL;
}

int stats_history_metric(const char *name)
{
    for (int m = 0; m < SH_METRICS; m++)
        if (strcmp(sh_names[m], name) == 0)
            return m;
    return -1;
}

int stats_history_is_counter(int m)
{
    return m >= 0 && m < SH_METRICS && sh_gauge[m] < 0;
}

/* ---- layout ---- */

static uint32_t sh_slots(double span, double step)
{
    double n = ceil(span / step - 1e-9);
    return n < 1 ? 1 : (uint32_t)n;
}

int stats_history_layout(sh_layout *lay, double interval, double retention)
{
    memset(lay, 0, sizeof *lay);
    if (!(interval >= 0.1 && interval <= 3600) || !(retention >= interval && retention <= 400 * 86400.0))
        return -1;
    double fine = interval >= 60 ? retention : fmin(retention, SH_FINE_SPAN);
    lay->step[0] = interval;
    lay->cap[0] = sh_slots(fine, interval);
    lay->ntiers = 1;
    if (retention > fine) {
        lay->step[1] = 60;
        lay->cap[1] = sh_slots(fmin(retention, SH_MID_SPAN), 60);
        lay->ntiers = 2;
    }
    if (retention > SH_MID_SPAN && interval < 60) {
        lay->step[2] = 300;
        lay->cap[2] = sh_slots(retention, 300);
        lay->ntiers = 3;
    }
    return 0;
}

static size_t sh_tier_bytes(const sh_layout *lay, int i)
{
    size_t gstride = SH_GAUGES + (i > 0 ? SH_EXTRA : 0);
    size_t per = sizeof(uint32_t) + (i > 0 ? sizeof(uint16_t) : 0) + gstride * sizeof(float) +
                 SH_COUNTERS * sizeof(double);
    return per * lay->cap[i];
}

size_t stats_history_layout_bytes(const sh_layout *lay)
{
    size_t n = sizeof(stats_history);
    for (int i = 0; i < lay->ntiers; i++)
        n += sh_tier_bytes(lay, i);
    return n;
}

/* ---- lifetime ---- */

stats_history *stats_history_new(const sh_layout *lay)
{
    if (lay->ntiers < 1 || lay->ntiers > SH_MAX_TIERS)
        return NULL;
    stats_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ntiers = lay->ntiers;
    h->bytes = stats_history_layout_bytes(lay);
    for (int i = 0; i < lay->ntiers; i++) {
        sh_tier *t = &h->tier[i];
        t->step = lay->step[i];
        t->cap = lay->cap[i];
        t->gstride = SH_GAUGES + (i > 0 ? SH_EXTRA : 0);
        t->bucket = calloc(t->cap, sizeof *t->bucket);
        t->g = calloc((size_t)t->cap * t->gstride, sizeof *t->g);
        t->c = calloc((size_t)t->cap * SH_COUNTERS, sizeof *t->c);
        t->count = i > 0 ? calloc(t->cap, sizeof *t->count) : NULL;
        if (!t->bucket || !t->g || !t->c || (i > 0 && !t->count)) {
            stats_history_free(h);
            return NULL;
        }
    }
    return h;
}

void stats_history_free(stats_history *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->ntiers; i++) {
        free(h->tier[i].bucket);
        free(h->tier[i].count);
        free(h->tier[i].g);
        free(h->tier[i].c);
    }
    free(h);
}

size_t stats_history_bytes(const stats_history *h)
{
    return h ? h->bytes : 0;
}

/* ---- writing ---- */

static uint32_t sh_bucket(const sh_tier *t, double when)
{
    double b = floor((when - SH_EPOCH) / t->step);
    if (b < 0)
        return 0;
    if (b >= 4294967294.0)
        return UINT32_MAX - 1;
    return (uint32_t)b + 1;
}

static double sh_bucket_time(const sh_tier *t, uint32_t b)
{
    return SH_EPOCH + (double)(b - 1) * t->step;
}

double stats_history_slot(double step, double t)
{
    return SH_EPOCH + floor((t - SH_EPOCH) / step) * step;
}

/* Folds p (p->count samples, in time order after what the slot holds)
 * into bucket b: gauges by their count-weighted mean, CPU and memory
 * extremes, counters by their last value. */
static void sh_tier_put(sh_tier *t, uint32_t b, const sh_point *p)
{
    uint32_t slot = b % t->cap;
    float *g = t->g + (size_t)slot * t->gstride;
    double *c = t->c + (size_t)slot * SH_COUNTERS;
    if (t->bucket[slot] != b) {
        t->bucket[slot] = b;
        if (t->count)
            t->count[slot] = 0;
    }
    if (b > t->newest)
        t->newest = b;
    for (int m = 0; m < SH_METRICS; m++)
        if (sh_gauge[m] < 0)
            c[m - SH_NET_RX] = p->last[m];
    if (!t->count) {
        for (int m = 0; m < SH_METRICS; m++)
            if (sh_gauge[m] >= 0)
                g[sh_gauge[m]] = (float)p->avg[m];
        return;
    }
    uint32_t had = t->count[slot];
    if (had == UINT16_MAX)
        return; /* a slot this full has its mean already */
    uint32_t add = p->count ? p->count : 1;
    if (add > UINT16_MAX - had)
        add = UINT16_MAX - had;
    uint32_t n = had + add;
    t->count[slot] = (uint16_t)n;
    for (int m = 0; m < SH_METRICS; m++)
        if (sh_gauge[m] >= 0)
            g[sh_gauge[m]] = (float)(((double)g[sh_gauge[m]] * had + p->avg[m] * add) / n);
    float *ex = g + SH_GAUGES; /* min cpu, max cpu, min mem, max mem */
    for (int k = 0; k < 2; k++) {
        int m = k == 0 ? SH_CPU : SH_MEM;
        float lo = (float)p->min[m], hi = (float)p->max[m];
        if (had == 0 || lo < ex[2 * k])
            ex[2 * k] = lo;
        if (had == 0 || hi > ex[2 * k + 1])
            ex[2 * k + 1] = hi;
    }
}

int stats_history_restore(stats_history *h, const sh_point *p, double span)
{
    int taken = 0;
    for (int i = 0; i < h->ntiers; i++) {
        sh_tier *tier = &h->tier[i];
        /* an aggregate fits only slots at least as long as it */
        if (span > tier->step + 1e-9)
            continue;
        uint32_t b = sh_bucket(tier, p->t);
        if (b == 0)
            continue;
        /* a slot already reused for a newer bucket, or older than the ring */
        if (tier->bucket[b % tier->cap] > b || (tier->newest >= tier->cap && b <= tier->newest - tier->cap))
            continue;
        sh_tier_put(tier, b, p);
        taken = 1;
    }
    return taken ? 0 : -1;
}

int stats_history_add(stats_history *h, double t, const double v[SH_METRICS])
{
    sh_point p = {.t = t, .count = 1};
    for (int m = 0; m < SH_METRICS; m++)
        p.avg[m] = p.min[m] = p.max[m] = p.last[m] = v[m];
    return stats_history_restore(h, &p, 0);
}

/* ---- reading ---- */

/* The oldest bucket a tier holds, 0 when empty. */
static uint32_t sh_oldest(const sh_tier *t)
{
    if (!t->newest)
        return 0;
    uint32_t first = t->newest >= t->cap ? t->newest - t->cap + 1 : 1;
    for (uint32_t b = first; b <= t->newest; b++)
        if (t->bucket[b % t->cap] == b)
            return b;
    return 0;
}

static uint32_t sh_count(const sh_tier *t, uint32_t b)
{
    uint32_t slot = b % t->cap;
    if (t->bucket[slot] != b)
        return 0;
    return t->count ? t->count[slot] : 1;
}

static void sh_point_of(const sh_tier *t, uint32_t b, sh_point *p)
{
    uint32_t slot = b % t->cap;
    const float *g = t->g + (size_t)slot * t->gstride;
    const double *c = t->c + (size_t)slot * SH_COUNTERS;
    p->t = sh_bucket_time(t, b);
    p->count = sh_count(t, b);
    for (int m = 0; m < SH_METRICS; m++) {
        double x = sh_gauge[m] >= 0 ? g[sh_gauge[m]] : c[m - SH_NET_RX];
        p->avg[m] = p->min[m] = p->max[m] = p->last[m] = x;
    }
    if (t->count) {
        const float *ex = g + SH_GAUGES;
        p->min[SH_CPU] = ex[0];
        p->max[SH_CPU] = ex[1];
        p->min[SH_MEM] = ex[2];
        p->max[SH_MEM] = ex[3];
    }
}

/* How many samples the tiers finer than i hold in [from, to): each holds
 * what it holds of the window, so the finest-reaching one holds the most. */
static uint32_t sh_finer_count(const stats_history *h, int i, double from, double to)
{
    uint32_t most = 0;
    for (int j = 0; j < i; j++) {
        const sh_tier *t = &h->tier[j];
        uint32_t n = 0;
        for (uint32_t b = sh_bucket(t, from); b && sh_bucket_time(t, b) < to && b <= t->newest; b++)
            n += sh_count(t, b);
        if (n > most)
            most = n;
    }
    return most;
}

/* Merges points into step-long buckets before they reach the caller. */
typedef struct sh_merge {
    double step;
    int have, stop;
    double key;
    sh_point acc;
    sh_point_fn fn;
    void *ud;
    size_t given;
} sh_merge;

static void sh_merge_flush(sh_merge *mg)
{
    if (!mg->have || mg->stop)
        return;
    mg->have = 0;
    mg->given++;
    if (mg->fn(mg->ud, &mg->acc))
        mg->stop = 1;
}

static void sh_merge_add(sh_merge *mg, const sh_point *p)
{
    if (mg->stop)
        return;
    if (mg->step <= 0) {
        mg->given++;
        if (mg->fn(mg->ud, p))
            mg->stop = 1;
        return;
    }
    double key = floor(p->t / mg->step);
    if (mg->have && key != mg->key)
        sh_merge_flush(mg);
    if (!mg->have) {
        mg->acc = *p;
        mg->acc.t = key * mg->step;
        mg->key = key;
        mg->have = 1;
        return;
    }
    sh_point *a = &mg->acc;
    double n = (double)a->count + p->count;
    for (int m = 0; m < SH_METRICS; m++) {
        if (sh_gauge[m] < 0)
            a->avg[m] = p->last[m]; /* a counter's value is where it ended */
        else if (n > 0)
            a->avg[m] = (a->avg[m] * a->count + p->avg[m] * p->count) / n;
        a->min[m] = fmin(a->min[m], p->min[m]);
        a->max[m] = fmax(a->max[m], p->max[m]);
        a->last[m] = p->last[m];
    }
    a->count = (uint32_t)n;
}

size_t stats_history_query(const stats_history *h, double since, double until, double step, sh_point_fn fn,
                           void *ud)
{
    sh_merge mg = {.step = step, .fn = fn, .ud = ud};
    if (!h || until < since)
        return 0;
    double cursor = since; /* nothing before this is given again */
    for (int i = h->ntiers - 1; i >= 0 && !mg.stop; i--) {
        const sh_tier *t = &h->tier[i];
        uint32_t oldest = sh_oldest(t);
        if (!oldest)
            continue;
        /* what a finer tier holds comes from there */
        double finer = INFINITY;
        for (int j = 0; j < i; j++) {
            uint32_t o = sh_oldest(&h->tier[j]);
            if (o && sh_bucket_time(&h->tier[j], o) < finer)
                finer = sh_bucket_time(&h->tier[j], o);
        }
        uint32_t from = sh_bucket(t, cursor);
        if (from < oldest)
            from = oldest;
        for (uint32_t b = from; b && b <= t->newest && !mg.stop; b++) {
            double bt = sh_bucket_time(t, b);
            if (bt > until)
                break;
            if (t->bucket[b % t->cap] != b || bt < cursor)
                continue;
            /* a slot the finer tiers hold all of is left to them; one they
             * hold only the end of is given whole, and they skip that end */
            if (bt + t->step > finer &&
                (bt >= finer || sh_count(t, b) <= sh_finer_count(h, i, bt, bt + t->step)))
                break;
            sh_point p;
            sh_point_of(t, b, &p);
            sh_merge_add(&mg, &p);
            cursor = bt + t->step;
        }
    }
    sh_merge_flush(&mg);
    return mg.given;
}

typedef struct sh_sum_acc {
    int metric;
    sh_summary *s;
    double total;
} sh_sum_acc;

static int sh_sum_point(void *ud, const sh_point *p)
{
    sh_sum_acc *a = ud;
    sh_summary *s = a->s;
    int m = a->metric;
    if (s->count == 0 || p->min[m] < s->min)
        s->min = p->min[m];
    if (s->count == 0 || p->max[m] > s->max)
        s->max = p->max[m];
    s->count += p->count;
    a->total += p->avg[m] * p->count;
    s->last = p->last[m];
    return 0;
}

void stats_history_summary(const stats_history *h, int metric, double since, double until, sh_summary *out)
{
    memset(out, 0, sizeof *out);
    if (metric < 0 || metric >= SH_METRICS)
        return;
    sh_sum_acc a = {.metric = metric, .s = out};
    stats_history_query(h, since, until, 0, sh_sum_point, &a);
    if (out->count)
        out->avg = a.total / (double)out->count;
}
