/* stats_monitor — resource samples of many containers, kept in C.
 *
 * On Podman one libpod stats stream carries every watched container
 * (reopened, once per turn of the loop, when the set changes); on Docker
 * each container has its own stream, all on the one loop. Each sample is
 * read once from the engine's JSON into numbers (model_stats_read: the one
 * cpu_percent formula, memory without page cache, I/O summed over
 * interfaces and devices; on Podman CPU is measured between the
 * container's own consecutive samples, from the same two counters libpod
 * uses, so a reopened stream loses nothing), kept as the latest sample and in
 * its tiered history (stats_history.h), and queued for Lua only while
 * somebody asked for samples (a bounded queue that drops the oldest and
 * counts it). A stream that ends is reopened after the interval, counted.
 *
 * lua/moonpod/stats.lua is the public face (stats.monitor{...}). */
#ifndef MOONPOD_STATS_MONITOR_H
#define MOONPOD_STATS_MONITOR_H

#include <lua.h>

/* Creates the metatable; adds stats_monitor to the module table on top:
 *   stats_monitor(client, { interval = 1, retention = 3600, queue_size = 1000 }) -> monitor
 * Methods: watch(id, { name, image, started_at (epoch seconds or RFC 3339) }), idle(id), forget(id),
 * deliver(on), next(), latest(id), history(id, since, until, step),
 * summary(id, metric, since, until), ids(), stats(), prometheus(), close(). */
void stats_monitor_register(lua_State *L);

#include "buf.h"
#include "stats_history.h"

typedef struct sm_monitor sm_monitor;

/* Appends the container families of every open monitor of the process,
 * whichever Lua state made it (serve's /metrics shows its policies'): a
 * container watched by several monitors is one series, from the latest
 * sample. Nothing when no container has a sample. -1 when out of memory. */
int stats_monitor_prometheus_all(buf *b);

/* The monitor at idx, or a Lua error. */
sm_monitor *stats_monitor_check(lua_State *L, int idx);

/* Where kept samples also go (history_store.c); called on the loop thread
 * for every sample that enters the history. NULL fn: nowhere. */
typedef void (*sm_sink_fn)(void *ud, const char *id, const char *name, const char *image, double t,
                           const double row[SH_METRICS]);
void stats_monitor_set_sink(sm_monitor *m, sm_sink_fn fn, void *ud);

/* How the monitor's histories are laid out: a store reads back at the
 * resolution each tier keeps. */
const sh_layout *stats_monitor_layout(const sm_monitor *m);

/* A sample, or an aggregate of p->count samples over [p->t, p->t + span),
 * read back from a store: goes into the history of `id` (a container not
 * watched now is added, not sampled), straight into the tiers whose slots
 * are at least span long (stats_history_restore). Returns -1 when it
 * can't be kept (out of memory, too many containers, older than the
 * rings). */
int stats_monitor_restore(sm_monitor *m, const char *id, const char *name, const char *image, const sh_point *p,
                          double span);

#endif
