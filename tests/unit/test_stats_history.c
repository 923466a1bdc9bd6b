/* Unit tests for stats_history.c: tiers laid out from interval and
 * retention, a known sequence read back exactly, downsampling, summaries
 * across tiers, rings that wrap, the memory bound, a day and an hour
 * across all three tiers and their edges, counters kept exactly, and a
 * history restored from aggregates equal to the one made live. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_history.h"
#include "tap.h"

#define T0 1795200000.0 /* a 10-minute boundary */

static void fill(double *v, double cpu, double mem)
{
    for (int m = 0; m < SH_METRICS; m++)
        v[m] = m;
    v[SH_CPU] = cpu;
    v[SH_MEM] = mem;
}

typedef struct collect {
    sh_point p[4096];
    size_t n;
} collect;

static int collect_point(void *ud, const sh_point *p)
{
    collect *c = ud;
    if (c->n < 4096)
        c->p[c->n++] = *p;
    return 0;
}

static void test_layout(void)
{
    sh_layout lay;
    ok(stats_history_layout(&lay, 1, 3600) == 0, "layout 1 s / 1 h");
    is_int(lay.ntiers, 2, "two tiers for an hour");
    is_int(lay.cap[0], 900, "15 min of 1 s samples");
    is_int(lay.cap[1], 60, "an hour of minutes");
    ok(stats_history_layout(&lay, 1, 86400) == 0, "layout 1 s / 1 day");
    is_int(lay.ntiers, 3, "three tiers for a day");
    is_int(lay.cap[1], 360, "6 h of minutes");
    is_int(lay.cap[2], 288, "a day of 5 min");
    size_t day = stats_history_layout_bytes(&lay);
    ok(day * 100 < 10u << 20, "a day for 100 containers fits in 10 MB (%zu bytes each)", day);
    ok(stats_history_layout(&lay, 10, 60) == 0 && lay.ntiers == 1 && lay.cap[0] == 6, "short retention: one tier");
    ok(stats_history_layout(&lay, 0, 60) == -1, "interval 0 refused");
    ok(stats_history_layout(&lay, 5, 1) == -1, "retention below interval refused");
    ok(stats_history_metric("memory_usage_bytes") == SH_MEM && stats_history_metric("nope") == -1, "metric names");
}

static void test_known_sequence(void)
{
    sh_layout lay;
    stats_history_layout(&lay, 1, 3600);
    stats_history *h = stats_history_new(&lay);
    double v[SH_METRICS];
    for (int i = 0; i < 10; i++) {
        fill(v, i * 10.0, 1000 + i);
        ok(stats_history_add(h, T0 + i + 0.3, v) == 0, "add %d", i);
    }
    collect *c = calloc(1, sizeof *c);
    size_t n = stats_history_query(h, T0, T0 + 100, 0, collect_point, c);
    is_int(n, 10, "ten points back");
    ok(c->p[0].t == T0 && c->p[9].t == T0 + 9, "bucket times");
    ok(c->p[3].avg[SH_CPU] == 30 && c->p[3].avg[SH_MEM] == 1003, "values kept");
    c->n = 0;
    n = stats_history_query(h, T0 + 2, T0 + 4, 0, collect_point, c);
    is_int(n, 3, "since/until bound the answer");
    c->n = 0;
    n = stats_history_query(h, T0, T0 + 100, 5, collect_point, c);
    is_int(n, 2, "step 5 merges into two points");
    ok(c->p[0].avg[SH_CPU] == 20 && c->p[0].min[SH_CPU] == 0 && c->p[0].max[SH_CPU] == 40 && c->p[0].count == 5,
       "first merged point: avg 20 min 0 max 40 (got %g %g %g)", c->p[0].avg[SH_CPU], c->p[0].min[SH_CPU],
       c->p[0].max[SH_CPU]);
    ok(c->p[1].last[SH_CPU] == 90, "last of the second");
    sh_summary s;
    stats_history_summary(h, SH_CPU, T0, T0 + 100, &s);
    ok(s.count == 10 && s.min == 0 && s.max == 90 && s.avg == 45 && s.last == 90, "summary over the sequence");
    stats_history_summary(h, SH_CPU, T0 + 5, T0 + 100, &s);
    ok(s.count == 5 && s.avg == 70, "summary over a window");
    stats_history_summary(h, SH_CPU, T0 + 500, T0 + 600, &s);
    ok(s.count == 0, "empty window");
    fill(v, 1, 1);
    ok(stats_history_add(h, T0 - 10000, v) == -1, "a sample older than every ring is refused");
    free(c);
    stats_history_free(h);
}

/* Two hours at 1 s: the first tier wraps (15 min), the minute tier keeps
 * the rest; a query over everything is one series without overlap. */
static void test_tiers(void)
{
    sh_layout lay;
    stats_history_layout(&lay, 1, 7200);
    stats_history *h = stats_history_new(&lay);
    double v[SH_METRICS];
    for (int i = 0; i < 7200; i++) {
        fill(v, (i % 60) < 30 ? 10 : 30, i);
        stats_history_add(h, T0 + i, v);
    }
    collect *c = calloc(1, sizeof *c);
    size_t n = stats_history_query(h, T0, T0 + 7200, 0, collect_point, c);
    is_int(n, 105 + 900, "105 minutes then 900 seconds");
    int ordered = 1;
    uint64_t samples = 0;
    for (size_t i = 0; i < c->n; i++) {
        samples += c->p[i].count;
        if (i && c->p[i].t <= c->p[i - 1].t)
            ordered = 0;
    }
    ok(ordered, "points strictly in time order");
    is_int(samples, 7200, "every sample counted once");
    ok(c->p[0].count == 60 && fabs(c->p[0].avg[SH_CPU] - 20) < 1e-3 && c->p[0].min[SH_CPU] == 10 && c->p[0].max[SH_CPU] == 30,
       "a minute's mean, min and max of CPU (got %g)", c->p[0].avg[SH_CPU]);
    sh_summary s;
    stats_history_summary(h, SH_CPU, T0, T0 + 7200, &s);
    ok(s.count == 7200 && s.min == 10 && s.max == 30 && fabs(s.avg - 20) < 1e-3, "summary over two hours (avg %g)", s.avg);
    stats_history_summary(h, SH_MEM, T0 + 7100, T0 + 7200, &s);
    ok(s.count == 100 && s.last == 7199 && s.min == 7100, "recent window from the fine tier");
    c->n = 0;
    n = stats_history_query(h, T0, T0 + 7200, 600, collect_point, c);
    is_int(n, 12, "step 600: twelve points");
    free(c);
    stats_history_free(h);
}

/* Samples that start mid-minute: the minute tier's partial slot must not
 * hide the first tier's samples. */
static void test_mid_slot(void)
{
    sh_layout lay;
    stats_history_layout(&lay, 1, 3600);
    stats_history *h = stats_history_new(&lay);
    double v[SH_METRICS];
    for (int i = 0; i < 3; i++) {
        fill(v, 10 + i, 0);
        stats_history_add(h, T0 + 30 + i, v);
    }
    collect *c = calloc(1, sizeof *c);
    is_int(stats_history_query(h, 0, T0 + 100, 0, collect_point, c), 3, "three samples, not one minute");
    sh_summary s;
    stats_history_summary(h, SH_CPU, T0, T0 + 100, &s);
    ok(s.count == 3 && s.last == 12 && s.min == 10, "summary from the samples");
    free(c);
    stats_history_free(h);
}

/* ---- a day and an hour at 1 s: all three tiers ---- */

#define DAY_N (86400 + 3600 + 37)
#define CTR0 5e9 /* a byte counter far past a float's 24 bits */

/* Sample i: CPU cycles through 0, 10, .., 60 and drifts by the hour, so
 * every slot has a distinct mean, minimum and maximum; memory climbs;
 * the counters climb by odd amounts a float could not hold. */
static void day_sample(int i, double *v)
{
    for (int m = 0; m < SH_METRICS; m++)
        v[m] = 0;
    v[SH_CPU] = (i % 7) * 10 + (i / 3600);
    v[SH_MEM] = 1e6 + i;
    v[SH_MEM_PCT] = (i % 5);
    v[SH_NET_RX] = CTR0 + (double)i * 1001;
    v[SH_NET_TX] = CTR0 + (double)i * 3;
    v[SH_BLK_READ] = (double)i * 7;
    v[SH_BLK_WRITE] = CTR0 * 3 + i;
    v[SH_PIDS] = 1 + i % 3;
}

/* The summary of CPU over samples [a, b), straight from the generator. */
static void day_expect(int a, int b, sh_summary *e)
{
    double v[SH_METRICS], sum = 0;
    memset(e, 0, sizeof *e);
    for (int i = a; i < b; i++) {
        day_sample(i, v);
        if (!e->count || v[SH_CPU] < e->min)
            e->min = v[SH_CPU];
        if (!e->count || v[SH_CPU] > e->max)
            e->max = v[SH_CPU];
        sum += v[SH_CPU];
        e->last = v[SH_CPU];
        e->count++;
    }
    e->avg = e->count ? sum / (double)e->count : 0;
}

/* A coarse slot keeps a gauge's mean, not its last value: `last` is
 * checked where the window ends in the finest tier. */
static int same_summary(const sh_summary *s, const sh_summary *e, int with_last)
{
    return s->count == e->count && fabs(s->avg - e->avg) < 1e-3 && s->min == e->min && s->max == e->max &&
           (!with_last || s->last == e->last);
}

/* Summaries of CPU over windows of 1200 s aligned on 5-minute slots: in
 * each tier's span, and across each edge between two tiers. */
static void day_windows(const stats_history *h, const char *what)
{
    /* T0 is 5-minute aligned, so i = 300k starts a 5-minute slot */
    int oldest = ((DAY_N - 1) / 300 - 287) * 300;                  /* the oldest 5-minute slot held */
    int mid = ((DAY_N - 1) / 60 - 359) * 60;                       /* the oldest minute held */
    int fine = DAY_N - 900;                                        /* the oldest second held */
    int starts[] = {oldest, oldest + 3000, mid / 300 * 300 - 600, mid / 300 * 300 + 3000,
                    fine / 300 * 300 - 600, DAY_N - DAY_N % 300 - 600};
    const char *names[] = {"the 5-minute tier's oldest", "the 5-minute tier", "the edge 5-minute/minute",
                           "the minute tier", "the edge minute/second", "the second tier"};
    for (size_t k = 0; k < sizeof starts / sizeof *starts; k++) {
        int a = starts[k], b = a + 1200 < DAY_N ? a + 1200 : DAY_N;
        sh_summary s, e;
        stats_history_summary(h, SH_CPU, T0 + a, T0 + b - 1, &s);
        day_expect(a, b, &e);
        ok(same_summary(&s, &e, b > fine), "%s: %s [%d, %d): count %llu/%llu avg %g/%g min %g/%g max %g/%g last %g/%g", what,
           names[k], a, b, (unsigned long long)s.count, (unsigned long long)e.count, s.avg, e.avg, s.min, e.min, s.max,
           e.max, s.last, e.last);
    }
    sh_summary s, e;
    stats_history_summary(h, SH_CPU, 0, T0 + DAY_N, &s);
    day_expect(oldest, DAY_N, &e);
    ok(same_summary(&s, &e, 1), "%s: everything held, each sample once: count %llu/%llu avg %g/%g", what,
       (unsigned long long)s.count, (unsigned long long)e.count, s.avg, e.avg);
    double v[SH_METRICS];
    day_sample(DAY_N - 1, v);
    stats_history_summary(h, SH_NET_RX, 0, T0 + DAY_N, &s);
    ok(s.last == v[SH_NET_RX] && s.max == v[SH_NET_RX], "%s: a counter's last and max exact (%.0f)", what, s.last);
}

/* The points of a query over everything: in order, without overlap, at
 * the resolution of the tier they come from, counters exact. */
static void day_points(const stats_history *h, const char *what)
{
    collect *c = calloc(1, sizeof *c);
    stats_history_query(h, 0, T0 + DAY_N, 0, collect_point, c);
    int ordered = 1, exact = 1;
    size_t by[3] = {0};
    double end = 0;
    for (size_t i = 0; i < c->n; i++) {
        const sh_point *p = &c->p[i];
        double span = p->count == 300 ? 300 : p->count == 60 ? 60 : 1;
        by[span == 300 ? 2 : span == 60 ? 1 : 0]++;
        if (p->t < end)
            ordered = 0;
        end = p->t + span;
        /* a slot's counter is its last sample's */
        double v[SH_METRICS];
        day_sample((int)(p->t - T0 + span - 1), v);
        for (int m = SH_NET_RX; m <= SH_BLK_WRITE; m++)
            if (p->avg[m] != v[m] || p->last[m] != v[m])
                exact = 0;
    }
    ok(ordered, "%s: points in order, none overlapping", what);
    ok(exact, "%s: every point's counters are its slot's last sample, exactly", what);
    /* 5-minute slots up to the one holding the minute tier's oldest, whole;
     * then minutes up to the one holding the fine tier's oldest, whole */
    int mid = ((DAY_N - 1) / 60 - 359) * 60, fine = DAY_N - 900;
    size_t want2 = (size_t)(mid / 300 + 1 - ((DAY_N - 1) / 300 - 287)), want1 = (size_t)(fine / 60 + 1 - (mid / 300 + 1) * 5);
    size_t want0 = (size_t)(DAY_N - (fine / 60 + 1) * 60);
    ok(by[2] == want2 && by[1] == want1 && by[0] == want0,
       "%s: %zu 5-minute, %zu minute, %zu 1-s points (want %zu, %zu, %zu)", what, by[2], by[1], by[0], want2, want1,
       want0);
    free(c);
}

static void test_day(void)
{
    sh_layout lay;
    stats_history_layout(&lay, 1, 86400);
    stats_history *h = stats_history_new(&lay);
    double v[SH_METRICS];
    for (int i = 0; i < DAY_N; i++) {
        day_sample(i, v);
        stats_history_add(h, T0 + i, v);
    }
    day_windows(h, "live");
    day_points(h, "live");
    stats_history_free(h);
}

/* What a store reads back: every sample within the first tier's reach,
 * minute aggregates within the minute tier's, 5-minute ones before. */
static void restore_span(stats_history *h, int a, int b, double span)
{
    sh_point p = {0};
    double v[SH_METRICS];
    for (int i = a; i < b;) {
        int end = span ? (int)((floor((T0 + i) / span) + 1) * span - T0) : i + 1;
        if (end > b)
            end = b;
        memset(&p, 0, sizeof p);
        p.t = span ? floor((T0 + i) / span) * span : T0 + i;
        double sum[SH_METRICS] = {0};
        for (int k = i; k < end; k++) {
            day_sample(k, v);
            for (int m = 0; m < SH_METRICS; m++) {
                sum[m] += v[m];
                if (!p.count || v[m] < p.min[m])
                    p.min[m] = v[m];
                if (!p.count || v[m] > p.max[m])
                    p.max[m] = v[m];
                p.last[m] = v[m];
            }
            p.count++;
        }
        for (int m = 0; m < SH_METRICS; m++)
            p.avg[m] = stats_history_is_counter(m) ? p.last[m] : sum[m] / p.count;
        stats_history_restore(h, &p, span);
        i = end;
    }
}

static void test_restore(void)
{
    sh_layout lay;
    stats_history_layout(&lay, 1, 86400);
    stats_history *h = stats_history_new(&lay);
    int fine = DAY_N - 900, mid = DAY_N - 21600;
    restore_span(h, 0, mid, 300);
    restore_span(h, mid, fine, 60);
    restore_span(h, fine, DAY_N, 0);
    day_windows(h, "restored");
    day_points(h, "restored");
    sh_point p = {.t = T0 + DAY_N - 3, .count = 60};
    ok(stats_history_restore(h, &p, 3600) == -1, "an aggregate longer than every slot is refused");
    stats_history_free(h);
}

int main(void)
{
    test_mid_slot();
    test_layout();
    test_known_sequence();
    test_tiers();
    test_day();
    test_restore();
    return tap_done();
}
