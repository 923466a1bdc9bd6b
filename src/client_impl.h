/* client_impl — what the files of the client share (client.c holds the
 * object and the request machinery; client_containers.c, client_system.c
 * and client_streams.c hold the methods). Not for use outside client*.c. */
#ifndef MOONPOD_CLIENT_IMPL_H
#define MOONPOD_CLIENT_IMPL_H

#include <lauxlib.h>
#include <lua.h>

#include "engine.h"
#include "task.h"

#define CLIENT_MT "moonpod.client"

typedef struct client {
    engine eng;
    int connected;
    int closed;
    void *cpu_cache;      /* previous stats samples, for one-shot CPU on Docker */
    struct stats_batch *stats_batch; /* Podman: one-shot stats asked this turn */
} client;

typedef struct client_op client_op;
/* Pushes a method's results from a successful reply; returns their count. */
typedef int (*client_push_fn)(lua_State *L, client *c, engine_reply *r);

struct client_op {
    task_wait wait;
    engine_op *eop;       /* in flight, or NULL */
    engine_reply reply;
    client_push_fn push;
};

/* The client at index 1, connected and not closed; raises otherwise. */
client *client_check(lua_State *L);
/* A container id or name argument. */
const char *client_check_id(lua_State *L, int idx);

/* Options tables: 1 when the argument at idx is a table (nil/none is 0;
 * anything else raises). */
int client_opts(lua_State *L, int idx);
int client_opt_bool(lua_State *L, int idx, const char *key, int dflt);
lua_Number client_opt_num(lua_State *L, int idx, const char *key, lua_Number dflt);
/* A string option, or NULL; left on the stack while it is used. */
const char *client_opt_str(lua_State *L, int idx, const char *key);
/* opts.filters as the engines' JSON map of string lists, pushed as a
 * string; NULL (nothing pushed) when there are none. `rename` maps filter
 * values for this engine (e.g. event names), may be NULL. */
const char *client_filters_json(lua_State *L, int opts, const char *(*rename)(const char *key, const char *value));

/* Appends s percent-encoded: all but RFC 3986's unreserved characters. */
void client_add_urlenc(luaL_Buffer *b, const char *s);
/* Pushes "/containers/<id><suffix>" with the id escaped. */
const char *client_container_path(lua_State *L, const char *id, const char *suffix);

/* Runs one request for the method whose client is at index 1 and returns
 * what `push` makes of the reply. Use as `return client_request(...)`. */
int client_request(lua_State *L, const char *what, const engine_request *rq, client_push_fn push);
/* Raises the reply's error, after releasing what it holds. */
int client_raise(lua_State *L, engine_reply *r);
/* Raises a protocol error: the engine's answer had the wrong shape. */
int client_bad_shape(lua_State *L, client *c, engine_reply *r, const char *what);

int client_push_true(lua_State *L, client *c, engine_reply *r);
int client_push_json(lua_State *L, client *c, engine_reply *r);

/* How long a request that makes the engine wait `secs` may take. */
long client_grace_ms(client *c, lua_Number secs);

extern const luaL_Reg client_system_methods[];
extern const luaL_Reg client_container_methods[];
extern const luaL_Reg client_stream_methods[];
extern const luaL_Reg client_stats_methods[];

#endif
