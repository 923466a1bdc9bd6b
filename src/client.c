/* client — the Lua client object: moonpod.connect() and its methods.
 *
 * Each method validates its arguments, builds the request, starts it on the
 * engine and yields the task (task.h). The operation lives in a userdata on
 * the method's own stack frame, so whatever happens to the task — resumed,
 * cancelled, collected — its memory is released by the garbage collector,
 * and `cancel` abandons the transfer at once. */
#include "client.h"
#include "buf.h"
#include "client_impl.h"

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

#define CLIENT_OP_MT "moonpod.client_op"

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
int client_raise(lua_State *L, engine_reply *r)
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
int client_request(lua_State *L, const char *what, const engine_request *rq, client_push_fn push)
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

client *client_check(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->closed)
        luaL_error(L, "the client is closed");
    if (!c->connected)
        luaL_error(L, "the client is not connected");
    return c;
}

const char *client_check_id(lua_State *L, int idx)
{
    size_t len;
    const char *id = luaL_checklstring(L, idx, &len);
    luaL_argcheck(L, len > 0 && strlen(id) == len, idx, "container id or name must be a non-empty string");
    return id;
}

/* Optional table of options at idx: returns 1 when present. */
int client_opts(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return 1;
}

int client_opt_bool(lua_State *L, int idx, const char *key, int dflt)
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

lua_Number client_opt_num(lua_State *L, int idx, const char *key, lua_Number dflt)
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

const char *client_opt_str(lua_State *L, int idx, const char *key)
{
    if (!client_opts(L, idx))
        return NULL;
    int t = lua_getfield(L, idx, key);
    if (t != LUA_TNIL && t != LUA_TSTRING)
        luaL_error(L, "option '%s' must be a string", key);
    return lua_tostring(L, -1);
}

/* Appends s percent-encoded: all but RFC 3986's unreserved characters. */
void client_add_urlenc(luaL_Buffer *b, const char *s)
{
    char esc[3];
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        luaL_addlstring(b, esc, buf_urlenc_char(*c, esc));
}

/* Pushes "/containers/<id><suffix>" with the id escaped; the string stays
 * on the stack until the request has copied it. */
const char *client_container_path(lua_State *L, const char *id, const char *suffix)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/containers/");
    client_add_urlenc(&b, id);
    luaL_addstring(&b, suffix);
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

typedef const char *(*client_rename_fn)(const char *key, const char *value);

/* Adds the string or list of strings on top to vals; NULL or why not. */
static const char *client_filter_values(lua_State *L, cJSON *vals, const char *key, client_rename_fn rename)
{
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        const char *v = lua_tostring(L, -1);
        cJSON_AddItemToArray(vals, cJSON_CreateString(rename ? rename(key, v) : v));
        return NULL;
    }
    if (!lua_istable(L, -1))
        return "a filter must be a string or a list of strings";
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *bad = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                              ? client_filter_values(L, vals, key, rename)
                              : "filter values must be strings";
        lua_pop(L, 1);
        if (bad)
            return bad;
    }
    return NULL;
}

/* filters = { label = {"a=b"} | "a=b", name = {...}, status = "running" }
 * becomes the engines' JSON map of string lists, pushed as a string (or
 * nothing pushed and NULL when there are no filters). */
const char *client_filters_json(lua_State *L, int opts, client_rename_fn rename)
{
    if (!client_opts(L, opts))
        return NULL;
    if (lua_getfield(L, opts, "filters") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_argcheck(L, lua_istable(L, -1), opts, "filters must be a table");
    cJSON *map = cJSON_CreateObject();
    const char *bad = NULL;
    lua_pushnil(L);
    while (!bad && lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            bad = "filter names must be strings";
        else
            bad = client_filter_values(L, cJSON_AddArrayToObject(map, lua_tostring(L, -2)), lua_tostring(L, -2), rename);
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

/* The engine waits up to `timeout` seconds before killing: the request
 * must be allowed longer than that. */
long client_grace_ms(client *c, lua_Number secs)
{
    long ms = (long)(secs * 1000) + 15000;
    return ms > c->eng.request_timeout_ms ? ms : c->eng.request_timeout_ms;
}

/* ---- pushers ---- */

int client_push_true(lua_State *L, client *c, engine_reply *r)
{
    (void)c;
    (void)r;
    lua_pushboolean(L, 1);
    return 1;
}

int client_push_json(lua_State *L, client *c, engine_reply *r)
{
    (void)c;
    json_push(L, r->json);
    return 1;
}

/* Raises a protocol error: the engine's answer had the wrong shape. */
int client_bad_shape(lua_State *L, client *c, engine_reply *r, const char *what)
{
    r->kind = ERR_PROTOCOL;
    snprintf(r->message, sizeof r->message, "%s answered %s", c->eng.ep.display, what);
    return client_raise(L, r);
}

/* ---- methods ---- */

/* client:close(): later calls raise. Safe to call twice. */
static int client_l_close(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    c->closed = 1;
    engine_disconnect(&c->eng); /* an ssh tunnel's child goes now, not at collection */
    return 0;
}

static const luaL_Reg client_methods[] = {
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
    free(c->cpu_cache);
    c->cpu_cache = NULL;
    return 0;
}

/* ---- connecting ---- */

static const char *const client_config_keys[] = {
    "socket_path", "remote_url", "api_version", "username", "password", "identity_file",
    "tls_ca", "tls_cert", "tls_key", "tls_verify", "auto_detect", "fallback_to_docker",
    "use_cli_fallback", "start_service", "connect_timeout", "request_timeout", "ssh_options", NULL,
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

/* config.ssh_options = { "UserKnownHostsFile=/x", ... }: each is one value
 * of ssh's -o. Stored as it goes, so a Lua error frees what was taken. */
static void client_cfg_ssh_options(lua_State *L, int idx, engine_config *cfg)
{
    int t = lua_getfield(L, idx, "ssh_options");
    lua_Integer n = t == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
    if (t != LUA_TNIL && (t != LUA_TTABLE || n > 24))
        luaL_error(L, "config.ssh_options must be a list of at most 24 strings like \"Key=value\"");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!(cfg->ssh_options = calloc((size_t)n + 1, sizeof *cfg->ssh_options)))
        luaL_error(L, "out of memory");
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING || !*lua_tostring(L, -1))
            luaL_error(L, "config.ssh_options[%d] must be a non-empty string like \"Key=value\"", (int)i);
        if (!(cfg->ssh_options[i - 1] = strdup(lua_tostring(L, -1))))
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
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
    cfg->username = client_cfg_str(L, idx, "username");
    cfg->password = client_cfg_str(L, idx, "password");
    cfg->identity_file = client_cfg_str(L, idx, "identity_file");
    cfg->tls_ca = client_cfg_str(L, idx, "tls_ca");
    cfg->tls_cert = client_cfg_str(L, idx, "tls_cert");
    cfg->tls_key = client_cfg_str(L, idx, "tls_key");
    cfg->tls_verify = client_opt_bool(L, idx, "tls_verify", -1);
    client_cfg_ssh_options(L, idx, cfg);
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
    luaL_setfuncs(L, client_system_methods, 0);
    luaL_setfuncs(L, client_container_methods, 0);
    luaL_setfuncs(L, client_stream_methods, 0);
    luaL_setfuncs(L, client_stats_methods, 0);
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
