/* http_request — moonpod.http.request: a small general HTTP client for
 * scripts (webhooks, health probes), on the same libcurl multi loop as the
 * engine client (http.h). The calling task waits; the loop never blocks. */
#ifndef MOONPOD_HTTP_REQUEST_H
#define MOONPOD_HTTP_REQUEST_H

#include <lua.h>

/* Adds the `http` table (with `request`) to the module table on top of L. */
void http_request_register(lua_State *L);

#endif
