/* history_store — a stats monitor's samples kept in SQLite, so that a
 * restarted monitor has its history back.
 *
 * Every SQLite call runs on libuv's thread pool, one job at a time, never
 * on the loop: opening (WAL mode, schema), batched writes (the samples the
 * monitor kept since the last flush, one transaction every few seconds,
 * with retention enforced in the same job), reading back, closing. The
 * monitor hands samples over on the loop thread into a bounded batch;
 * what can't be written (a full batch, a failed transaction) is counted
 * and the last error kept, and the monitor goes on in memory. */
#ifndef MOONPOD_HISTORY_STORE_H
#define MOONPOD_HISTORY_STORE_H

#include <lua.h>

/* Creates the metatable; adds history_store to the module table on top:
 *   history_store(path, { retention = 3600, flush_interval = 5, max_pending = 100000 })
 *     -> store | nil, message           (waits: the task yields while SQLite opens it)
 *   store:attach(monitor)                samples the monitor keeps are written too
 *   store:load(monitor) -> rows | nil, message   (waits) the stored history into the monitor
 *   store:flush()                        (waits) writes what is pending now
 *   store:stats() -> { written, dropped, failed_batches, pending, last_error }
 *   store:close()                        writes what is pending, then closes */
void history_store_register(lua_State *L);

#endif
