/* serve_lua — what the service's own Lua state (the host, lua/moonpod/serve.lua)
 * reads of the service for /metrics and /healthz: each policy's status,
 * counters and memory, the service's health, the process's memory, the
 * containers its policies' stats monitors watch. */
#ifndef MOONPOD_SERVE_LUA_H
#define MOONPOD_SERVE_LUA_H

#include <lua.h>

#include "policy.h"

/* Pushes { policies = fn, health = fn, resident_memory = fn, container_metrics = fn,
 * memory_limit_bytes =, time_limit_seconds =, start_time = } (see serve_lua.c). */
void serve_lua_push(lua_State *L, const policy_limits *lim);

#endif
