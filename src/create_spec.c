/* create_spec — a script's description of a container, turned into the
 * body of Docker's POST /containers/create (which Podman serves too, so one
 * translation serves both engines).
 *
 *   { name, image, cmd = {..} | "shell line", entrypoint = {..}, env = { K = "v" } | { "K=v" },
 *     labels = {}, working_dir, user, tty, stop_signal, stop_timeout, network,
 *     memory, cpus, auto_remove, ports = { "8080/tcp" },
 *     healthcheck = { test = {"CMD-SHELL", ".."} | "shell line", interval, timeout,
 *                     retries, start_period },          -- seconds
 *     restart_policy = "always" | "unless-stopped" | "on-failure" | "no"
 *                    | { name = "on-failure", max_retries = 3 } }
 *
 * Unknown fields are refused, so that a misspelt option is not silently
 * ignored. */
#include "create_spec.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct spec_ctx {
    lua_State *L;
    int idx;            /* the spec table */
    cJSON *body;
    char *err;
    size_t errlen;
} spec_ctx;

static int spec_fail(spec_ctx *c, const char *fmt, const char *field)
{
    snprintf(c->err, c->errlen, fmt, field);
    return -1;
}

/* Pushes field `key` of the spec; returns its type. */
static int spec_get(spec_ctx *c, const char *key)
{
    return lua_getfield(c->L, c->idx, key);
}

/* A string field into obj[json_key]. */
static int spec_string(spec_ctx *c, cJSON *obj, const char *key, const char *json_key)
{
    int t = spec_get(c, key);
    int rc = 0;
    if (t == LUA_TSTRING)
        cJSON_AddStringToObject(obj, json_key, lua_tostring(c->L, -1));
    else if (t != LUA_TNIL)
        rc = spec_fail(c, "create_container: %s must be a string", key);
    lua_pop(c->L, 1);
    return rc;
}

static int spec_number(spec_ctx *c, cJSON *obj, const char *key, const char *json_key, double scale)
{
    int t = spec_get(c, key);
    int rc = 0;
    if (t == LUA_TNUMBER && lua_tonumber(c->L, -1) >= 0)
        cJSON_AddNumberToObject(obj, json_key, floor(lua_tonumber(c->L, -1) * scale));
    else if (t != LUA_TNIL)
        rc = spec_fail(c, "create_container: %s must be a number >= 0", key);
    lua_pop(c->L, 1);
    return rc;
}

static int spec_bool(spec_ctx *c, cJSON *obj, const char *key, const char *json_key)
{
    int t = spec_get(c, key);
    int rc = 0;
    if (t == LUA_TBOOLEAN)
        cJSON_AddBoolToObject(obj, json_key, lua_toboolean(c->L, -1));
    else if (t != LUA_TNIL)
        rc = spec_fail(c, "create_container: %s must be a boolean", key);
    lua_pop(c->L, 1);
    return rc;
}

/* The table on top as a list of strings; a string is `sh -c string` when
 * `shell` is given ("CMD-SHELL" style prefixes for health checks). */
static cJSON *spec_argv(spec_ctx *c, const char *field, const char *shell_prefix)
{
    lua_State *L = c->L;
    cJSON *arr = cJSON_CreateArray();
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (shell_prefix)
            cJSON_AddItemToArray(arr, cJSON_CreateString(shell_prefix));
        else {
            cJSON_AddItemToArray(arr, cJSON_CreateString("/bin/sh"));
            cJSON_AddItemToArray(arr, cJSON_CreateString("-c"));
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
        return arr;
    }
    lua_Integer n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : -1;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            n = -1;
        else
            cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
        lua_pop(L, 1);
    }
    if (n < 0) {
        cJSON_Delete(arr);
        spec_fail(c, "create_container: %s must be a list of strings or a string", field);
        return NULL;
    }
    return arr;
}

static int spec_argv_field(spec_ctx *c, const char *key, const char *json_key)
{
    int rc = 0;
    if (spec_get(c, key) != LUA_TNIL) {
        cJSON *arr = spec_argv(c, key, NULL);
        if (arr)
            cJSON_AddItemToObject(c->body, json_key, arr);
        else
            rc = -1;
    }
    lua_pop(c->L, 1);
    return rc;
}

/* env = { K = "v" } (sorted, so the body is stable) or { "K=v", ... } */
static int spec_env(spec_ctx *c)
{
    lua_State *L = c->L;
    int rc = 0;
    if (spec_get(c, "env") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return spec_fail(c, "create_container: %s must be a table", "env");
    }
    cJSON *arr = cJSON_AddArrayToObject(c->body, "Env");
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
        } else if (lua_type(L, -2) == LUA_TSTRING &&
                   (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
            lua_pop(L, 1);
        } else {
            rc = spec_fail(c, "create_container: %s must map names to strings", "env");
            lua_pop(L, 1);
            break;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}

static int spec_labels(spec_ctx *c)
{
    lua_State *L = c->L;
    int rc = 0;
    if (spec_get(c, "labels") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    cJSON *obj = cJSON_AddObjectToObject(c->body, "Labels");
    if (!lua_istable(L, -1))
        rc = -1;
    else {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                rc = -1;
            else
                cJSON_AddStringToObject(obj, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return rc ? spec_fail(c, "create_container: %s must map strings to strings", "labels") : 0;
}

static int spec_healthcheck(spec_ctx *c)
{
    lua_State *L = c->L;
    if (spec_get(c, "healthcheck") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return spec_fail(c, "create_container: %s must be a table", "healthcheck");
    }
    spec_ctx hc = *c;
    hc.idx = lua_gettop(L);
    hc.body = cJSON_AddObjectToObject(c->body, "Healthcheck");
    int rc = 0;
    cJSON *test = NULL;
    if (lua_getfield(L, hc.idx, "test") == LUA_TNIL)
        spec_fail(c, "create_container: %s needs a test (a shell line or a list)", "healthcheck");
    else
        test = spec_argv(&hc, "healthcheck.test", "CMD-SHELL");
    lua_pop(L, 1);
    if (!test)
        rc = -1;
    else
        cJSON_AddItemToObject(hc.body, "Test", test);
    /* durations: seconds in Lua, nanoseconds on the wire */
    if (rc == 0)
        rc = spec_number(&hc, hc.body, "interval", "Interval", 1e9) ||
             spec_number(&hc, hc.body, "timeout", "Timeout", 1e9) ||
             spec_number(&hc, hc.body, "start_period", "StartPeriod", 1e9) ||
             spec_number(&hc, hc.body, "retries", "Retries", 1) ? -1 : 0;
    lua_pop(L, 1);
    return rc;
}

static int spec_restart_policy(spec_ctx *c, cJSON *host)
{
    lua_State *L = c->L;
    int t = spec_get(c, "restart_policy");
    int rc = 0;
    if (t == LUA_TSTRING || t == LUA_TTABLE) {
        cJSON *rp = cJSON_AddObjectToObject(host, "RestartPolicy");
        if (t == LUA_TSTRING) {
            cJSON_AddStringToObject(rp, "Name", lua_tostring(L, -1));
        } else {
            lua_getfield(L, -1, "name");
            lua_getfield(L, -2, "max_retries");
            if (lua_type(L, -2) != LUA_TSTRING || !(lua_isnil(L, -1) || lua_isinteger(L, -1)))
                rc = spec_fail(c, "create_container: %s must be a string or { name =, max_retries = }",
                               "restart_policy");
            else {
                cJSON_AddStringToObject(rp, "Name", lua_tostring(L, -2));
                cJSON_AddNumberToObject(rp, "MaximumRetryCount", (double)lua_tointeger(L, -1));
            }
            lua_pop(L, 2);
        }
    } else if (t != LUA_TNIL) {
        rc = spec_fail(c, "create_container: %s must be a string or a table", "restart_policy");
    }
    lua_pop(L, 1);
    return rc;
}

/* ports = { "8080/tcp", "53/udp" }: exposed ports */
static int spec_ports(spec_ctx *c)
{
    lua_State *L = c->L;
    if (spec_get(c, "ports") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    int rc = lua_istable(L, -1) ? 0 : -1;
    cJSON *exposed = cJSON_AddObjectToObject(c->body, "ExposedPorts");
    for (lua_Integer i = 1; rc == 0 && i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
            const char *p = lua_tostring(L, -1);
            char key[64];
            snprintf(key, sizeof key, "%s%s", p, strchr(p, '/') ? "" : "/tcp");
            cJSON_AddItemToObject(exposed, key, cJSON_CreateObject());
        } else {
            rc = -1;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc ? spec_fail(c, "create_container: %s must be a list like { \"8080/tcp\" }", "ports") : 0;
}

static int spec_host_config(spec_ctx *c)
{
    cJSON *host = cJSON_AddObjectToObject(c->body, "HostConfig");
    int rc = spec_restart_policy(c, host) || spec_string(c, host, "network", "NetworkMode") ||
             spec_number(c, host, "memory", "Memory", 1) || spec_number(c, host, "cpus", "NanoCpus", 1e9) ||
             spec_bool(c, host, "auto_remove", "AutoRemove");
    return rc ? -1 : 0;
}

static int spec_check_keys(spec_ctx *c)
{
    static const char *const known[] = {
        "name", "image", "cmd", "entrypoint", "env", "labels", "working_dir", "user", "tty", "stop_signal",
        "stop_timeout", "network", "memory", "cpus", "auto_remove", "ports", "healthcheck", "restart_policy", NULL,
    };
    lua_State *L = c->L;
    lua_pushnil(L);
    while (lua_next(L, c->idx)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (const char *const *k = known; *k && !ok; k++)
                ok = strcmp(*k, lua_tostring(L, -2)) == 0;
        if (!ok) {
            snprintf(c->err, c->errlen, "create_container: unknown field '%s'", luaL_tolstring(L, -2, NULL));
            lua_pop(L, 3);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

cJSON *create_spec_body(lua_State *L, int idx, char *err, size_t errlen)
{
    spec_ctx c = {.L = L, .idx = lua_absindex(L, idx), .body = cJSON_CreateObject(), .err = err, .errlen = errlen};
    int top = lua_gettop(L);
    int rc = spec_check_keys(&c);
    if (rc == 0 && spec_get(&c, "image") != LUA_TSTRING)
        rc = spec_fail(&c, "create_container: %s (a string) is required", "image");
    lua_settop(L, top);
    if (rc == 0)
        rc = spec_string(&c, c.body, "image", "Image") || spec_argv_field(&c, "cmd", "Cmd") ||
             spec_argv_field(&c, "entrypoint", "Entrypoint") || spec_env(&c) || spec_labels(&c) ||
             spec_string(&c, c.body, "working_dir", "WorkingDir") || spec_string(&c, c.body, "user", "User") ||
             spec_bool(&c, c.body, "tty", "Tty") || spec_string(&c, c.body, "stop_signal", "StopSignal") ||
             spec_number(&c, c.body, "stop_timeout", "StopTimeout", 1) || spec_ports(&c) ||
             spec_healthcheck(&c) || spec_host_config(&c);
    lua_settop(L, top);
    if (rc != 0) {
        cJSON_Delete(c.body);
        return NULL;
    }
    return c.body;
}
