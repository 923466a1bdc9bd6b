/* stream — an engine response read as it comes: events, stats, logs.
 *
 * The bytes are framed and decoded in C as they arrive (framing.h), into a
 * bounded queue of items; a script takes the items one at a time through an
 * iterator that yields its task while the queue is empty. A full queue
 * either pauses the transfer (logs, stats: nothing is lost, memory stays
 * constant) or drops the oldest items and counts them (events: the engine
 * must be read promptly). Closing the stream — :close(), breaking out of a
 * generic for, garbage collection — cancels the transfer at once and
 * releases the connection. */
#ifndef MOONPOD_STREAM_H
#define MOONPOD_STREAM_H

#include <cJSON.h>
#include <lua.h>

#include "engine.h"

typedef struct stream stream;

typedef enum {
    STREAM_JSON,       /* concatenated JSON values */
    STREAM_LOG_MUX,    /* Docker/Podman multiplexed log frames */
    STREAM_LOG_RAW,    /* raw lines (a TTY container on Docker) */
} stream_framing;

typedef enum {
    STREAM_PAUSE,      /* full queue: pause the transfer */
    STREAM_DROP_OLDEST,/* full queue: drop the oldest item, count it */
} stream_policy;

/* Turns one decoded JSON value into zero or more queued items (by calling
 * stream_queue_json); owns `value`. Runs inside curl's callback: C only. */
typedef void (*stream_split_fn)(stream *s, cJSON *value);
/* Pushes one item as a Lua value; returns 0 to skip it (nothing pushed). */
typedef int (*stream_push_json_fn)(lua_State *L, stream *s, cJSON *value);
/* For streams whose values stay text until pushed (events: read with
 * event_scan, no JSON tree): whether to keep a value (inside curl's
 * callback, C only), and how to push one. */
typedef int (*stream_keep_text_fn)(stream *s, const char *text, size_t len);
typedef int (*stream_push_text_fn)(lua_State *L, stream *s, const char *text, size_t len);

typedef struct stream_spec {
    stream_framing framing;
    stream_policy policy;
    size_t max_items;          /* queue bound, items */
    size_t max_bytes;          /* queue bound, bytes of log lines */
    stream_split_fn split;     /* JSON: NULL queues each value as is */
    stream_push_json_fn push;  /* JSON: the model */
    stream_push_text_fn push_text; /* JSON kept as text: the model (instead of push) */
    stream_keep_text_fn keep_text; /* JSON kept as text: NULL keeps every value */
    int keep_timestamps;       /* logs: keep the engine's timestamp in text */
    engine_runtime runtime;
    const char *runtime_name;  /* for the models, or NULL */
} stream_spec;

/* Creates the stream metatable; call once per state. */
void stream_register(lua_State *L);

/* Starts `rq` as a stream on `e` and pushes the stream object. `owner_idx`
 * is a value the stream keeps alive while open (the client, whose engine
 * it uses). Raises on failure to start. */
stream *stream_open(lua_State *L, int owner_idx, engine *e, const engine_request *rq, const stream_spec *spec);

/* Queues a JSON item (from a split function). */
void stream_queue_json(stream *s, cJSON *item);

/* Ends the stream with an error found in what the engine sent (from a
 * split function: an answer that says the container is gone): the
 * transfer stops, items already queued are still read, then the error is
 * raised. */
void stream_fail(stream *s, engine_errkind kind, const char *message);

/* Per-stream scratch for split and push functions (e.g. the previous stats
 * sample of a container); freed with the stream. */
void *stream_scratch(stream *s, size_t size);
const stream_spec *stream_get_spec(const stream *s);

/* Pushes the four values a generic for wants: the stream (callable), nil,
 * nil and the stream again as the to-be-closed value, so that `break`
 * closes it. Returns 4. */
int stream_push_for(lua_State *L, int idx);

/* Collects every item of the stream at idx into a list (a log read that
 * doesn't follow), waiting as needed; raises when the stream fails. Use as
 * `return stream_collect(L, idx)`: the list is the one result. */
int stream_collect(lua_State *L, int idx);

#endif
