/* stats_history — a container's resource history in fixed-size rings.
 *
 * Each history has a few tiers, finest first: the first keeps every sample
 * (one slot per `interval`), the others keep per-slot means of the gauges,
 * and for CPU and memory the minimum and maximum too, over a coarser step
 * (by default 1 min for 6 h, then 5 min for the rest of the retention).
 * The byte counters (network, block I/O) are cumulative: every tier keeps
 * their last value in the slot, exactly (doubles), never a mean. A slot is
 * addressed by its time bucket, so a ring never grows and never needs
 * compaction: the memory of a history is fixed when it is made.
 *
 * A query walks the tiers coarsest first and takes from each only the time
 * the finer tiers no longer hold, so the answer is one seamless series
 * that counts every sample once: where a finer tier holds only the end of
 * a coarse slot, the coarse slot is given whole and the finer tier's part
 * of it is skipped.
 * Timestamps of stored points are the start of their bucket. Pure C, no
 * Lua, no loop: unit-tested on its own. */
#ifndef MOONPOD_STATS_HISTORY_H
#define MOONPOD_STATS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

enum {
    SH_CPU,          /* cpu_percent */
    SH_MEM,          /* memory_usage_bytes */
    SH_MEM_PCT,      /* memory_percent */
    SH_NET_RX,       /* network_rx_bytes */
    SH_NET_TX,       /* network_tx_bytes */
    SH_BLK_READ,     /* block_read_bytes */
    SH_BLK_WRITE,    /* block_write_bytes */
    SH_PIDS,         /* pids */
    SH_METRICS
};

#define SH_MAX_TIERS 4

/* The metric's API field name, and its index from a name (-1 if unknown). */
const char *stats_history_metric_name(int m);
int stats_history_metric(const char *name);

/* 1 for the cumulative byte counters (kept by their last value). */
int stats_history_is_counter(int m);

/* How the tiers of every history of a monitor are laid out. */
typedef struct sh_layout {
    int ntiers;
    double step[SH_MAX_TIERS];    /* seconds per slot */
    uint32_t cap[SH_MAX_TIERS];   /* slots */
} sh_layout;

/* The default layout for a sampling interval and a retention (seconds):
 * every sample for up to 15 min, 1-min means up to 6 h, 5-min means beyond,
 * each tier only as long as the retention asks. Returns -1 when the
 * arguments are out of range (interval 0.1 s..1 h, retention up to 400 days). */
int stats_history_layout(sh_layout *lay, double interval, double retention);

/* The start of the slot of a `step`-long tier that holds time t: how a
 * store gathers samples into the slots of the tiers. */
double stats_history_slot(double step, double t);

/* Bytes one history of this layout uses. */
size_t stats_history_layout_bytes(const sh_layout *lay);

typedef struct stats_history stats_history;

stats_history *stats_history_new(const sh_layout *lay);
void stats_history_free(stats_history *h);
size_t stats_history_bytes(const stats_history *h);

/* Records a sample taken at `t` (epoch seconds). A sample older than what
 * its slot holds already is ignored (returns -1). */
int stats_history_add(stats_history *h, double t, const double v[SH_METRICS]);

/* One point of an answer. count is how many samples it stands for. For
 * a counter, avg is its last value (as are min, max and last, except
 * across a merged step, where min and max span the step). */
typedef struct sh_point {
    double t;
    uint32_t count;
    double avg[SH_METRICS], min[SH_METRICS], max[SH_METRICS], last[SH_METRICS];
} sh_point;

/* Folds in an aggregate read back from a store: p->count samples taken in
 * the span-long slot (stats_history_slot) that holds p->t, with their
 * means (avg), CPU and memory extremes (min, max) and last values. It
 * goes into every tier whose slots are at least `span` long (span 0: one
 * sample, into every tier, as stats_history_add), and must come after
 * what those slots hold already, in time order. Returns -1 when no tier
 * took it. */
int stats_history_restore(stats_history *h, const sh_point *p, double span);

typedef int (*sh_point_fn)(void *ud, const sh_point *p);

/* Calls fn, oldest first, for the points with since <= t <= until; with
 * step > 0 points are merged into step-long buckets (aligned on the epoch).
 * Stops early when fn returns non-zero. Returns the number of points given. */
size_t stats_history_query(const stats_history *h, double since, double until, double step, sh_point_fn fn,
                           void *ud);

typedef struct sh_summary {
    double min, max, avg, last;
    uint64_t count;           /* samples in the window */
} sh_summary;

/* The summary of one metric over [since, until]; count 0 when empty. */
void stats_history_summary(const stats_history *h, int metric, double since, double until, sh_summary *out);

#endif
