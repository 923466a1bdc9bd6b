/* loop — the one libuv loop of the process, and how it ends. */
#include "loop.h"

#include <stdlib.h>
#include <time.h>

static int loop_exit_code = -1;

uv_loop_t *loop_get(void)
{
    return uv_default_loop();
}

void loop_run(void)
{
    /* uv_stop only ends the current uv_run; a handle that stays active
     * after moonpod.exit must not bring the loop back. */
    while (loop_exit_code < 0 && uv_run(loop_get(), UV_RUN_DEFAULT) != 0)
        ;
}

void loop_request_exit(int code)
{
    if (loop_exit_code >= 0)
        return;
    loop_exit_code = code < 0 ? 1 : code;
    uv_stop(loop_get());
}

int loop_exit_requested(int *code)
{
    if (loop_exit_code < 0)
        return 0;
    if (code)
        *code = loop_exit_code;
    return 1;
}

static void loop_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void loop_close(void)
{
    uv_loop_t *loop = loop_get();
    /* Handles still open here belong to modules that were torn down with
     * the Lua state; their memory is owned by Lua or already released, so
     * closing them without a callback is all that is left to do. */
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, loop_close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

double loop_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void loop_free_cb(uv_handle_t *h)
{
    free(h);
}

void loop_close_free(uv_handle_t *h)
{
    uv_close(h, loop_free_cb);
}

uv_timer_t *loop_timer_new(void *data)
{
    uv_timer_t *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    uv_timer_init(loop_get(), t);
    t->data = data;
    return t;
}
