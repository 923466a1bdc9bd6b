/* json — cJSON trees <-> Lua values, and the moonpod.json module (see json.h).
 *
 * Numbers. cJSON keeps every number as a double, so precision is decided
 * there, not here:
 * - decoding, an integral double within lua_Integer's range becomes an
 *   integer; integers beyond 2^53 in the text (e.g. timeNano) have already
 *   been rounded to the nearest double by the parser;
 * - encoding, a number becomes a cJSON number item when cJSON will print
 *   it exactly, which is whenever its 15-significant-digit form reads back
 *   exactly. Otherwise it becomes a raw item holding exact text: the
 *   decimal integer (full 64-bit range, so Go engines can read it into an
 *   int64) or the shortest of 16/17 digits for a float. cJSON 1.7.15 can't
 *   be trusted with these: it accepts a 15-digit form that is within one
 *   ULP, printing 2^53 as 9.00719925474099e+15 and 0.1 + 0.2 as 0.3.
 *   Consumers of json_from_lua trees therefore meet cJSON_Raw items for
 *   such numbers (rare: 16+ significant digits).
 *
 * Strings are byte strings: no UTF-8 validation either way. cJSON strings
 * are NUL-terminated, so a Lua string holding a NUL byte can't be encoded
 * (an error, rather than silently cutting it), and cJSON's parser ends a
 * decoded string at a \u0000 escape.
 *
 * Memory: json_from_lua only uses Lua API calls that cannot raise (raw
 * access, lua_next, lua_checkstack), which is why cycles are found with a
 * fixed array of the tables on the current path rather than a Lua table. */
#include "json.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Light userdata identity for json.null; only its address matters. */
static char json_null_tag;
/* Registry key (by address) of the metatable json.array() sets. */
static char json_array_key;

/* A marked array may have holes (written as null), but not so many that a
 * table like {[1e9] = 1} turns into a gigabyte of "null,". */
#define JSON_SPARSE_RATIO 2
#define JSON_SPARSE_SLACK 16

/* Room for the path reported with an encoding error, e.g. ".a[3].b". */
#define JSON_PATH_MAX 96

#define JSON_STR_(x) #x
#define JSON_STR(x) JSON_STR_(x)

void json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, &json_null_tag);
}

int json_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &json_null_tag;
}

/* ---- cJSON -> Lua ---- */

static void json_push_item(lua_State *L, const cJSON *item, int depth);

static void json_push_number(lua_State *L, double d)
{
    lua_Integer i;

    if (lua_numbertointeger(d, &i) && (double)i == d)
        lua_pushinteger(L, i);
    else
        lua_pushnumber(L, d);
}

static int json_count(const cJSON *item)
{
    int n = 0;
    const cJSON *c;

    for (c = item->child; c; c = c->next)
        n++;
    return n;
}

static void json_push_array(lua_State *L, const cJSON *item, int depth)
{
    const cJSON *c;
    lua_Integer i = 1;

    lua_createtable(L, json_count(item), 0);
    for (c = item->child; c; c = c->next) {
        json_push_item(L, c, depth + 1);
        lua_rawseti(L, -2, i++);
    }
}

static void json_push_object(lua_State *L, const cJSON *item, int depth)
{
    const cJSON *c;

    lua_createtable(L, 0, json_count(item));
    for (c = item->child; c; c = c->next) {
        /* A null member is as good as an absent one to a script, and
         * `t.Labels == nil` is the test people write. */
        if (!c->string || cJSON_IsNull(c))
            continue;
        lua_pushstring(L, c->string);
        json_push_item(L, c, depth + 1);
        lua_rawset(L, -3);
    }
}

static void json_push_item(lua_State *L, const cJSON *item, int depth)
{
    /* Trees from cJSON's parser are at most CJSON_NESTING_LIMIT deep; a
     * hand-built deeper one must not exhaust the C stack. */
    if (depth > CJSON_NESTING_LIMIT)
        luaL_error(L, "json: nesting deeper than %d", CJSON_NESTING_LIMIT);
    luaL_checkstack(L, 3, "json: nesting too deep");
    if (!item) {
        lua_pushnil(L);
        return;
    }
    switch (item->type & 0xFF) {
    case cJSON_False:
        lua_pushboolean(L, 0);
        break;
    case cJSON_True:
        lua_pushboolean(L, 1);
        break;
    case cJSON_NULL:
        json_push_null(L);
        break;
    case cJSON_Number:
        json_push_number(L, item->valuedouble);
        break;
    case cJSON_String:
    case cJSON_Raw:
        /* A raw item is already JSON text; a script can decode it. */
        lua_pushstring(L, item->valuestring ? item->valuestring : "");
        break;
    case cJSON_Array:
        json_push_array(L, item, depth);
        break;
    case cJSON_Object:
        json_push_object(L, item, depth);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

void json_push(lua_State *L, const cJSON *item)
{
    json_push_item(L, item, 0);
}

/* ---- Lua -> cJSON ---- */

typedef struct json_enc {
    lua_State *L;
    const void *path[JSON_MAX_DEPTH]; /* tables being visited, outermost first */
    int depth;
    char *err;
    size_t errlen;
    /* Location of the error, built right to left while unwinding. */
    char where[JSON_PATH_MAX];
    size_t where_at;
    int where_full;
} json_enc;

static cJSON *json_encode_value(json_enc *e, int idx);

static cJSON *json_fail(json_enc *e, const char *msg)
{
    if (e->errlen > 0)
        snprintf(e->err, e->errlen, "%s", msg);
    return NULL;
}

static cJSON *json_fail_type(json_enc *e, const char *what, int type)
{
    if (e->errlen > 0)
        snprintf(e->err, e->errlen, "cannot encode a %s%s", lua_typename(e->L, type), what);
    return NULL;
}

/* Prepends one path element. Room for "..." is always kept, to mark a path
 * whose outer elements did not fit. */
static void json_where(json_enc *e, const char *elem)
{
    size_t n = strlen(elem);

    if (e->where_full)
        return;
    if (n + 3 > e->where_at) {
        e->where_at -= 3;
        memcpy(e->where + e->where_at, "...", 3);
        e->where_full = 1;
        return;
    }
    e->where_at -= n;
    memcpy(e->where + e->where_at, elem, n);
}

static void json_where_index(json_enc *e, lua_Integer i)
{
    char elem[32];

    snprintf(elem, sizeof elem, "[" LUA_INTEGER_FMT "]", i);
    json_where(e, elem);
}

static void json_where_key(json_enc *e, const char *key)
{
    char elem[40];

    /* Long keys are cut: the path is a hint, not an address. */
    snprintf(elem, sizeof elem, ".%.32s", key);
    json_where(e, elem);
}

static cJSON *json_encode_string(json_enc *e, int idx)
{
    size_t n;
    const char *s = lua_tolstring(e->L, idx, &n);
    cJSON *item;

    if (memchr(s, '\0', n))
        return json_fail(e, "string contains a NUL byte");
    item = cJSON_CreateString(s);
    return item ? item : json_fail(e, "out of memory");
}

/* Formats d with the given significant digits; true when that text reads
 * back as exactly d. */
static int json_format_exact(char *buf, size_t len, int digits, double d)
{
    snprintf(buf, len, "%.*g", digits, d);
    return strtod(buf, NULL) == d;
}

/* JSON wants '.', whatever LC_NUMERIC a script chose with os.setlocale. */
static void json_fix_decimal_point(char *buf)
{
    char dp = localeconv()->decimal_point[0];
    char *p;

    if (dp != '.' && dp != '\0' && (p = strchr(buf, dp)) != NULL)
        *p = '.';
}

/* Integers below 10^15 have at most 15 digits, which cJSON prints exactly. */
#define JSON_EXACT_INT 1000000000000000LL

static cJSON *json_encode_number(json_enc *e, int idx)
{
    char buf[64];
    cJSON *item;
    double d;

    if (lua_isinteger(e->L, idx)) {
        lua_Integer v = lua_tointeger(e->L, idx);

        if (v > -JSON_EXACT_INT && v < JSON_EXACT_INT)
            item = cJSON_CreateNumber((double)v);
        else {
            snprintf(buf, sizeof buf, LUA_INTEGER_FMT, v);
            item = cJSON_CreateRaw(buf);
        }
        return item ? item : json_fail(e, "out of memory");
    }
    d = (double)lua_tonumber(e->L, idx);
    if (!isfinite(d))
        return json_fail(e, "cannot encode NaN or infinity");
    if (json_format_exact(buf, sizeof buf, 15, d)) {
        item = cJSON_CreateNumber(d);
    } else {
        if (!json_format_exact(buf, sizeof buf, 16, d))
            json_format_exact(buf, sizeof buf, 17, d);
        json_fix_decimal_point(buf);
        item = cJSON_CreateRaw(buf);
    }
    return item ? item : json_fail(e, "out of memory");
}

/* Writes the object key for the key at idx (a string or a number) into buf
 * without lua_tolstring, which would convert a number key in place and
 * break lua_next. Returns NULL (error set) for anything else. */
static const char *json_key(json_enc *e, int idx, char *buf, size_t len)
{
    lua_State *L = e->L;
    const char *s;
    size_t n;

    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        if (memchr(s, '\0', n)) {
            json_fail(e, "key contains a NUL byte");
            return NULL;
        }
        return s;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            snprintf(buf, len, LUA_INTEGER_FMT, lua_tointeger(L, idx));
        } else {
            /* The same text tostring() gives, so t[1.5] is "1.5". */
            snprintf(buf, len, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, idx));
            if (buf[strspn(buf, "-0123456789")] == '\0')
                strncat(buf, ".0", len - strlen(buf) - 1);
        }
        return buf;
    default:
        json_fail_type(e, " key", lua_type(L, idx));
        return NULL;
    }
}

static cJSON *json_encode_object(json_enc *e, int t)
{
    lua_State *L = e->L;
    cJSON *obj = cJSON_CreateObject(), *item;
    char buf[64];
    const char *key;

    if (!obj)
        return json_fail(e, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        key = json_key(e, -2, buf, sizeof buf);
        item = key ? json_encode_value(e, lua_gettop(L)) : NULL;
        if (item && !cJSON_AddItemToObject(obj, key, item)) {
            cJSON_Delete(item);
            item = json_fail(e, "out of memory");
        }
        if (!item) {
            if (key)
                json_where_key(e, key);
            lua_pop(L, 2);
            cJSON_Delete(obj);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return obj;
}

static cJSON *json_encode_array(json_enc *e, int t, lua_Integer n)
{
    lua_State *L = e->L;
    cJSON *arr = cJSON_CreateArray(), *item;
    lua_Integer i;

    if (!arr)
        return json_fail(e, "out of memory");
    for (i = 1; i <= n; i++) {
        /* Holes only occur in tables marked with json.array. */
        if (lua_rawgeti(L, t, i) == LUA_TNIL) {
            item = cJSON_CreateNull();
            if (!item)
                json_fail(e, "out of memory");
        } else {
            item = json_encode_value(e, lua_gettop(L));
        }
        lua_pop(L, 1);
        if (!item) {
            json_where_index(e, i);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, item);
    }
    return arr;
}

static int json_marked_array(lua_State *L, int t)
{
    int marked;

    if (!lua_getmetatable(L, t))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &json_array_key);
    marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

/* Decides the shape of table t: returns the array length to write, or -1
 * for an object, or -2 with the error set. */
static lua_Integer json_shape(json_enc *e, int t)
{
    lua_State *L = e->L;
    lua_Integer count = 0, max = 0, k;
    int all_index = 1, marked = json_marked_array(L, t);

    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        count++;
        k = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (k <= 0)
            all_index = 0;
        else if (k > max)
            max = k;
    }
    if (!marked)
        return all_index && count > 0 && max == count ? count : -1;
    if (!all_index) {
        json_fail(e, "json.array table has a key that is not a positive integer");
        return -2;
    }
    if (max > count * JSON_SPARSE_RATIO + JSON_SPARSE_SLACK) {
        json_fail(e, "json.array table is too sparse");
        return -2;
    }
    return max;
}

static cJSON *json_encode_table(json_enc *e, int t)
{
    const void *self = lua_topointer(e->L, t);
    cJSON *item;
    lua_Integer n;
    int i;

    if (e->depth >= JSON_MAX_DEPTH)
        return json_fail(e, "nesting deeper than " JSON_STR(JSON_MAX_DEPTH));
    for (i = 0; i < e->depth; i++)
        if (e->path[i] == self)
            return json_fail(e, "cycle: a table contains itself");
    n = json_shape(e, t);
    if (n == -2)
        return NULL;
    e->path[e->depth++] = self;
    item = n >= 0 ? json_encode_array(e, t, n) : json_encode_object(e, t);
    e->depth--;
    return item;
}

static cJSON *json_encode_value(json_enc *e, int idx)
{
    lua_State *L = e->L;
    cJSON *item = NULL;

    /* Each level pushes at most a key, a value and two metatables. */
    if (!lua_checkstack(L, 4))
        return json_fail(e, "out of Lua stack");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        item = cJSON_CreateNull();
        break;
    case LUA_TBOOLEAN:
        item = cJSON_CreateBool(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        return json_encode_number(e, idx);
    case LUA_TSTRING:
        return json_encode_string(e, idx);
    case LUA_TTABLE:
        return json_encode_table(e, idx);
    default:
        if (!json_is_null(L, idx))
            return json_fail_type(e, "", lua_type(L, idx));
        item = cJSON_CreateNull();
        break;
    }
    return item ? item : json_fail(e, "out of memory");
}

cJSON *json_from_lua(lua_State *L, int idx, char *err, size_t errlen)
{
    json_enc e;
    cJSON *item;
    size_t n;

    e.L = L;
    e.depth = 0;
    e.err = err;
    e.errlen = errlen;
    e.where_at = sizeof e.where - 1;
    e.where_full = 0;
    e.where[e.where_at] = '\0';
    if (errlen > 0)
        err[0] = '\0';
    item = json_encode_value(&e, lua_absindex(L, idx));
    if (!item && e.where[e.where_at] != '\0' && errlen > 0) {
        n = strlen(err);
        snprintf(err + n, errlen - n, " at %s", e.where + e.where_at);
    }
    return item;
}

/* ---- moonpod.json ---- */

/* Runs fn(ptr) protected, so that a memory error while pushing does not
 * leak the C-side buffer; the caller frees it and then rethrows. */
static int json_protected(lua_State *L, lua_CFunction fn, void *ptr)
{
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ptr);
    return lua_pcall(L, 1, 1, 0);
}

static int json_push_text(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

static int json_push_tree(lua_State *L)
{
    json_push(L, lua_touserdata(L, 1));
    return 1;
}

static int json_encode(lua_State *L)
{
    char err[256];
    cJSON *tree;
    char *text;
    int rc;

    luaL_checkany(L, 1);
    tree = json_from_lua(L, 1, err, sizeof err);
    if (!tree)
        return luaL_error(L, "json.encode: %s", err);
    text = cJSON_PrintUnformatted(tree);
    cJSON_Delete(tree);
    if (!text)
        return luaL_error(L, "json.encode: out of memory");
    rc = json_protected(L, json_push_text, text);
    cJSON_free(text);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static int json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int json_decode_error(lua_State *L, const char *why, size_t at)
{
    lua_pushnil(L);
    lua_pushfstring(L, "json.decode: %s at byte %I", why, (lua_Integer)at);
    return 2;
}

/* Byte offsets in messages are 0-based, counted from the start of text. */
static int json_decode(lua_State *L)
{
    size_t len, at;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *end = NULL;
    cJSON *tree;
    int rc;

    at = 0;
    while (at < len && json_is_space(text[at]))
        at++;
    if (at == len)
        return json_decode_error(L, "no value", at);
    /* Trailing bytes are checked here rather than with cJSON's
     * require_null_terminated, whose whitespace skipping also swallows NUL
     * bytes: "{}\0x" must be refused, not read as "{}". */
    tree = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    at = end ? (size_t)(end - text) : 0;
    if (!tree)
        return json_decode_error(L, "invalid JSON", at);
    while (at < len && json_is_space(text[at]))
        at++;
    if (at < len) {
        cJSON_Delete(tree);
        return json_decode_error(L, "trailing garbage", at);
    }
    rc = json_protected(L, json_push_tree, tree);
    cJSON_Delete(tree);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static void json_push_array_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &json_array_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &json_array_key);
}

static int json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    json_push_array_mt(L);
    /* Replacing another metatable would silently break the caller's
     * object; refuse instead. */
    if (lua_getmetatable(L, 1)) {
        if (!lua_rawequal(L, -1, -2))
            return luaL_error(L, "json.array: table already has a metatable");
        lua_pop(L, 1);
    }
    lua_setmetatable(L, 1);
    return 1;
}

int json_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "encode", json_encode },
        { "decode", json_decode },
        { "array", json_array },
        { NULL, NULL },
    };

    json_push_array_mt(L);
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    json_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
