/* loop — the one libuv loop of the process, and how it ends.
 *
 * Everything moonpod does happens in callbacks of this loop on one thread:
 * curl's sockets and timers, timers of scripts, child processes, signals.
 * Nothing that runs on it may block. */
#ifndef MOONPOD_LOOP_H
#define MOONPOD_LOOP_H

#include <uv.h>

uv_loop_t *loop_get(void);

/* Runs until nothing is left to do or an exit was requested. */
void loop_run(void);

/* Ends the process at the end of the current turn with `code`
 * (moonpod.exit). The first request wins. */
void loop_request_exit(int code);
int loop_exit_requested(int *code);

/* Closes every handle still open, lets their close callbacks run, and
 * closes the loop. */
void loop_close(void);

/* Wall-clock seconds since the epoch, sub-millisecond precision. */
double loop_wall_now(void);

/* Closes a heap-allocated handle and frees it once libuv is done with it. */
void loop_close_free(uv_handle_t *h);

/* A heap-allocated timer on the loop with `data` set, for loop_close_free
 * to release; NULL when out of memory. */
uv_timer_t *loop_timer_new(void *data);

#endif
