/* create_spec — a script's description of a container, as the body of
 * Docker's POST /containers/create (served by Podman too). */
#ifndef MOONPOD_CREATE_SPEC_H
#define MOONPOD_CREATE_SPEC_H

#include <stddef.h>
#include <cJSON.h>
#include <lua.h>

/* The body for the spec table at idx, or NULL with a message for a bad
 * spec (unknown field, wrong type, missing image). Never raises. */
cJSON *create_spec_body(lua_State *L, int idx, char *err, size_t errlen);

#endif
