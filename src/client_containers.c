/* client_containers — one container at a time: list, inspect, lifecycle. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"
#include "create_spec.h"
#include "models.h"

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

/* client:list_containers{ all = false, limit = n, filters = {...} } -> { Container } */
static int client_l_list_containers(lua_State *L)
{
    client_check(L);
    int all = client_opt_bool(L, 2, "all", 0);
    lua_Number limit = client_opt_num(L, 2, "limit", 0);
    const char *filters = client_filters_json(L, 2, NULL);
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


/* Runs POST /containers/<id><verb> and returns true. */
static int client_simple_post(lua_State *L, const char *what, const char *verb)
{
    client_check(L);
    engine_request rq = {.method = "POST", .path = client_container_path(L, client_check_id(L, 2), verb)};
    return client_request(L, what, &rq, client_push_true);
}

/* client:kill_container(id, { signal = "SIGKILL" }) -> true */
static int client_l_kill_container(lua_State *L)
{
    client_check(L);
    const char *id = client_check_id(L, 2);
    const char *sig = client_opt_str(L, 3, "signal");
    if (!sig && client_opts(L, 3)) {
        lua_pop(L, 1);
        lua_Number n = client_opt_num(L, 3, "signal", 9);
        lua_pushfstring(L, "%d", (int)n);
        sig = lua_tostring(L, -1);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/kill?signal=");
    client_add_urlenc(&b, sig ? sig : "SIGKILL");
    luaL_pushresult(&b);
    engine_request rq = {.method = "POST", .path = client_container_path(L, id, lua_tostring(L, -1))};
    return client_request(L, "kill_container", &rq, client_push_true);
}

/* client:pause_container(id) -> true */
static int client_l_pause_container(lua_State *L)
{
    return client_simple_post(L, "pause_container", "/pause");
}

/* client:unpause_container(id) -> true */
static int client_l_unpause_container(lua_State *L)
{
    return client_simple_post(L, "unpause_container", "/unpause");
}

/* Docker answers {"StatusCode": n, "Error": {"Message": ...} | null}. */
static int client_push_exit_code(lua_State *L, client *c, engine_reply *r)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(r->json, "StatusCode");
    if (!cJSON_IsNumber(code))
        return client_bad_shape(L, c, r, "a wait without a StatusCode");
    lua_pushinteger(L, (lua_Integer)code->valuedouble);
    return 1;
}

/* client:wait_container(id, { condition = "not-running", timeout = nil })
 *   -> exit_code
 * Waits until the container reaches the condition ("not-running",
 * "next-exit", "removed"); without a timeout it waits as long as it takes.
 * Docker's semantics on both engines: Podman serves them on its
 * Docker-compatible API. */
static int client_l_wait_container(lua_State *L)
{
    client_check(L);
    const char *id = client_check_id(L, 2);
    const char *cond = client_opt_str(L, 3, "condition");
    lua_Number timeout = client_opt_num(L, 3, "timeout", 0);
    luaL_argcheck(L, timeout >= 0, 3, "timeout must be >= 0");
    if (cond && strcmp(cond, "not-running") != 0 && strcmp(cond, "next-exit") != 0 && strcmp(cond, "removed") != 0)
        luaL_argerror(L, 3, "condition must be \"not-running\", \"next-exit\" or \"removed\"");
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/wait?condition=%s", cond ? cond : "not-running");
    engine_request rq = {.method = "POST", .path = client_container_path(L, id, suffix), .flags = ENGINE_COMPAT,
                         /* a wait has no natural end: the caller's timeout, or none */
                         .timeout_ms = timeout > 0 ? (long)(timeout * 1000) : -1};
    return client_request(L, "wait_container", &rq, client_push_exit_code);
}

static int client_push_created(lua_State *L, client *c, engine_reply *r)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r->json, "Id");
    if (!cJSON_IsString(id))
        return client_bad_shape(L, c, r, "a create without an Id");
    lua_pushstring(L, id->valuestring);
    return 1;
}

/* client:create_container{ name =, image =, cmd =, env =, labels =,
 *   healthcheck =, restart_policy =, network =, ... } -> id
 * Creates (does not start) a container; see src/create_spec.c for every
 * field. A misspelt field is an error, not ignored. */
static int client_l_create_container(lua_State *L)
{
    client_check(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    char err[256];
    cJSON *body = create_spec_body(L, 2, err, sizeof err);
    if (!body)
        return luaL_argerror(L, 2, err);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, text);
    free(text);
    const char *json = lua_tostring(L, -1);
    const char *name = client_opt_str(L, 2, "name");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/containers/create");
    if (name) {
        luaL_addstring(&b, "?name=");
        client_add_urlenc(&b, name);
    }
    luaL_pushresult(&b);
    engine_request rq = {.method = "POST", .path = lua_tostring(L, -1), .body = json, .body_len = strlen(json),
                         .flags = ENGINE_COMPAT};
    return client_request(L, "create_container", &rq, client_push_created);
}

const luaL_Reg client_container_methods[] = {
    {"list_containers", client_l_list_containers},
    {"get_container", client_l_get_container},
    {"start_container", client_l_start_container},
    {"stop_container", client_l_stop_container},
    {"restart_container", client_l_restart_container},
    {"remove_container", client_l_remove_container},
    {"kill_container", client_l_kill_container},
    {"pause_container", client_l_pause_container},
    {"unpause_container", client_l_unpause_container},
    {"wait_container", client_l_wait_container},
    {"create_container", client_l_create_container},
    {NULL, NULL},
};
