/* model_event — one event, as both engines describe it, turned into the
 * API's ContainerEvent.
 *
 * What differs (ENGINES.md): Podman's libpod API says `died` where Docker
 * says `die`; Docker folds details into the action ("health_status:
 * healthy", "exec_start: sh -c ..."), Podman keeps the action bare and puts
 * the health state in its own field; the exit code is `exitCode` on Docker
 * and `containerExitCode` on Podman, where it is present (as "0") on every
 * event. Labels travel among the actor's attributes on both. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "models.h"

static const char *model_ev_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Attributes that describe the event rather than the container's labels. */
static int model_ev_reserved(const char *key)
{
    static const char *const reserved[] = {
        "name", "image", "exitCode", "containerExitCode", "podId", "signal", "execID",
        "health_status", "HealthStatus", "container", "type", "driver", NULL,
    };
    for (const char *const *r = reserved; *r; r++)
        if (strcmp(*r, key) == 0)
            return 1;
    return 0;
}

void model_event_action(const char *raw, char *action, size_t len, const char **detail)
{
    const char *colon = raw ? strstr(raw, ": ") : NULL;
    size_t n = raw ? (colon ? (size_t)(colon - raw) : strlen(raw)) : 0;
    if (n >= len)
        n = len - 1;
    memcpy(action, raw ? raw : "", n);
    action[n] = '\0';
    if (strcmp(action, "died") == 0)
        strcpy(action, "die");
    *detail = colon ? colon + 2 : NULL;
}

static void model_ev_set_str(lua_State *L, const char *field, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, field);
}

static double model_ev_time(const cJSON *e)
{
    const cJSON *nano = cJSON_GetObjectItemCaseSensitive(e, "timeNano");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(e, "time");
    if (cJSON_IsNumber(nano) && nano->valuedouble > 0)
        return nano->valuedouble / 1e9;
    return cJSON_IsNumber(secs) ? secs->valuedouble : 0;
}

static void model_ev_labels(lua_State *L, const cJSON *attrs)
{
    const cJSON *a;
    lua_newtable(L);
    cJSON_ArrayForEach(a, attrs) {
        if (cJSON_IsString(a) && !model_ev_reserved(a->string)) {
            lua_pushstring(L, a->valuestring);
            lua_setfield(L, -2, a->string);
        }
    }
    lua_setfield(L, -2, "labels");
}

/* The exit code of a die event: Docker's exitCode, Podman's containerExitCode. */
static void model_ev_exit_code(lua_State *L, const cJSON *attrs)
{
    const char *code = model_ev_str(attrs, "exitCode");
    if (!code)
        code = model_ev_str(attrs, "containerExitCode");
    if (code && *code) {
        lua_pushinteger(L, strtol(code, NULL, 10));
        lua_setfield(L, -2, "exit_code");
    }
}

int model_push_event(lua_State *L, cJSON *e, engine_runtime rt, const char *runtime)
{
    const cJSON *actor = cJSON_GetObjectItemCaseSensitive(e, "Actor");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
    const char *raw_action = model_ev_str(e, "Action");
    const char *type = model_ev_str(e, "Type");
    const char *id = model_ev_str(actor, "ID");
    char action[64], type_lc[32];
    const char *detail;

    luaL_checkstack(L, 6, "event model");
    model_event_action(raw_action ? raw_action : model_ev_str(e, "status"), action, sizeof action, &detail);
    snprintf(type_lc, sizeof type_lc, "%s", type ? type : "container");
    for (char *c = type_lc; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);

    lua_createtable(L, 0, 12);
    model_attach_raw(L, e); /* owned by the model from here, even on an error */
    lua_pushnumber(L, model_ev_time(e));
    lua_setfield(L, -2, "timestamp");
    model_ev_set_str(L, "type", type_lc);
    model_ev_set_str(L, "action", action);
    model_ev_set_str(L, "container_id", id ? id : model_ev_str(e, "id"));
    model_ev_set_str(L, "container_name", model_ev_str(attrs, "name"));
    model_ev_set_str(L, "image", model_ev_str(attrs, "image") ? model_ev_str(attrs, "image") : model_ev_str(e, "from"));
    model_ev_set_str(L, "runtime", runtime ? runtime : engine_runtime_name(rt));
    model_ev_labels(L, attrs);
    if (strcmp(action, "die") == 0)
        model_ev_exit_code(L, attrs);
    if (strcmp(action, "health_status") == 0) {
        const char *health = detail ? detail : model_ev_str(e, "HealthStatus");
        if (!health)
            health = model_ev_str(attrs, "health_status");
        model_ev_set_str(L, "health", health);
    } else if (detail) {
        model_ev_set_str(L, "detail", detail);
    }
    return 1;
}
