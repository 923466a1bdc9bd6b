/* Unit tests for stats_history.c: tiers laid out from interval and
 * retention, a known sequence read back exactly, downsampling, summaries
 * across tiers, rings that wrap, and the memory bound. */
#include <math.h>
#include <stdlib.h>

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
    ok(day * 100 < 8u << 20, "a day for 100 containers fits in 8 MB (%zu bytes each)", day);
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

int main(void)
{
    test_mid_slot();
    test_layout();
    test_known_sequence();
    test_tiers();
    return tap_done();
}
