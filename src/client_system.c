/* client_system — the engine as a whole: ping, version, info, pods. */
#include <string.h>

#include "client_impl.h"
#include "error.h"
#include "json.h"
#include "models.h"

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

static int client_push_pods(lua_State *L, client *c, engine_reply *r)
{
    if (!cJSON_IsArray(r->json))
        return client_bad_shape(L, c, r, "a pod list with something that is not a list");
    lua_createtable(L, cJSON_GetArraySize(r->json), 0);
    int i = 0;
    cJSON *p = r->json->child;
    while (p) {
        cJSON *next = p->next;
        model_push_pod(L, cJSON_DetachItemViaPointer(r->json, p), NULL);
        lua_rawseti(L, -2, ++i);
        p = next;
    }
    return 1;
}

/* client:list_pods{ filters = {...} } -> { Pod }  (Podman; Docker has no pods:
 * an "unsupported" error) */
static int client_l_list_pods(lua_State *L)
{
    client *c = client_check(L);
    if (c->eng.runtime != RUNTIME_PODMAN) {
        error_push(L, "unsupported", 0, "pods are a Podman feature; this client is connected to Docker");
        return lua_error(L);
    }
    const char *filters = client_filters_json(L, 2, NULL);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/pods/json");
    if (filters) {
        luaL_addstring(&b, "?filters=");
        client_add_urlenc(&b, filters);
    }
    luaL_pushresult(&b);
    engine_request rq = {.method = "GET", .path = lua_tostring(L, -1)};
    return client_request(L, "list_pods", &rq, client_push_pods);
}

const luaL_Reg client_system_methods[] = {
    {"ping", client_l_ping},
    {"get_version", client_l_get_version},
    {"get_system_info", client_l_get_system_info},
    {"list_pods", client_l_list_pods},
    {NULL, NULL},
};
