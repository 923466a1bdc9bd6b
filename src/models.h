/* models — both engines' JSON turned into the API's models, once.
 *
 * Podman's libpod API and Docker's API describe the same container in
 * different shapes (names with or without "/", creation time as a number or
 * an RFC 3339 string, ports as lists or maps, "stopped" or "exited"). This
 * file is the only place that knows: it reads the cJSON tree and pushes the
 * finished Lua table, keeping the engine's own JSON in `raw`. */
#ifndef MOONPOD_MODELS_H
#define MOONPOD_MODELS_H

#include <cJSON.h>
#include <lua.h>

#include "engine.h"
#include "event_scan.h"

/* Creates the models' metatables; call once per state. */
void model_register(lua_State *L);

/* Container { id, name, image, status, created_at, ports, labels, runtime, raw }
 * from an element of a container list or an inspect result, of either
 * engine. `runtime` is the name put in the model ("podman", "docker", or a
 * multi client's engine name).
 *
 * Takes ownership of `c` (detached from any parent): `raw` — the engine's
 * JSON as a table — is built from it the first time a script reads it (or
 * iterates the model with pairs), since most scripts never do and building
 * it is most of the cost of a model. */
void model_push_container(lua_State *L, cJSON *c, engine_runtime rt, const char *runtime);

/* A list of containers: { Container, ... }. Takes the elements out of
 * `list`, which the caller still frees. */
void model_push_container_list(lua_State *L, cJSON *list, engine_runtime rt, const char *runtime);

/* Gives the model table on top the engine's JSON `c` (owned) as its `raw`
 * field, built on first read; sets the models' metatable. */
void model_attach_raw(lua_State *L, cJSON *c);

/* Pod { id, name, status, containers = { ids }, labels, raw } from an
 * element of libpod's pod list; takes ownership of `p`. */
void model_push_pod(lua_State *L, cJSON *p, const char *runtime);

/* An event as both engines' events are seen by moonpod: read from the
 * JSON text with event_scan, normalised (died -> die, "health_status:
 * healthy" -> health_status + health), for filters in C and for the model. */
typedef struct event_view {
    const ev_scan *scan;
    char type[16];            /* container, image, network, ... lower case */
    char action[48];          /* Docker's word on both engines */
    char detail[128];         /* what followed ": " in Docker's action */
    char health[16];          /* health_status events: healthy, unhealthy, starting */
    ev_str id, name, image;
    int has_exit_code;        /* die events */
    long exit_code;
    int64_t time_nano;
} event_view;

void model_event_view(const ev_scan *e, event_view *v);
/* Has the event's container this label (with this value, unless NULL)? */
int model_event_has_label(const event_view *v, const char *key, const char *value);

/* ContainerEvent { timestamp, type, container_id, container_name, action,
 * image, labels, runtime, exit_code?, health?, detail?, raw } from the
 * event's view; `raw` is decoded, if a script reads it, from the event's
 * text: the Lua string at stack index text_idx. */
int model_push_event_view(lua_State *L, const event_view *v, int text_idx, const char *runtime);

/* For a run of events pushed at once: what every event's model needs (its
 * field names, the metatable, the pending raws, the id cache, the runtime)
 * is fetched once, onto the stack from `base` on, and each event is built
 * from there. Pop it with lua_settop(L, ctx.base - 1). */
typedef struct model_event_ctx {
    int base;
} model_event_ctx;
void model_event_ctx_push(lua_State *L, model_event_ctx *ctx, const char *runtime);
int model_push_event_ctx(lua_State *L, const model_event_ctx *ctx, const event_view *v, int text_idx);
/* The same from the text alone; pushes nothing and returns 0 when it is
 * not an event. */
int model_push_event_text(lua_State *L, const char *text, size_t len, const char *runtime);

/* An engine's action word in the API's terms: "died" is "die", and
 * Docker's "health_status: healthy" is "health_status" with the detail
 * "healthy". `detail` points into raw, or is NULL. */
void model_event_action(const char *raw, char *action, size_t len, const char **detail);

/* Gives the model on top its `raw` field from the JSON text in the Lua
 * string at stack index idx, decoded on first read; sets the models'
 * metatable. */
void model_attach_raw_string(lua_State *L, int idx);
/* Pushes the models' metatable and the table of pending raws, for a model
 * built as model_attach_raw_string would, with the two at hand. */
void model_push_raw_context(lua_State *L);

/* A container's cumulative CPU time at a moment, to measure CPU use over
 * an interval when the engine's sample doesn't carry its own start. */
typedef struct model_cpu_sample {
    double total_ns;   /* CPU time used since the container started */
    double at;         /* when, epoch seconds */
} model_cpu_sample;

/* The CPU counter of a Docker stats sample (or of a libpod-shaped one);
 * 0 when it has no time. */
int model_stats_docker_cpu(const cJSON *s, model_cpu_sample *now);

/* ContainerStats { timestamp, container_id, cpu_percent, memory_usage_bytes,
 * memory_limit_bytes, memory_percent, network_rx_bytes, network_tx_bytes,
 * block_read_bytes, block_write_bytes, pids, raw } from a Docker stats
 * sample or an element of libpod's Stats list (of either engine: the CLI
 * backend gives Docker's samples that shape); takes ownership of `s`.
 * cpu_percent comes from the sample's own previous counters, else from
 * `base` (may be NULL); with neither, the sample says nothing about CPU:
 * it is skipped (nothing pushed, returns 0) when skip_without_cpu, else
 * its cpu_percent is 0 (a container that is not running). */
int model_push_stats(lua_State *L, cJSON *s, engine_runtime rt, const model_cpu_sample *base, int skip_without_cpu);

/* A stats sample as numbers, for C that keeps them (stats_monitor.c): the
 * same fields and the same one computation as the model. id and name point
 * into the sample's JSON. cpu_percent is -1 when the sample says nothing
 * about CPU (see model_push_stats); cpu_total_ns is the cumulative counter;
 * memory_raw_usage includes the page cache (Podman reports it without). */
typedef struct model_stats_values {
    const char *id, *name;
    double timestamp, cpu_percent, cpu_total_ns;
    double memory_usage, memory_raw_usage, memory_limit, memory_percent;
    double network_rx, network_tx, block_read, block_write, pids;
} model_stats_values;

void model_stats_read(const cJSON *s, engine_runtime rt, const model_cpu_sample *base, model_stats_values *v);
/* Sets the ContainerStats fields of the table on top from v (no raw). */
void model_push_stats_values(lua_State *L, const model_stats_values *v);

/* The API's status word for an engine's state word. */
const char *model_status(const char *engine_state);

/* RFC 3339 ("2026-11-28T14:31:33.210934686Z", "...+01:00") to epoch
 * seconds. Returns 0, or -1 when unparseable or the zero time. */
int model_parse_time(const char *s, double *out);

#endif
