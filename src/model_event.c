/* model_event — one event, as both engines describe it, turned into the
 * API's ContainerEvent.
 *
 * What differs (ENGINES.md): Podman's libpod API says `died` where Docker
 * says `die`; Docker folds details into the action ("health_status:
 * healthy", "exec_start: sh -c ..."), Podman keeps the action bare and puts
 * the health state in its own field; the exit code is `exitCode` on Docker
 * and `containerExitCode` on Podman, where it is present (as "0") on every
 * event. Labels travel among the actor's attributes on both.
 *
 * The event is read with event_scan (no JSON tree): the same view serves
 * the listener's filters in C and the model pushed to Lua, and `raw` is
 * decoded from the kept text only if a script reads it. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "models.h"

/* Attributes that describe the event rather than the container's labels.
 * Looked up for every attribute of every event: by length first. */
static int model_ev_reserved(ev_str key)
{
    static const struct {
        size_t n;
        const char *s;
    } reserved[] = {
        {4, "name"},       {5, "image"},   {8, "exitCode"},       {17, "containerExitCode"},
        {5, "podId"},      {6, "signal"},  {6, "execID"},         {13, "health_status"},
        {12, "HealthStatus"}, {9, "container"}, {4, "type"},      {6, "driver"},
    };
    if (key.escaped)
        return 0; /* none of them needs an escape */
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (reserved[i].n == key.n && memcmp(reserved[i].s, key.p, key.n) == 0)
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
    /* one word per happening on both engines: Podman's "died" and
     * "exec_died", Docker's "destroy" for a removed container */
    if (strcmp(action, "died") == 0)
        strcpy(action, "die");
    else if (strcmp(action, "exec_died") == 0)
        strcpy(action, "exec_die");
    else if (strcmp(action, "destroy") == 0)
        strcpy(action, "remove");
    *detail = colon ? colon + 2 : NULL;
}

/* Is the attribute's key `lit` (of n bytes)? Most keys have no escapes:
 * those are compared as they lie. */
static int model_ev_key_is(ev_str k, const char *lit, size_t n)
{
    return k.escaped ? ev_str_eq(k, lit) : k.n == n && memcmp(k.p, lit, n) == 0;
}

/* The attributes the model reads, each the first of its key, in one pass
 * over the attributes rather than one per key. */
static void model_ev_find_attrs(const ev_scan *e, event_view *v, ev_str *exit_code, ev_str *container_exit_code)
{
    for (int i = 0; i < e->nattrs; i++) {
        const ev_attr *a = &e->attrs[i];
        if (!v->name.p && model_ev_key_is(a->key, "name", 4))
            v->name = a->value;
        else if (!v->image.p && model_ev_key_is(a->key, "image", 5))
            v->image = a->value;
        else if (!exit_code->p && model_ev_key_is(a->key, "exitCode", 8))
            *exit_code = a->value;
        else if (!container_exit_code->p && model_ev_key_is(a->key, "containerExitCode", 17))
            *container_exit_code = a->value;
    }
}

void model_event_view(const ev_scan *e, event_view *v)
{
    char raw[sizeof v->action + sizeof v->detail];
    const char *detail;
    memset(v, 0, sizeof *v);
    v->scan = e;
    ev_str_copy(e->type, v->type, sizeof v->type);
    if (!v->type[0])
        strcpy(v->type, "container");
    for (char *c = v->type; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    ev_str_copy(e->action, raw, sizeof raw);
    model_event_action(raw, v->action, sizeof v->action, &detail);
    if (detail)
        snprintf(v->detail, sizeof v->detail, "%s", detail);
    if (strcmp(v->action, "health_status") == 0) {
        if (v->detail[0])
            snprintf(v->health, sizeof v->health, "%.15s", v->detail);
        else if (e->health.p)
            ev_str_copy(e->health, v->health, sizeof v->health);
        else
            ev_str_copy(ev_scan_attr(e, "health_status"), v->health, sizeof v->health);
        v->detail[0] = '\0';
    }
    v->id = e->id;
    ev_str exit_code = {0}, container_exit_code = {0};
    model_ev_find_attrs(e, v, &exit_code, &container_exit_code);
    if (!v->image.p)
        v->image = e->from;
    if (strcmp(v->action, "die") == 0) {
        ev_str code = exit_code.p ? exit_code : container_exit_code;
        char num[24];
        if (code.p && ev_str_copy(code, num, sizeof num) > 0) {
            v->has_exit_code = 1;
            v->exit_code = strtol(num, NULL, 10);
        }
    }
    v->time_nano = e->time_nano;
}

int model_event_has_label(const event_view *v, const char *key, const char *value)
{
    for (int i = 0; i < v->scan->nattrs; i++) {
        const ev_attr *a = &v->scan->attrs[i];
        if (!model_ev_reserved(a->key) && ev_str_eq(a->key, key))
            return !value || ev_str_eq(a->value, value);
    }
    return 0;
}

/* Pushes the string's decoded value. */
static void model_ev_push_value(lua_State *L, ev_str s)
{
    char small[256];
    if (!s.escaped) {
        lua_pushlstring(L, s.p, s.n);
        return;
    }
    size_t n = ev_str_copy(s, small, sizeof small);
    if (n < sizeof small) {
        lua_pushlstring(L, small, n);
        return;
    }
    char *big = malloc(n + 1);
    if (!big)
        luaL_error(L, "out of memory");
    ev_str_copy(s, big, n + 1);
    lua_pushlstring(L, big, n);
    free(big);
}

/* The slots of a model_event_ctx, from its base: the field names first. */
enum {
    MK_TIMESTAMP, MK_TYPE, MK_ACTION, MK_CONTAINER_ID, MK_CONTAINER_NAME, MK_IMAGE, MK_RUNTIME, MK_LABELS,
    MK_EXIT_CODE, MK_HEALTH, MK_DETAIL,
    MS_MT, MS_PENDING, MS_IDS, MS_RUNTIME, MS_N
};
static const char *const model_ev_keys[MS_MT] = {
    "timestamp", "type", "action", "container_id", "container_name", "image", "runtime", "labels",
    "exit_code", "health", "detail",
};
/* registry: the slots up to MS_RUNTIME, made once */
static const char model_ev_ctx_key = 'c';

/* Container ids are 64 characters, past what Lua interns: each push would
 * be a new string, for ids that come again and again. The last ones pushed
 * are kept in a small table, indexed by their first bytes. */
#define MODEL_ID_SLOTS 64

void model_event_ctx_push(lua_State *L, model_event_ctx *ctx, const char *runtime)
{
    luaL_checkstack(L, MS_N + 2, "event model");
    int t = lua_gettop(L) + 1;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &model_ev_ctx_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, MS_RUNTIME, 0);
        for (int i = 0; i < MS_MT; i++) {
            lua_pushstring(L, model_ev_keys[i]);
            lua_rawseti(L, -2, i + 1);
        }
        model_push_raw_context(L);
        lua_rawseti(L, -3, MS_PENDING + 1);
        lua_rawseti(L, -2, MS_MT + 1);
        lua_createtable(L, MODEL_ID_SLOTS, 0);
        lua_rawseti(L, -2, MS_IDS + 1);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &model_ev_ctx_key);
    }
    for (int i = 0; i < MS_RUNTIME; i++)
        lua_rawgeti(L, t, i + 1);
    if (runtime && *runtime)
        lua_pushstring(L, runtime);
    else
        lua_pushnil(L);
    lua_remove(L, t);
    ctx->base = t;
}

/* An id, from the cache when it was pushed lately. */
static void model_ev_push_id(lua_State *L, const model_event_ctx *ctx, ev_str id)
{
    if (id.escaped || id.n < 8) {
        model_ev_push_value(L, id);
        return;
    }
    uint64_t h = 0;
    memcpy(&h, id.p, sizeof h);
    lua_Integer slot = (lua_Integer)((h * 0x9E3779B97F4A7C15u) >> 58) + 1; /* 1..64 */
    int ids = ctx->base + MS_IDS;
    size_t n;
    const char *cached = lua_rawgeti(L, ids, slot) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (cached && n == id.n && memcmp(cached, id.p, n) == 0)
        return;
    lua_pop(L, 1);
    lua_pushlstring(L, id.p, id.n);
    lua_pushvalue(L, -1);
    lua_rawseti(L, ids, slot);
}

static void model_ev_labels(lua_State *L, const ev_scan *e)
{
    lua_createtable(L, 0, e->nattrs);
    for (int i = 0; i < e->nattrs; i++) {
        if (model_ev_reserved(e->attrs[i].key))
            continue;
        model_ev_push_value(L, e->attrs[i].key);
        model_ev_push_value(L, e->attrs[i].value);
        lua_rawset(L, -3);
    }
}

/* The event's table is on top; pushes the field's name, for its value to
 * follow and lua_rawset(L, -3) to set. */
static void model_ev_key(lua_State *L, const model_event_ctx *ctx, int key)
{
    lua_pushvalue(L, ctx->base + key);
}

static void model_ev_set_cstr(lua_State *L, const model_event_ctx *ctx, int key, const char *v)
{
    if (!v || !*v)
        return;
    model_ev_key(L, ctx, key);
    lua_pushstring(L, v);
    lua_rawset(L, -3);
}

static void model_ev_set_str(lua_State *L, const model_event_ctx *ctx, int key, ev_str s)
{
    if (!s.p)
        return;
    model_ev_key(L, ctx, key);
    model_ev_push_value(L, s);
    lua_rawset(L, -3);
}

int model_push_event_ctx(lua_State *L, const model_event_ctx *ctx, const event_view *v, int text_idx)
{
    text_idx = lua_absindex(L, text_idx);
    luaL_checkstack(L, 6, "event model");
    /* sized to what it gets: events are made by the thousand */
    int fields = 8 + v->has_exit_code + !!v->health[0] + !!v->detail[0];
    lua_createtable(L, 0, fields);
    /* raw: pending, built from the text on first read */
    lua_pushvalue(L, ctx->base + MS_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_pushvalue(L, text_idx);
    lua_rawset(L, ctx->base + MS_PENDING);
    model_ev_key(L, ctx, MK_TIMESTAMP);
    lua_pushnumber(L, (lua_Number)v->time_nano / 1e9);
    lua_rawset(L, -3);
    model_ev_set_cstr(L, ctx, MK_TYPE, v->type);
    model_ev_set_cstr(L, ctx, MK_ACTION, v->action);
    if (v->id.p) {
        model_ev_key(L, ctx, MK_CONTAINER_ID);
        model_ev_push_id(L, ctx, v->id);
        lua_rawset(L, -3);
    }
    model_ev_set_str(L, ctx, MK_CONTAINER_NAME, v->name);
    model_ev_set_str(L, ctx, MK_IMAGE, v->image);
    if (!lua_isnil(L, ctx->base + MS_RUNTIME)) {
        model_ev_key(L, ctx, MK_RUNTIME);
        lua_pushvalue(L, ctx->base + MS_RUNTIME);
        lua_rawset(L, -3);
    }
    model_ev_key(L, ctx, MK_LABELS);
    model_ev_labels(L, v->scan);
    lua_rawset(L, -3);
    if (v->has_exit_code) {
        model_ev_key(L, ctx, MK_EXIT_CODE);
        lua_pushinteger(L, v->exit_code);
        lua_rawset(L, -3);
    }
    model_ev_set_cstr(L, ctx, MK_HEALTH, v->health);
    model_ev_set_cstr(L, ctx, MK_DETAIL, v->detail);
    return 1;
}

int model_push_event_view(lua_State *L, const event_view *v, int text_idx, const char *runtime)
{
    model_event_ctx ctx;
    text_idx = lua_absindex(L, text_idx);
    model_event_ctx_push(L, &ctx, runtime);
    model_push_event_ctx(L, &ctx, v, text_idx);
    lua_replace(L, ctx.base);
    lua_settop(L, ctx.base);
    return 1;
}

int model_push_event_text(lua_State *L, const char *text, size_t len, const char *runtime)
{
    ev_scan scan;
    event_view v;
    if (ev_scan_event(text, len, &scan) != 0)
        return 0;
    model_event_view(&scan, &v);
    lua_pushlstring(L, text, len);
    /* the view points into `text`, which stays valid: the copy is for raw */
    model_push_event_view(L, &v, -1, runtime);
    lua_remove(L, -2);
    return 1;
}
