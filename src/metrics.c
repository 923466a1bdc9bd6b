/* metrics — Prometheus' text exposition format (see metrics.h). */
#include "metrics.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_LABELS 16

int metrics_valid_name(const char *name, int label)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c == ':' && !label) ||
                 (p > name && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* HELP text escapes \ and newline; label values escape " too. */
static void metrics_escape(buf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else if (*s == '"' && quote)
            buf_puts(b, "\\\"");
        else
            buf_add(b, s, 1);
    }
}

void metrics_family(buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s ", name);
    metrics_escape(b, help, 0);
    buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void metrics_value(buf *b, double v)
{
    if (isnan(v))
        buf_puts(b, "NaN");
    else if (isinf(v))
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        buf_printf(b, "%.0f", v);
    else
        buf_printf(b, "%.17g", v);
}

void metrics_sample(buf *b, const char *name, const char *const *labels, double value)
{
    buf_puts(b, name);
    if (labels && labels[0]) {
        buf_puts(b, "{");
        for (int i = 0; labels[i] && labels[i + 1]; i += 2) {
            buf_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
            metrics_escape(b, labels[i + 1], 1);
            buf_puts(b, "\"");
        }
        buf_puts(b, "}");
    }
    buf_puts(b, " ");
    metrics_value(b, value);
    buf_puts(b, "\n");
}

/* ---- Lua ---- */

static void metrics_lua_sample(lua_State *L, buf *b, const char *name, int sample)
{
    const char *labels[2 * METRICS_MAX_LABELS + 1];
    int n = 0;
    if (lua_getfield(L, sample, "labels") == LUA_TTABLE) {
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (n >= 2 * METRICS_MAX_LABELS)
                luaL_error(L, "metrics_text: %s has more than %d labels", name, METRICS_MAX_LABELS);
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!metrics_valid_name(k, 1))
                luaL_error(L, "metrics_text: %s: bad label name", name);
            /* keys and values stay alive on the stack: the table holds them */
            luaL_checkstack(L, 2, "metrics labels");
            labels[n++] = k;
            labels[n++] = luaL_tolstring(L, -1, NULL);
            lua_insert(L, -3); /* keep the string below key and value */
            lua_pop(L, 1);
        }
    }
    labels[n] = NULL;
    lua_getfield(L, sample, "value");
    if (!lua_isnumber(L, -1))
        luaL_error(L, "metrics_text: %s: a sample's value must be a number", name);
    metrics_sample(b, name, labels, lua_tonumber(L, -1));
}

static void metrics_lua_family(lua_State *L, buf *b, int fam)
{
    int top = lua_gettop(L);
    lua_getfield(L, fam, "name");
    const char *name = lua_tostring(L, -1);
    if (!metrics_valid_name(name, 0))
        luaL_error(L, "metrics_text: bad metric name '%s'", name ? name : "(none)");
    lua_getfield(L, fam, "type");
    const char *type = luaL_optstring(L, -1, "untyped");
    if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped"))
        luaL_error(L, "metrics_text: %s: type must be counter, gauge or untyped", name);
    lua_getfield(L, fam, "help");
    metrics_family(b, name, type, luaL_optstring(L, -1, name));
    if (lua_getfield(L, fam, "samples") != LUA_TTABLE)
        luaL_error(L, "metrics_text: %s: samples must be a list", name);
    int samples = lua_gettop(L);
    lua_Integer n = luaL_len(L, samples);
    for (lua_Integer i = 1; i <= n; i++) {
        int mark = lua_gettop(L);
        if (lua_rawgeti(L, samples, i) != LUA_TTABLE)
            luaL_error(L, "metrics_text: %s: sample %d is not a table", name, (int)i);
        metrics_lua_sample(L, b, name, lua_gettop(L));
        lua_settop(L, mark);
    }
    lua_settop(L, top);
}

static int metrics_buf_gc(lua_State *L)
{
    buf_free(lua_touserdata(L, 1));
    return 0;
}

/* metrics_text(families) -> text */
static int metrics_l_text(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    buf *b = lua_newuserdatauv(L, sizeof *b, 0); /* freed by __gc if an error escapes */
    buf_init(b);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, metrics_buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
            return luaL_error(L, "metrics_text: family %d is not a table", (int)i);
        metrics_lua_family(L, b, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (b->oom)
        return luaL_error(L, "metrics_text: out of memory");
    lua_pushlstring(L, b->p ? b->p : "", b->len);
    buf_free(b);
    return 1;
}

void metrics_register(lua_State *L)
{
    lua_pushcfunction(L, metrics_l_text);
    lua_setfield(L, -2, "metrics_text");
}
