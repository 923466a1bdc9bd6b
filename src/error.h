/* error — the error objects scripts see when an engine call fails.
 *
 * A table { kind, status_code, message, response_data } with a __tostring,
 * raised with lua_error. `kind` is one of api, not_found, conflict,
 * connection, timeout, unsupported, protocol. */
#ifndef MOONPOD_ERROR_H
#define MOONPOD_ERROR_H

#include <lua.h>

#include "engine.h"

/* Pushes an error object built from a failed reply (its JSON body becomes
 * response_data). */
void error_push_reply(lua_State *L, const engine_reply *r);
void error_push(lua_State *L, const char *kind, long status, const char *message);

/* Creates the error metatable; adds is_error and error to the module table on top. */
void error_register(lua_State *L);

#endif
