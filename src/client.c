/* client — the Lua client object: moonpod.connect() and its methods.
 *
 * Each method validates its arguments, builds the request, starts it on the
 * engine and yields the task (task.h). The operation lives in a userdata on
 * the method's own stack frame, so whatever happens to the task — resumed,
 * cancelled, collected — its memory is released by the garbage collector,
 * and `cancel` abandons the transfer at once. */
#include "client.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "error.h"
#include "json.h"
#include "models.h"
#include "task.h"

#define CLIENT_MT "moonpod.client"
#define CLIENT_OP_MT "moonpod.client_op"

typedef struct client {
    engine eng;
    int connected;
    int closed;
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

/* ---- operations ---- */

static void client_op_done(void *ud)
{
    client_op *op = ud;
    op->eop = NULL;
    task_wake(&op->wait);
}

static void client_op_cancel(task_wait *w)
{
    client_op *op = (client_op *)w;
    engine_cancel(op->eop);
    op->eop = NULL;
}

static int client_op_gc(lua_State *L)
{
    client_op *op = luaL_checkudata(L, 1, CLIENT_OP_MT);
    engine_cancel(op->eop);
    op->eop = NULL;
    engine_reply_clear(&op->reply);
    return 0;
}

/* Raises the reply's error, after releasing what it holds. */
static int client_raise(lua_State *L, engine_reply *r)
{
    if (r->kind == ERR_USAGE) {
        lua_pushstring(L, r->message);
        engine_reply_clear(r);
        return lua_error(L);
    }
    error_push_reply(L, r);
    engine_reply_clear(r);
    return lua_error(L);
}

static int client_op_k(lua_State *L, int status, lua_KContext ctx)
{
    client_op *op = (client_op *)ctx;
    client *c = lua_touserdata(L, 1);
    (void)status;
    if (op->reply.kind != ERR_NONE)
        return client_raise(L, &op->reply);
    int n = op->push(L, c, &op->reply);
    engine_reply_clear(&op->reply);
    return n;
}

static client_op *client_op_new(lua_State *L, client_push_fn push)
{
    client_op *op = lua_newuserdatauv(L, sizeof *op, 0);
    memset(op, 0, sizeof *op);
    luaL_setmetatable(L, CLIENT_OP_MT);
    op->wait.cancel = client_op_cancel;
    op->push = push;
    return op;
}

/* Runs one request for the method whose client is at index 1 and returns
 * what `push` makes of the reply. */
static int client_request(lua_State *L, const char *what, const engine_request *rq, client_push_fn push)
{
    client *c = lua_touserdata(L, 1);
    task_check_wait(L, what);
    client_op *op = client_op_new(L, push);
    op->eop = engine_call(&c->eng, rq, &op->reply, client_op_done, op);
    if (!op->eop)
        return client_raise(L, &op->reply);
    return task_yield(L, &op->wait, client_op_k, (lua_KContext)op);
}

/* ---- arguments ---- */

static client *client_check(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->closed)
        luaL_error(L, "the client is closed");
    if (!c->connected)
        luaL_error(L, "the client is not connected");
    return c;
}

static const char *client_check_id(lua_State *L, int idx)
{
    size_t len;
    const char *id = luaL_checklstring(L, idx, &len);
    luaL_argcheck(L, len > 0 && strlen(id) == len, idx, "container id or name must be a non-empty string");
    return id;
}

/* Optional table of options at idx: returns 1 when present. */
static int client_opts(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return 1;
}

static int client_opt_bool(lua_State *L, int idx, const char *key, int dflt)
{
    if (!client_opts(L, idx))
        return dflt;
    int t = lua_getfield(L, idx, key);
    int v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "option '%s' must be a boolean", key);
    lua_pop(L, 1);
    return v;
}

static lua_Number client_opt_num(lua_State *L, int idx, const char *key, lua_Number dflt)
{
    if (!client_opts(L, idx))
        return dflt;
    int t = lua_getfield(L, idx, key);
    if (t != LUA_TNIL && !lua_isnumber(L, -1))
        luaL_error(L, "option '%s' must be a number", key);
    lua_Number v = t == LUA_TNIL ? dflt : lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Appends s percent-encoded: all but RFC 3986's unreserved characters. */
static void client_add_urlenc(luaL_Buffer *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
            *c == '_' || *c == '.' || *c == '~') {
            luaL_addchar(b, (char)*c);
        } else {
            luaL_addchar(b, '%');
            luaL_addchar(b, hex[*c >> 4]);
            luaL_addchar(b, hex[*c & 15]);
        }
    }
}

/* Pushes "/containers/<id><suffix>" with the id escaped; the string stays
 * on the stack until the request has copied it. */
static const char *client_container_path(lua_State *L, const char *id, const char *suffix)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/containers/");
    client_add_urlenc(&b, id);
    luaL_addstring(&b, suffix);
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* ---- pushers ---- */

static int client_push_true(lua_State *L, client *c, engine_reply *r)
{
    (void)c;
    (void)r;
    lua_pushboolean(L, 1);
    return 1;
}

static int client_push_json(lua_State *L, client *c, engine_reply *r)
{
    (void)c;
    json_push(L, r->json);
    return 1;
}

/* Raises a protocol error: the engine's answer had the wrong shape. */
static int client_bad_shape(lua_State *L, client *c, engine_reply *r, const char *what)
{
    r->kind = ERR_PROTOCOL;
    snprintf(r->message, sizeof r->message, "%s answered %s", c->eng.ep.display, what);
    return client_raise(L, r);
}

static int client_push_container(lua_State *L, client *c, engine_reply *r)
{
    if (!cJSON_IsObject(r->json))
        return client_bad_shape(L, c, r, "an inspect with something that is not an object");
    cJSON *doc = r->json;
    r->json = NULL; /* the model owns it now */
    model_push_container(L, doc, c->eng.runtime, NULL);
    return 1;
}

static int client_push_container_list(lua_State *L, client *c, engine_reply *r)
{
    if (!cJSON_IsArray(r->json))
        return client_bad_shape(L, c, r, "a container list with something that is not a list");
    model_push_container_list(L, r->json, c->eng.runtime, NULL);
    return 1;
}

/* libpod answers DELETE with a list of reports whose Err says what failed. */
static int client_push_removed(lua_State *L, client *c, engine_reply *r)
{
    const cJSON *rep, *reports = cJSON_IsArray(r->json) ? r->json : NULL;
    cJSON_ArrayForEach(rep, reports) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(rep, "Err");
        if (cJSON_IsString(err) && err->valuestring[0]) {
            r->kind = ERR_API;
            snprintf(r->message, sizeof r->message, "%s (from %s)", err->valuestring, engine_runtime_name(c->eng.runtime));
            return client_raise(L, r);
        }
    }
    return client_push_true(L, c, r);
}

/* ---- methods ---- */

/* client:ping() -> true; raises when the engine does not answer. */
static int client_l_ping(lua_State *L)
{
    client_check(L);
    engine_request rq = {.method = "GET", .path = "/_ping", .flags = ENGINE_UNVERSIONED | ENGINE_TEXT};
    return client_request(L, "ping", &rq, client_push_true);
}

/* client:get_version() -> the engine's /version answer as a table. */
static int client_l_get_version(lua_State *L)
{
    client_check(L);
    engine_request rq = {.method = "GET", .path = "/version", .flags = ENGINE_UNVERSIONED};
    return client_request(L, "get_version", &rq, client_push_json);
}

/* client:get_system_info() -> the engine's /info answer as a table. */
static int client_l_get_system_info(lua_State *L)
{
    client_check(L);
    engine_request rq = {.method = "GET", .path = "/info"};
    return client_request(L, "get_system_info", &rq, client_push_json);
}

/* filters = { label = {"a=b"} | "a=b", name = {...}, status = "running" }
 * becomes the engines' JSON map of string lists, pushed as a string (or
 * nothing pushed and NULL when there are no filters). */
static const char *client_filters_json(lua_State *L, int opts)
{
    if (!client_opts(L, opts) || lua_getfield(L, opts, "filters") == LUA_TNIL) {
        if (client_opts(L, opts))
            lua_pop(L, 1);
        return NULL;
    }
    luaL_argcheck(L, lua_istable(L, -1), opts, "filters must be a table");
    cJSON *map = cJSON_CreateObject();
    const char *bad = NULL;
    lua_pushnil(L);
    while (!bad && lua_next(L, -2)) {
        cJSON *vals = lua_type(L, -2) == LUA_TSTRING ? cJSON_AddArrayToObject(map, lua_tostring(L, -2)) : NULL;
        if (!vals) {
            bad = "filter names must be strings";
        } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
            cJSON_AddItemToArray(vals, cJSON_CreateString(lua_tostring(L, -1)));
        } else if (lua_istable(L, -1)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n && !bad; i++) {
                lua_rawgeti(L, -1, i);
                if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
                    cJSON_AddItemToArray(vals, cJSON_CreateString(lua_tostring(L, -1)));
                else
                    bad = "filter values must be strings";
                lua_pop(L, 1);
            }
        } else {
            bad = "a filter must be a string or a list of strings";
        }
        lua_pop(L, 1);
    }
    char *text = bad ? NULL : cJSON_PrintUnformatted(map);
    cJSON_Delete(map);
    if (bad)
        luaL_argerror(L, opts, bad);
    if (!text)
        luaL_error(L, "out of memory");
    lua_pop(L, 1);
    lua_pushstring(L, text);
    free(text);
    return lua_tostring(L, -1);
}

/* client:list_containers{ all = false, limit = n, filters = {...} } -> { Container } */
static int client_l_list_containers(lua_State *L)
{
    client_check(L);
    int all = client_opt_bool(L, 2, "all", 0);
    lua_Number limit = client_opt_num(L, 2, "limit", 0);
    const char *filters = client_filters_json(L, 2);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, all ? "/containers/json?all=true" : "/containers/json?all=false");
    if (limit > 0) {
        char num[32];
        snprintf(num, sizeof num, "&limit=%ld", (long)limit);
        luaL_addstring(&b, num);
    }
    if (filters) {
        luaL_addstring(&b, "&filters=");
        client_add_urlenc(&b, filters);
    }
    luaL_pushresult(&b);
    engine_request rq = {.method = "GET", .path = lua_tostring(L, -1)};
    return client_request(L, "list_containers", &rq, client_push_container_list);
}

/* client:get_container(id_or_name) -> Container (the full inspect in .raw) */
static int client_l_get_container(lua_State *L)
{
    client_check(L);
    engine_request rq = {.method = "GET", .path = client_container_path(L, client_check_id(L, 2), "/json")};
    return client_request(L, "get_container", &rq, client_push_container);
}

/* client:start_container(id) -> true (also when it was already running) */
static int client_l_start_container(lua_State *L)
{
    client_check(L);
    engine_request rq = {.method = "POST", .path = client_container_path(L, client_check_id(L, 2), "/start")};
    return client_request(L, "start_container", &rq, client_push_true);
}

/* The engine waits up to `timeout` seconds before killing: the request
 * must be allowed longer than that. */
static long client_grace_ms(client *c, lua_Number secs)
{
    long ms = (long)(secs * 1000) + 15000;
    return ms > c->eng.request_timeout_ms ? ms : c->eng.request_timeout_ms;
}

static int client_stop_or_restart(lua_State *L, const char *what, const char *verb)
{
    client *c = client_check(L);
    const char *id = client_check_id(L, 2);
    lua_Number t = client_opt_num(L, 3, "timeout", 10);
    luaL_argcheck(L, t >= 0 && t < 1e6, 3, "timeout must be a number of seconds >= 0");
    /* libpod's stop says "timeout", everything else "t" */
    int libpod_stop = c->eng.runtime == RUNTIME_PODMAN && strcmp(verb, "/stop") == 0;
    char suffix[64];
    snprintf(suffix, sizeof suffix, "%s?%s=%ld", verb, libpod_stop ? "timeout" : "t", (long)ceil(t));
    engine_request rq = {.method = "POST", .path = client_container_path(L, id, suffix),
                         .timeout_ms = client_grace_ms(c, t)};
    return client_request(L, what, &rq, client_push_true);
}

/* client:stop_container(id, { timeout = 10 }) -> true (also when already stopped) */
static int client_l_stop_container(lua_State *L)
{
    return client_stop_or_restart(L, "stop_container", "/stop");
}

/* client:restart_container(id, { timeout = 10 }) -> true */
static int client_l_restart_container(lua_State *L)
{
    return client_stop_or_restart(L, "restart_container", "/restart");
}

/* client:remove_container(id, { force = false, volumes = false }) -> true */
static int client_l_remove_container(lua_State *L)
{
    client *c = client_check(L);
    const char *id = client_check_id(L, 2);
    int force = client_opt_bool(L, 3, "force", 0);
    int volumes = client_opt_bool(L, 3, "volumes", 0);
    char suffix[64];
    snprintf(suffix, sizeof suffix, "?force=%s&v=%s", force ? "true" : "false", volumes ? "true" : "false");
    engine_request rq = {.method = "DELETE", .path = client_container_path(L, id, suffix),
                         .timeout_ms = client_grace_ms(c, 10)};
    return client_request(L, "remove_container", &rq, client_push_removed);
}

/* client:close(): later calls raise. Safe to call twice. */
static int client_l_close(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    c->closed = 1;
    return 0;
}

static const luaL_Reg client_methods[] = {
    {"ping", client_l_ping},
    {"get_version", client_l_get_version},
    {"get_system_info", client_l_get_system_info},
    {"list_containers", client_l_list_containers},
    {"get_container", client_l_get_container},
    {"start_container", client_l_start_container},
    {"stop_container", client_l_stop_container},
    {"restart_container", client_l_restart_container},
    {"remove_container", client_l_remove_container},
    {"close", client_l_close},
    {NULL, NULL},
};

/* client.runtime, .transport, .endpoint, .api_version, .server_version, or a method */
static int client_l_index(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "runtime") == 0)
        lua_pushstring(L, engine_runtime_name(c->eng.runtime));
    else if (strcmp(k, "transport") == 0)
        lua_pushstring(L, endpoint_transport_name(c->eng.ep.transport));
    else if (strcmp(k, "endpoint") == 0)
        lua_pushstring(L, c->eng.ep.display);
    else if (strcmp(k, "api_version") == 0)
        lua_pushstring(L, c->eng.api_version);
    else if (strcmp(k, "server_version") == 0)
        lua_pushstring(L, c->eng.server_version);
    else {
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, k);
    }
    return 1;
}

static int client_l_tostring(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->connected)
        lua_pushfstring(L, "moonpod client: %s at %s (API %s)%s", engine_runtime_name(c->eng.runtime),
                        c->eng.ep.display, c->eng.api_version, c->closed ? " [closed]" : "");
    else
        lua_pushliteral(L, "moonpod client: not connected");
    return 1;
}

static int client_l_gc(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    engine_clear(&c->eng);
    return 0;
}

/* ---- connecting ---- */

static const char *const client_config_keys[] = {
    "socket_path", "remote_url", "api_version", "username", "password", "identity_file",
    "tls_ca", "tls_cert", "tls_key", "tls_verify", "auto_detect", "fallback_to_docker",
    "use_cli_fallback", "start_service", "connect_timeout", "request_timeout", NULL,
};

static char *client_cfg_str(lua_State *L, int idx, const char *key)
{
    char *v = NULL;
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TSTRING)
        v = strdup(lua_tostring(L, -1));
    else if (t != LUA_TNIL)
        luaL_error(L, "config.%s must be a string", key);
    lua_pop(L, 1);
    return v;
}

static void client_parse_config(lua_State *L, int idx, engine_config *cfg)
{
    engine_config_defaults(cfg);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (const char *const *k = client_config_keys; *k && !known; k++)
                known = strcmp(*k, lua_tostring(L, -2)) == 0;
        if (!known)
            luaL_error(L, "unknown config field '%s'", luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }
    cfg->socket_path = client_cfg_str(L, idx, "socket_path");
    cfg->remote_url = client_cfg_str(L, idx, "remote_url");
    cfg->api_version = client_cfg_str(L, idx, "api_version");
    cfg->auto_detect = client_opt_bool(L, idx, "auto_detect", cfg->auto_detect);
    cfg->fallback_to_docker = client_opt_bool(L, idx, "fallback_to_docker", cfg->fallback_to_docker);
    cfg->use_cli_fallback = client_opt_bool(L, idx, "use_cli_fallback", cfg->use_cli_fallback);
    cfg->start_service = client_opt_bool(L, idx, "start_service", cfg->start_service);
    cfg->connect_timeout = client_opt_num(L, idx, "connect_timeout", cfg->connect_timeout);
    cfg->request_timeout = client_opt_num(L, idx, "request_timeout", cfg->request_timeout);
    if (!(cfg->connect_timeout > 0) || !(cfg->request_timeout > 0))
        luaL_error(L, "connect_timeout and request_timeout must be positive numbers of seconds");
}

static int client_connect_k(lua_State *L, int status, lua_KContext ctx)
{
    client_op *op = (client_op *)ctx;
    (void)status;
    if (op->reply.kind != ERR_NONE)
        return client_raise(L, &op->reply);
    engine_reply_clear(&op->reply);
    client *c = lua_touserdata(L, -2); /* below the op */
    c->connected = 1;
    lua_pop(L, 1);
    return 1;
}

/* Frees a config that a Lua error would otherwise leak: the parsed config
 * lives in a userdata until the engine has taken what it needs. */
static int client_cfg_gc(lua_State *L)
{
    engine_config_clear(lua_touserdata(L, 1));
    return 0;
}

/* moonpod.connect(config?) -> client. Finds the engine (socket_path,
 * remote_url, or auto-detection: CONTAINER_HOST, DOCKER_HOST, rootless and
 * rootful Podman, Docker), negotiates the API version from GET /version and
 * returns a connected client; raises a "connection" error when nothing
 * answers. */
static int client_l_connect(lua_State *L)
{
    task_check_wait(L, "moonpod.connect");
    lua_settop(L, 1);
    engine_config *cfg = lua_newuserdatauv(L, sizeof *cfg, 0);
    memset(cfg, 0, sizeof *cfg);
    lua_newtable(L);
    lua_pushcfunction(L, client_cfg_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    client_parse_config(L, 1, cfg);

    client *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, CLIENT_MT);
    client_op *op = client_op_new(L, NULL);
    op->eop = engine_connect(&c->eng, cfg, &op->reply, client_op_done, op);
    if (!op->eop)
        return client_raise(L, &op->reply);
    return task_yield(L, &op->wait, client_connect_k, (lua_KContext)op);
}

void client_register(lua_State *L)
{
    luaL_newmetatable(L, CLIENT_OP_MT);
    lua_pushcfunction(L, client_op_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    luaL_newmetatable(L, CLIENT_MT);
    luaL_newlib(L, client_methods);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, client_l_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, client_l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, client_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, client_l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);

    lua_pushcfunction(L, client_l_connect);
    lua_setfield(L, -2, "connect");
}
