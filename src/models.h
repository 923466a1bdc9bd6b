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

/* The API's status word for an engine's state word. */
const char *model_status(const char *engine_state);

/* RFC 3339 ("2026-11-28T14:31:33.210934686Z", "...+01:00") to epoch
 * seconds. Returns 0, or -1 when unparseable or the zero time. */
int model_parse_time(const char *s, double *out);

#endif
