/* libFuzzer target for src/json.c.
 *
 * Default mode: the input is JSON text. It is parsed by cJSON, pushed with
 * json_push, encoded back with json_from_lua + cJSON_PrintUnformatted, and
 * the result must parse again and push to an equal Lua value (unless the
 * value is legitimately unencodable: deeper than JSON_MAX_DEPTH or holding
 * an infinity). json.decode/json.encode are also called through the module
 * and must return, never raise.
 *
 * Builder mode (first byte 0xFF): the rest is a small program that builds
 * Lua values JSON text can't express (sparse and marked arrays, float and
 * NUL-bearing keys, shared tables, cycles, functions); every value built
 * must either encode to text that parses, or fail with a message. */
#include "json.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#define BUILDER_STACK 200

static int push_tree(lua_State *L)
{
    json_push(L, lua_touserdata(L, 1));
    return 1;
}

/* Pushes tree through json_push under pcall; the only error json_push may
 * raise on a parsed tree is a memory error, which can't happen here. */
static void push_checked(lua_State *L, const cJSON *tree)
{
    lua_pushcfunction(L, push_tree);
    lua_pushlightuserdata(L, (void *)tree);
    CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
}

/* Raw structural equality, numbers compared by value and subtype. */
static int same_value(lua_State *L, int a, int b)
{
    int n = 0, m = 0, same = 1;

    if (lua_type(L, a) != lua_type(L, b))
        return 0;
    if (lua_type(L, a) == LUA_TNUMBER && lua_isinteger(L, a) != lua_isinteger(L, b))
        return 0;
    if (lua_type(L, a) != LUA_TTABLE)
        return lua_rawequal(L, a, b);
    luaL_checkstack(L, 4, "same_value");
    lua_pushnil(L);
    while (same && lua_next(L, a)) {
        n++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        same = same_value(L, lua_gettop(L) - 1, lua_gettop(L));
        lua_pop(L, 2);
    }
    if (!same) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        m++;
        lua_pop(L, 1);
    }
    return n == m;
}

/* Encodes the value at idx; on success the text must parse back. Returns
 * the reparsed tree (or NULL when the value was refused). */
static cJSON *encode_checked(lua_State *L, int idx)
{
    char err[256];
    int top = lua_gettop(L);
    cJSON *tree = json_from_lua(L, idx, err, sizeof err), *back;
    char *text;
    const char *end = NULL;

    CHECK(lua_gettop(L) == top);
    if (!tree) {
        CHECK(err[0] != '\0');
        return NULL;
    }
    text = cJSON_PrintUnformatted(tree);
    CHECK(text != NULL);
    back = cJSON_ParseWithOpts(text, &end, 1);
    if (!back)
        fprintf(stderr, "encoder produced unparsable text: %s\n", text);
    CHECK(back != NULL);
    cJSON_free(text);
    cJSON_Delete(tree);
    return back;
}

static void call_module(lua_State *L, const char *fn, int arg, const char *prefix)
{
    int top = lua_gettop(L);

    lua_getfield(L, 1, fn);
    lua_pushvalue(L, arg);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        /* Raising is reserved for encode's bad input. */
        CHECK(strcmp(fn, "encode") == 0);
        CHECK(strncmp(lua_tostring(L, -1), prefix, strlen(prefix)) == 0);
    } else if (lua_isnil(L, -2)) {
        CHECK(lua_type(L, -1) == LUA_TSTRING);
        CHECK(strncmp(lua_tostring(L, -1), prefix, strlen(prefix)) == 0);
    }
    lua_settop(L, top);
}

static void fuzz_text(lua_State *L, const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0), *back;
    int v1, v2;

    lua_pushlstring(L, (const char *)data, size);
    call_module(L, "decode", lua_gettop(L), "json.decode: ");
    if (!tree)
        return;
    push_checked(L, tree);
    v1 = lua_gettop(L);
    call_module(L, "encode", v1, "json.encode: ");
    back = encode_checked(L, v1);
    if (back) {
        push_checked(L, back);
        v2 = lua_gettop(L);
        CHECK(same_value(L, v1, v2));
        cJSON_Delete(back);
    }
    cJSON_Delete(tree);
}

static int a_function(lua_State *L)
{
    return 0;
}

static uint64_t take(const uint8_t **p, const uint8_t *end, size_t n)
{
    uint64_t v = 0;

    while (n-- > 0 && *p < end)
        v = v << 8 | *(*p)++;
    return v;
}

/* One builder step; the stack holds json (index 1) and values above it. */
static void build_step(lua_State *L, const uint8_t **p, const uint8_t *end)
{
    int top = lua_gettop(L), op = (int)take(p, end, 1) % 12;
    uint64_t bits;
    double d;
    size_t n;

    /* Past the cap, drop a value instead, so long inputs keep working. */
    if (top >= BUILDER_STACK) {
        lua_pop(L, 1);
        return;
    }
    CHECK(lua_checkstack(L, 4));
    switch (op) {
    case 0:
        lua_pushinteger(L, (lua_Integer)take(p, end, 1 + (size_t)(take(p, end, 1) % 8)));
        break;
    case 1:
        bits = take(p, end, 8);
        memcpy(&d, &bits, sizeof d);
        lua_pushnumber(L, d);
        break;
    case 2:
        n = (size_t)take(p, end, 1) % 16;
        if (n > (size_t)(end - *p))
            n = (size_t)(end - *p);
        lua_pushlstring(L, (const char *)*p, n);
        *p += n;
        break;
    case 3:
        lua_newtable(L);
        break;
    case 4: /* t[k] = v with t, k, v on top */
        if (top >= 4 && lua_istable(L, top - 2) && !lua_isnil(L, top - 1) &&
            !(lua_type(L, top - 1) == LUA_TNUMBER && isnan(lua_tonumber(L, top - 1))))
            lua_rawset(L, top - 2);
        break;
    case 5: /* t[i] = v for a small i, with t, v on top */
        if (top >= 3 && lua_istable(L, top - 1))
            lua_rawseti(L, top - 1, (lua_Integer)(take(p, end, 1) % 8));
        break;
    case 6: /* json.array(top) */
        if (top >= 2 && lua_istable(L, top)) {
            lua_getfield(L, 1, "array");
            lua_pushvalue(L, top);
            if (lua_pcall(L, 1, 0, 0) != LUA_OK)
                lua_pop(L, 1);
        }
        break;
    case 7: /* copy of an earlier value: shared tables and cycles */
        if (top >= 2)
            lua_pushvalue(L, 2 + (int)(take(p, end, 1) % (uint64_t)(top - 1)));
        break;
    case 8:
        json_push_null(L);
        break;
    case 9:
        lua_pushboolean(L, (int)take(p, end, 1) & 1);
        break;
    case 10:
        lua_pushcfunction(L, a_function);
        break;
    default: /* store the top into an earlier table under a string key */
        if (top >= 3) {
            int t = 2 + (int)(take(p, end, 1) % (uint64_t)(top - 2));

            if (lua_istable(L, t)) {
                char key[2] = { (char)('a' + take(p, end, 1) % 4), '\0' };

                lua_setfield(L, t, key);
            }
        }
        break;
    }
}

static void fuzz_builder(lua_State *L, const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    int i, top;
    cJSON *back;

    while (p < end)
        build_step(L, &p, end);
    top = lua_gettop(L);
    for (i = 2; i <= top; i++) {
        back = encode_checked(L, i);
        cJSON_Delete(back);
        call_module(L, "encode", i, "json.encode: ");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();

    CHECK(L != NULL);
    json_open(L);
    if (size > 0 && data[0] == 0xFF)
        fuzz_builder(L, data + 1, size - 1);
    else
        fuzz_text(L, data, size);
    lua_close(L);
    return 0;
}
