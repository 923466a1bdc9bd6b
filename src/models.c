/* models — both engines' JSON turned into the API's models, once. */
#include "models.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"

#define MODEL_MT "moonpod.model"
#define MODEL_RAW_MT "moonpod.raw_json"

/* Registry key of the weak-keyed table model -> userdata holding the
 * cJSON its `raw` will be built from. */
static char model_pending_raw;

static const cJSON *model_get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *model_str(const cJSON *obj, const char *key)
{
    const cJSON *v = model_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *model_status(const char *s)
{
    static const struct { const char *engine, *api; } map[] = {
        {"created", "created"},     {"configured", "created"}, {"initialized", "created"},
        {"running", "running"},     {"stopping", "running"},   {"paused", "paused"},
        {"restarting", "restarting"}, {"exited", "exited"},    {"stopped", "exited"},
        {"removing", "removing"},   {"dead", "dead"},
    };
    if (s)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcasecmp(s, map[i].engine) == 0)
                return map[i].api;
    return "unknown";
}

static int model_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

static int model_expect(const char **p, const char *accept)
{
    if (!**p || !strchr(accept, **p))
        return -1;
    (*p)++;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date: plain arithmetic,
 * because timegm() was a tenth of the time spent reading a log line. */
static long model_days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int model_parse_time(const char *s, double *out)
{
    int y, mo, d, h, mi, sec;
    const char *p = s;
    if (!s || model_digits(&p, 4, &y) || model_expect(&p, "-") || model_digits(&p, 2, &mo) ||
        model_expect(&p, "-") || model_digits(&p, 2, &d) || model_expect(&p, "Tt ") || model_digits(&p, 2, &h) ||
        model_expect(&p, ":") || model_digits(&p, 2, &mi) || model_expect(&p, ":") || model_digits(&p, 2, &sec))
        return -1;
    if (y <= 1)
        return -1; /* Go's zero time: "never" */
    double frac = 0, scale = 0.1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int oh, om, sign = *p++ == '-' ? -1 : 1;
        if (model_digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (model_digits(&p, 2, &om))
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    } else if (model_expect(&p, "Zz")) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    *out = (double)(model_days_from_civil(y, mo, d) * 86400 + h * 3600L + mi * 60L + sec - offset) + frac;
    return 0;
}

/* Engine names carry a leading "/" on Docker. */
static void model_push_name(lua_State *L, const char *name)
{
    lua_pushstring(L, name && *name == '/' ? name + 1 : (name ? name : ""));
}

/* Whole seconds: Docker's list gives no more, and a container must show the
 * same created_at whether it was listed or inspected, on either engine. */
static void model_set_created(lua_State *L, const cJSON *created)
{
    double t;
    if (cJSON_IsNumber(created))
        t = created->valuedouble;
    else if (!cJSON_IsString(created) || model_parse_time(created->valuestring, &t) != 0)
        return;
    lua_pushnumber(L, floor(t));
    lua_setfield(L, -2, "created_at");
}

/* ---- ports, all as "host:container/proto" or "container/proto" ---- */

typedef struct model_ports {
    char items[64][96];
    int n;
} model_ports;

static void model_port_add(model_ports *ps, long host, long ctr, long range, const char *proto)
{
    char s[96];
    if (ps->n >= (int)(sizeof ps->items / sizeof ps->items[0]) || ctr <= 0)
        return;
    proto = proto && *proto ? proto : "tcp";
    if (host > 0 && range > 1)
        snprintf(s, sizeof s, "%ld-%ld:%ld-%ld/%s", host, host + range - 1, ctr, ctr + range - 1, proto);
    else if (host > 0)
        snprintf(s, sizeof s, "%ld:%ld/%s", host, ctr, proto);
    else
        snprintf(s, sizeof s, "%ld/%s", ctr, proto);
    /* Docker lists a binding once per address family: keep one. */
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->items[i], s) == 0)
            return;
    memcpy(ps->items[ps->n++], s, sizeof s);
}

static long model_num(const cJSON *obj, const char *key)
{
    const cJSON *v = model_get(obj, key);
    if (cJSON_IsNumber(v))
        return (long)v->valuedouble;
    if (cJSON_IsString(v))
        return strtol(v->valuestring, NULL, 10);
    return 0;
}

/* A list item's Ports: Docker [{PrivatePort, PublicPort, Type}],
 * libpod [{container_port, host_port, range, protocol}]. */
static void model_ports_from_list(model_ports *ps, const cJSON *ports)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, ports) {
        if (model_get(p, "container_port"))
            model_port_add(ps, model_num(p, "host_port"), model_num(p, "container_port"), model_num(p, "range"),
                           model_str(p, "protocol"));
        else
            model_port_add(ps, model_num(p, "PublicPort"), model_num(p, "PrivatePort"), 1, model_str(p, "Type"));
    }
}

/* An inspect result's NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}] | null} */
static void model_ports_from_map(model_ports *ps, const cJSON *ports)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, ports) {
        long ctr = strtol(p->string, NULL, 10);
        const char *slash = strchr(p->string, '/');
        const char *proto = slash ? slash + 1 : "tcp";
        const cJSON *b;
        int any = 0;
        cJSON_ArrayForEach(b, p) {
            model_port_add(ps, model_num(b, "HostPort"), ctr, 1, proto);
            any = 1;
        }
        if (!any)
            model_port_add(ps, 0, ctr, 1, proto);
    }
}

static int model_port_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void model_set_ports(lua_State *L, const cJSON *list_ports, const cJSON *map_ports)
{
    model_ports ps;
    ps.n = 0;
    if (cJSON_IsArray(list_ports))
        model_ports_from_list(&ps, list_ports);
    if (cJSON_IsObject(map_ports))
        model_ports_from_map(&ps, map_ports);
    qsort(ps.items, (size_t)ps.n, sizeof ps.items[0], model_port_cmp);
    lua_createtable(L, ps.n, 0);
    for (int i = 0; i < ps.n; i++) {
        lua_pushstring(L, ps.items[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "ports");
}

static void model_set_labels(lua_State *L, const cJSON *labels)
{
    const cJSON *l;
    lua_newtable(L);
    cJSON_ArrayForEach(l, labels) {
        if (cJSON_IsString(l)) {
            lua_pushstring(L, l->valuestring);
            lua_setfield(L, -2, l->string);
        }
    }
    lua_setfield(L, -2, "labels");
}

static void model_set_str(lua_State *L, const char *field, const char *v)
{
    lua_pushstring(L, v ? v : "");
    lua_setfield(L, -2, field);
}

/* ---- raw, built on first use ---- */

static int model_raw_gc(lua_State *L)
{
    cJSON **doc = luaL_checkudata(L, 1, MODEL_RAW_MT);
    cJSON_Delete(*doc);
    *doc = NULL;
    return 0;
}

void model_attach_raw(lua_State *L, cJSON *c)
{
    luaL_setmetatable(L, MODEL_MT);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &model_pending_raw);
    lua_pushvalue(L, -2);
    cJSON **doc = lua_newuserdatauv(L, sizeof *doc, 0);
    *doc = c;
    luaL_setmetatable(L, MODEL_RAW_MT);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void model_attach_raw_string(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_setmetatable(L, MODEL_MT);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &model_pending_raw);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, idx);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void model_push_raw_context(lua_State *L)
{
    luaL_getmetatable(L, MODEL_MT);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &model_pending_raw);
}

/* Builds raw for the model at idx if it is still pending: from a cJSON
 * tree kept in a userdata, or from JSON text. */
static void model_materialize_raw(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &model_pending_raw);
    lua_pushvalue(L, idx);
    int t = lua_rawget(L, -2);
    if (t == LUA_TUSERDATA) {
        cJSON **doc = lua_touserdata(L, -1);
        json_push(L, *doc);
        lua_setfield(L, idx, "raw");
        cJSON_Delete(*doc);
        *doc = NULL;
    } else if (t == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        cJSON *doc = cJSON_ParseWithLength(text, len);
        json_push(L, doc); /* nil when the text was not JSON */
        cJSON_Delete(doc);
        lua_setfield(L, idx, "raw");
    }
    if (t != LUA_TNIL) {
        lua_pushvalue(L, idx);
        lua_pushnil(L);
        lua_rawset(L, -4);
    }
    lua_pop(L, 2);
}

static int model_l_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "raw") != 0)
        return 0;
    model_materialize_raw(L, 1);
    lua_rawget(L, 1);
    return 1;
}

static int model_l_pairs(lua_State *L)
{
    model_materialize_raw(L, 1);
    lua_getglobal(L, "next");
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

void model_register(lua_State *L)
{
    luaL_newmetatable(L, MODEL_RAW_MT);
    lua_pushcfunction(L, model_raw_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    luaL_newmetatable(L, MODEL_MT);
    lua_pushcfunction(L, model_l_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, model_l_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &model_pending_raw);
}

/* ---- containers ---- */

void model_push_container(lua_State *L, cJSON *c, engine_runtime rt, const char *runtime)
{
    luaL_checkstack(L, 8, "container model");
    lua_createtable(L, 0, 10);
    model_attach_raw(L, c); /* owned by the model from here, even on an error */
    model_set_str(L, "id", model_str(c, "Id"));
    model_set_str(L, "runtime", runtime ? runtime : engine_runtime_name(rt));
    const cJSON *state = model_get(c, "State");
    if (cJSON_IsObject(state)) {
        /* an inspect result */
        const cJSON *config = model_get(c, "Config");
        const char *image = model_str(config, "Image");
        model_push_name(L, model_str(c, "Name"));
        lua_setfield(L, -2, "name");
        model_set_str(L, "image", image ? image : model_str(c, "ImageName"));
        model_set_str(L, "status", model_status(model_str(state, "Status")));
        model_set_created(L, model_get(c, "Created"));
        model_set_ports(L, NULL, model_get(model_get(c, "NetworkSettings"), "Ports"));
        model_set_labels(L, model_get(config, "Labels"));
    } else {
        /* an element of a list */
        const cJSON *names = model_get(c, "Names");
        const cJSON *first = cJSON_IsArray(names) ? cJSON_GetArrayItem(names, 0) : NULL;
        model_push_name(L, cJSON_IsString(first) ? first->valuestring : NULL);
        lua_setfield(L, -2, "name");
        model_set_str(L, "image", model_str(c, "Image"));
        model_set_str(L, "status", model_status(cJSON_IsString(state) ? state->valuestring : NULL));
        model_set_created(L, model_get(c, "Created"));
        model_set_ports(L, model_get(c, "Ports"), NULL);
        model_set_labels(L, model_get(c, "Labels"));
    }
}

void model_push_pod(lua_State *L, cJSON *p, const char *runtime)
{
    const cJSON *c;
    int i = 0;
    luaL_checkstack(L, 6, "pod model");
    lua_createtable(L, 0, 7);
    model_attach_raw(L, p);
    model_set_str(L, "id", model_str(p, "Id"));
    model_set_str(L, "name", model_str(p, "Name"));
    /* libpod's pod states are capitalised words: Running, Exited, Degraded */
    char st[32];
    snprintf(st, sizeof st, "%s", model_str(p, "Status") ? model_str(p, "Status") : "unknown");
    for (char *ch = st; *ch; ch++)
        *ch = (char)(*ch >= 'A' && *ch <= 'Z' ? *ch - 'A' + 'a' : *ch);
    lua_pushstring(L, st);
    lua_setfield(L, -2, "status");
    lua_newtable(L);
    cJSON_ArrayForEach(c, model_get(p, "Containers")) {
        const char *id = model_str(c, "Id");
        if (id) {
            lua_pushstring(L, id);
            lua_rawseti(L, -2, ++i);
        }
    }
    lua_setfield(L, -2, "containers");
    model_set_labels(L, model_get(p, "Labels"));
    model_set_str(L, "runtime", runtime ? runtime : "podman");
}

void model_push_container_list(lua_State *L, cJSON *list, engine_runtime rt, const char *runtime)
{
    int i = 0;
    lua_createtable(L, cJSON_GetArraySize(list), 0);
    cJSON *c = list ? list->child : NULL;
    while (c) {
        cJSON *next = c->next;
        if (cJSON_IsObject(c)) {
            model_push_container(L, cJSON_DetachItemViaPointer(list, c), rt, runtime);
            lua_rawseti(L, -2, ++i);
        }
        c = next;
    }
}
