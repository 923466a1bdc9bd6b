/* stats_monitor — resource samples of many containers, kept in C.
 *
 * On Podman one libpod stats stream carries every watched container
 * (reopened, once per turn of the loop, when the set changes); on Docker
 * each container has its own stream, all on the one loop. Each sample is
 * read once from the engine's JSON into numbers (model_stats_read: the one
 * cpu_percent formula, memory without page cache, I/O summed over
 * interfaces and devices), kept as the container's latest sample and in
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
 * Methods: watch(id, { name, image, started_at }), idle(id), forget(id),
 * deliver(on), next(), latest(id), history(id, since, until, step),
 * summary(id, metric, since, until), ids(), stats(), prometheus(), close(). */
void stats_monitor_register(lua_State *L);

#endif
