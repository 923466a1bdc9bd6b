/* Unit tests for src/json.c: the C API (json_push, json_from_lua, the null
 * sentinel) and the moonpod.json module driven from Lua. */
#include "json.h"
#include "tap.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lua-side tests: each chunk runs with `json` set and the helpers
 * below; it passes when it runs without error. ---- */

static const char prelude[] =
    "function deq(a, b)\n"
    "  if a == b then return true end\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
    "  for k, v in pairs(a) do if not deq(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "function check(cond, ...) if not cond then error(string.format(...), 2) end end\n"
    "function fails(pattern, f, ...)\n"
    "  local ok, err = pcall(f, ...)\n"
    "  check(not ok, 'expected an error matching %q', pattern)\n"
    "  check(tostring(err):find(pattern, 1, true), 'error %q does not contain %q', tostring(err), pattern)\n"
    "end\n"
    "function decode_fails(text, why)\n"
    "  local v, err = json.decode(text)\n"
    "  check(v == nil, 'decode(%q) should fail', text)\n"
    "  check(err == why, 'decode(%q): got %q, want %q', text, tostring(err), why)\n"
    "end\n"
    "function roundtrip(v) return json.decode(json.encode(v)) end\n";

typedef struct lua_case {
    const char *name;
    const char *code;
} lua_case;

static const lua_case lua_cases[] = {
    { "nested tables round trip",
      "local t = { a = { b = { c = { 1, 2, { d = 'x' } } } }, n = 1.5, s = 'h\\195\\169',\n"
      "  t = true, f = false, list = { { 1 }, { 2, { 3, { 4 } } } }, e = {} }\n"
      "check(deq(roundtrip(t), t), 'not equal after a round trip: %s', json.encode(t))" },
    { "arrays vs objects",
      "check(json.encode({ 1, 2, 3 }) == '[1,2,3]', 'sequence')\n"
      "check(json.encode({}) == '{}', 'empty table is an object')\n"
      "check(json.encode(json.array()) == '[]', 'json.array()')\n"
      "check(json.encode(json.array({})) == '[]', 'json.array({})')\n"
      "check(json.encode({ [1] = 'a', [3] = 'c' }) == '{\"1\":\"a\",\"3\":\"c\"}'\n"
      "   or json.encode({ [1] = 'a', [3] = 'c' }) == '{\"3\":\"c\",\"1\":\"a\"}', 'holes make an object')\n"
      "local o = json.decode(json.encode({ 1, 2, x = 1 }))\n"
      "check(o['1'] == 1 and o['2'] == 2 and o.x == 1, 'mixed keys make an object with string keys')\n"
      "check(json.encode({ [0] = 'z' }) == '{\"0\":\"z\"}', 'key 0')\n"
      "check(json.encode({ [-1] = 'z' }) == '{\"-1\":\"z\"}', 'negative key')\n"
      "check(json.encode({ [1.5] = 1 }) == '{\"1.5\":1}', 'float key')\n"
      "check(json.encode(json.array({ 1, nil, 3 })) == '[1,null,3]', 'marked array with a hole')\n"
      "local a = json.array({ 'x' })\n"
      "check(json.array(a) == a and getmetatable(a) == getmetatable(json.array()), 'json.array is idempotent')\n"
      "check(json.encode({ list = json.array() }) == '{\"list\":[]}', 'nested empty array')" },
    { "json.array errors",
      "fails('already has a metatable', json.array, setmetatable({}, {}))\n"
      "fails('bad argument', json.array, 'x')\n"
      "fails('json.encode: json.array table has a key that is not a positive integer', json.encode, json.array({ 1, x = 2 }))\n"
      "fails('json.encode: json.array table is too sparse', json.encode, json.array({ [1000] = 1 }))" },
    { "json.null in arrays",
      "local t = json.decode('[1,null,3,null]')\n"
      "check(#t == 4 and t[2] == json.null and t[4] == json.null, 'positions kept')\n"
      "check(json.encode(t) == '[1,null,3,null]', 're-encoded')\n"
      "check(json.encode({ json.null }) == '[null]', 'array of null')\n"
      "check(json.decode('null') == json.null, 'top-level null is json.null')\n"
      "check(type(json.null) == 'userdata', 'json.null is a light userdata')" },
    { "null members omitted",
      "local t = json.decode('{\"a\":null,\"b\":1,\"c\":{\"d\":null}}')\n"
      "check(t.a == nil and t.b == 1 and next(t.c) == nil, 'null members are absent')\n"
      "check(json.encode({ a = json.null }) == '{\"a\":null}', 'json.null member is encoded')" },
    { "big integers",
      "local v = json.decode('9007199254740993')\n"
      "check(math.type(v) == 'integer' and v == 9007199254740992, 'rounded by the parser to 2^53: %s', v)\n"
      "v = json.decode('9223372036854775807')\n"
      "check(math.type(v) == 'float', '2^63 does not fit an integer: %s', math.type(v))\n"
      "v = json.decode('-9223372036854775808')\n"
      "check(v == math.mininteger and math.type(v) == 'integer', 'mininteger')\n"
      "check(json.encode(9007199254740992) == '9007199254740992', '2^53 exact: %s', json.encode(9007199254740992))\n"
      "check(json.encode(-9007199254740991) == '-9007199254740991', '-(2^53-1) exact')\n"
      "check(json.encode(8999999999999999) == '8999999999999999', '16 digits exact')\n"
      "check(json.encode(math.maxinteger) == '9223372036854775807', 'maxinteger exact')\n"
      "check(json.encode(math.mininteger) == '-9223372036854775808', 'mininteger exact')\n"
      "check(json.encode(3000000000) == '3000000000', 'beyond int32')\n"
      "check(json.encode({ n = 123 }) == '{\"n\":123}', 'small')\n"
      "for _, n in ipairs({ 0, 1, -1, 2^31, 2^40 + 1, 10^15 - 1, 10^15, 2^53 - 1, 2^53 }) do\n"
      "  n = math.tointeger(n)\n"
      "  local r = roundtrip(n)\n"
      "  check(r == n and math.type(r) == 'integer', 'integer round trip of %d: %s', n, tostring(r))\n"
      "end" },
    { "floats",
      "check(json.encode(0.1) == '0.1', '0.1')\n"
      "check(json.encode(0.1 + 0.2) == '0.30000000000000004', '0.1+0.2: %s', json.encode(0.1 + 0.2))\n"
      "check(json.encode(1.5) == '1.5', '1.5')\n"
      "check(json.encode(2^53) == '9007199254740992', 'float 2^53: %s', json.encode(2^53))\n"
      "check(math.type(json.decode('1.0')) == 'integer', 'integral float text becomes an integer')\n"
      "check(json.decode('1e2') == 100 and math.type(json.decode('1e2')) == 'integer', '1e2')\n"
      "check(json.decode('2.5') == 2.5, '2.5')\n"
      "check(math.type(json.decode('1e300')) == 'float', '1e300 is a float')\n"
      "fails('json.encode: cannot encode NaN or infinity', json.encode, 1/0)\n"
      "fails('json.encode: cannot encode NaN or infinity', json.encode, { x = { -1/0 } })\n"
      "fails('json.encode: cannot encode NaN or infinity', json.encode, 0/0)\n"
      "math.randomseed(42)\n"
      "local n = 0\n"
      "for i = 1, 5000 do\n"
      "  local x = string.unpack('<d', string.pack('<i8', math.random(math.mininteger, math.maxinteger)))\n"
      "  if x == x and x ~= math.huge and x ~= -math.huge then\n"
      "    n = n + 1\n"
      "    local s = json.encode(x)\n"
      "    check(json.decode(s) == x, 'double %q -> %s does not round trip', string.format('%a', x), s)\n"
      "  end\n"
      "end\n"
      "check(n > 4000, 'enough doubles tried')" },
    { "strings and unicode escapes",
      "check(json.decode('\"\\\\u00e9\"') == '\\195\\169', 'u00e9')\n"
      "check(json.decode('\"\\\\ud83d\\\\ude00\"') == '\\240\\159\\152\\128', 'surrogate pair')\n"
      "check(json.decode('\"\\\\u0041\\\\n\\\\t\\\\/\"') == 'A\\n\\t/', 'simple escapes')\n"
      "decode_fails('\"\\\\ud800\"', 'json.decode: invalid JSON at byte 1')\n"
      "check(json.encode('\\195\\169') == '\"\\195\\169\"', 'UTF-8 passes through')\n"
      "check(json.encode('\\1') == '\"\\\\u0001\"', 'control characters escaped')\n"
      "check(json.encode('a\"b\\\\c\\n') == '\"a\\\\\"b\\\\\\\\c\\\\n\"', 'quote, backslash, newline')\n"
      "check(json.encode('') == '\"\"', 'empty string')\n"
      "local s = string.rep('x', 100000)\n"
      "check(roundtrip(s) == s, 'long string')\n"
      "check(roundtrip('\\255\\254') == '\\255\\254', 'bytes that are not UTF-8 pass through')\n"
      "fails('json.encode: string contains a NUL byte', json.encode, 'a\\0b')\n"
      "fails('json.encode: key contains a NUL byte', json.encode, { ['a\\0b'] = 1 })" },
    { "depth limit",
      "local function nest(n) local t = {} local top = t for i = 2, n do t[1] = {} t = t[1] end return top end\n"
      "local s = json.encode(nest(1000))\n"
      "check(#s == 2000, '1000 levels encode: %d bytes', #s)\n"
      "fails('json.encode: nesting deeper than 1000 at ...', json.encode, nest(1001))\n"
      "local deep = string.rep('[', 1000) .. string.rep(']', 1000)\n"
      "check(pcall(json.encode, json.decode(deep)), 'what decodes at the cJSON limit encodes again')\n"
      "deep = string.rep('[', 1001) .. string.rep(']', 1001)\n"
      "local v, err = json.decode(deep)\n"
      "check(v == nil and err:find('invalid JSON'), '1001 levels refused: %s', tostring(err))" },
    { "cycles",
      "local t = {} t.self = t\n"
      "fails('json.encode: cycle: a table contains itself at .self', json.encode, t)\n"
      "local a = { b = { c = {} } } a.b.c.d = a.b\n"
      "fails('cycle', json.encode, a)\n"
      "local l = { 1, 2 } l[3] = l\n"
      "fails('cycle: a table contains itself at [3]', json.encode, l)\n"
      "local shared = { 1 }\n"
      "check(json.encode({ shared, shared, { shared } }) == '[[1],[1],[[1]]]', 'shared, not cyclic')" },
    { "unencodable values name their place",
      "fails('json.encode: cannot encode a function at .a.b[2].c', json.encode, { a = { b = { 1, { c = print } } } })\n"
      "fails('json.encode: cannot encode a boolean key at .a', json.encode, { a = { [true] = 1 } })\n"
      "fails('json.encode: cannot encode a table key', json.encode, { [{}] = 1 })\n"
      "fails('json.encode: cannot encode a thread', json.encode, coroutine.create(print))\n"
      "fails('json.encode: cannot encode a userdata', json.encode, io.stdout)\n"
      "fails('bad argument #1', json.encode)\n"
      "local long = {} local t = long\n"
      "for i = 1, 40 do t.key_with_a_long_name = {} t = t.key_with_a_long_name end t.f = print\n"
      "local ok, err = pcall(json.encode, long)\n"
      "check(not ok and #err < 256 and err:find('at ...', 1, true) and err:find('.f$'), 'long path cut: %s', err)" },
    { "scalars",
      "check(json.encode('x') == '\"x\"', 'string')\n"
      "check(json.encode(nil) == 'null', 'nil')\n"
      "check(json.encode(json.null) == 'null', 'json.null')\n"
      "check(json.encode(true) == 'true' and json.encode(false) == 'false', 'booleans')\n"
      "check(json.decode('\"x\"') == 'x' and json.decode('true') == true and json.decode(' 7 ') == 7, 'decode scalars')" },
    { "metamethods are not used",
      "local t = setmetatable({ a = 1 }, { __index = function() return 'no' end, __pairs = function() error('no') end })\n"
      "check(json.encode(t) == '{\"a\":1}', 'raw access only')" },
    { "decode errors report the byte offset",
      "decode_fails('{\"a\":1,}', 'json.decode: invalid JSON at byte 7')\n"
      "decode_fails('[1,x]', 'json.decode: invalid JSON at byte 3')\n"
      "decode_fails('{\"a\":tru}', 'json.decode: invalid JSON at byte 5')\n"
      "decode_fails('', 'json.decode: no value at byte 0')\n"
      "decode_fails(' \\r\\n', 'json.decode: no value at byte 3')\n"
      "local v, err = json.decode('[1,2')\n"
      "check(v == nil and err:find('^json.decode: invalid JSON at byte %d+$'), 'truncated: %s', tostring(err))" },
    { "trailing garbage rejected",
      "decode_fails('{} x', 'json.decode: trailing garbage at byte 3')\n"
      "decode_fails('[1]]', 'json.decode: trailing garbage at byte 3')\n"
      "decode_fails('{}\\0', 'json.decode: trailing garbage at byte 2')\n"
      "decode_fails('{}{}', 'json.decode: trailing garbage at byte 2')\n"
      "decode_fails('1 2', 'json.decode: trailing garbage at byte 2')\n"
      "check(deq(json.decode(' {} \\r\\n\\t'), {}), 'trailing whitespace is fine')" },
    { "engine-shaped event",
      "local e = json.decode('{\"status\":\"start\",\"id\":\"abc\",\"Type\":\"container\",\"Action\":\"start\",'\n"
      "  .. '\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"image\":\"busybox\",\"name\":\"web\"}},'\n"
      "  .. '\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000123456789}')\n"
      "check(e.Actor.Attributes.name == 'web' and e.time == 1700000000 and math.type(e.time) == 'integer', 'fields')\n"
      "check(math.abs(e.timeNano - 1700000000123456789) < 512, 'timeNano within double precision')" },
};

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

static void run_lua_case(lua_State *L, const lua_case *c)
{
    int top = lua_gettop(L), rc;

    lua_pushcfunction(L, traceback);
    rc = luaL_loadbuffer(L, c->code, strlen(c->code), c->name);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 0, top + 1);
    if (!ok(rc == LUA_OK, "lua: %s", c->name))
        tap_diag("%s", lua_tostring(L, -1));
    lua_settop(L, top);
}

/* Runs setup code; a failure here is a broken test, not a test result. */
static void dostring(lua_State *L, const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "setup chunk failed: %s\n", lua_tostring(L, -1));
        exit(2);
    }
}

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();

    luaL_openlibs(L);
    json_open(L);
    lua_setglobal(L, "json");
    dostring(L, prelude);
    return L;
}

/* ---- C API ---- */

static void test_c_push(lua_State *L)
{
    int top = lua_gettop(L);
    cJSON *tree, *raw;

    json_push(L, NULL);
    ok(lua_gettop(L) == top + 1 && lua_isnil(L, -1), "json_push(NULL) pushes one nil");
    lua_settop(L, top);

    tree = cJSON_Parse("{\"i\":42,\"f\":0.5,\"big\":1e20,\"neg\":-7,\"n\":null,\"a\":[null,true],\"s\":\"x\"}");
    raw = cJSON_CreateRaw("{\"r\":1}");
    cJSON_AddItemToObject(tree, "raw", raw);
    json_push(L, tree);
    cJSON_Delete(tree);
    ok(lua_gettop(L) == top + 1 && lua_istable(L, -1), "json_push(object) pushes one table");
    lua_getfield(L, -1, "i");
    ok(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 42, "integral number is an integer");
    lua_getfield(L, -2, "f");
    ok(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 0.5, "fraction is a float");
    lua_getfield(L, -3, "big");
    ok(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 1e20, "1e20 is beyond lua_Integer: float");
    lua_getfield(L, -4, "neg");
    ok(lua_tointeger(L, -1) == -7, "negative integer");
    lua_getfield(L, -5, "n");
    ok(lua_isnil(L, -1), "null member omitted");
    lua_getfield(L, -6, "a");
    lua_rawgeti(L, -1, 1);
    ok(json_is_null(L, -1), "null element is json.null");
    lua_getfield(L, -8, "raw");
    ok(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "{\"r\":1}") == 0, "raw item pushed as its text");
    lua_settop(L, top);

    json_push_null(L);
    lua_pushlightuserdata(L, L);
    ok(json_is_null(L, -2) && !json_is_null(L, -1), "json_is_null tells the sentinel from other light userdata");
    lua_getglobal(L, "json");
    lua_getfield(L, -1, "null");
    ok(lua_rawequal(L, -1, -4), "json.null is json_push_null's value");
    lua_settop(L, top);
}

static int push_tree(lua_State *L)
{
    json_push(L, lua_touserdata(L, 1));
    return 1;
}

static void test_c_push_deep(lua_State *L)
{
    /* Built by hand, deeper than cJSON's parser allows: json_push must
     * raise rather than recurse without bound. */
    cJSON *root = cJSON_CreateArray(), *cur = root, *next;
    int i, rc, top = lua_gettop(L);

    for (i = 0; i < CJSON_NESTING_LIMIT + 10; i++) {
        next = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, next);
        cur = next;
    }
    lua_pushcfunction(L, push_tree);
    lua_pushlightuserdata(L, root);
    rc = lua_pcall(L, 1, 1, 0);
    ok(rc != LUA_OK && strstr(lua_tostring(L, -1), "nesting deeper than"), "json_push of a too-deep tree raises");
    lua_settop(L, top);
    cJSON_Delete(root);
}

static void test_c_from_lua(lua_State *L)
{
    char err[128];
    int top = lua_gettop(L);
    cJSON *t;
    char *text;

    dostring(L, "return { 1, 'two', { x = true } }, 'after'");
    t = json_from_lua(L, -2, err, sizeof err);
    ok(t && cJSON_IsArray(t) && cJSON_GetArraySize(t) == 3, "json_from_lua with a negative index: an array");
    ok(lua_gettop(L) == top + 2, "json_from_lua leaves the stack as it was");
    text = cJSON_PrintUnformatted(t);
    is_str(text, "[1,\"two\",{\"x\":true}]", "json_from_lua tree prints compactly");
    cJSON_free(text);
    cJSON_Delete(t);
    lua_settop(L, top);

    dostring(L, "local t = { a = { print } } return t");
    t = json_from_lua(L, -1, err, sizeof err);
    ok(t == NULL, "json_from_lua refuses a function");
    is_str(err, "cannot encode a function at .a[1]", "json_from_lua error message (no prefix)");
    ok(lua_gettop(L) == top + 1, "stack balanced after an error deep inside");
    t = json_from_lua(L, -1, err, 8);
    ok(t == NULL && strlen(err) == 7, "a short error buffer is filled, not overrun");
    t = json_from_lua(L, -1, NULL, 0);
    ok(t == NULL, "no error buffer at all is allowed");
    lua_settop(L, top);

    /* 2^53 as an integer: exact text, carried as a raw item. */
    lua_pushinteger(L, (lua_Integer)1 << 53);
    t = json_from_lua(L, -1, err, sizeof err);
    text = t ? cJSON_PrintUnformatted(t) : NULL;
    is_str(text, "9007199254740992", "2^53 prints exactly through cJSON_PrintUnformatted");
    cJSON_free(text);
    cJSON_Delete(t);
    lua_pushinteger(L, 12345);
    t = json_from_lua(L, -1, err, sizeof err);
    ok(t && cJSON_IsNumber(t) && t->valuedouble == 12345, "small integers are number items");
    cJSON_Delete(t);
    lua_settop(L, top);
}

/* ---- memory exhaustion ---- */

/* cJSON allocations that start failing after a budget, to walk every
 * out-of-memory path of json_from_lua and json.decode. */
static long cjson_budget = -1;

static void *failing_malloc(size_t n)
{
    if (cjson_budget == 0)
        return NULL;
    if (cjson_budget > 0)
        cjson_budget--;
    return malloc(n);
}

static void test_cjson_oom(lua_State *L)
{
    cJSON_Hooks hooks = { failing_malloc, free };
    int budget, top = lua_gettop(L), fails = 0, good = 1, rc;
    const char *want = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":9007199254740993}";

    cJSON_InitHooks(&hooks);
    dostring(L, "return function() return json.encode({ a = { 1, 2, { b = 'c' } }, d = 9007199254740993 }) end");
    for (budget = 0; budget < 40; budget++) {
        lua_pushvalue(L, -1);
        cjson_budget = budget;
        rc = lua_pcall(L, 0, 1, 0);
        cjson_budget = -1;
        if (rc != LUA_OK) {
            fails++;
            if (!strstr(lua_tostring(L, -1), "json.encode: out of memory")) {
                tap_diag("budget %d: %s", budget, lua_tostring(L, -1));
                good = 0;
            }
        } else if (strlen(lua_tostring(L, -1)) != strlen(want)) {
            tap_diag("budget %d: %s", budget, lua_tostring(L, -1));
            good = 0;
        }
        lua_pop(L, 1);
    }
    ok(good && fails > 0 && fails < 40, "json.encode under failing cJSON allocations (%d failed)", fails);

    dostring(L, "return function() return json.decode('{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}') end");
    for (good = 1, fails = 0, budget = 0; budget < 40; budget++) {
        lua_pushvalue(L, -1);
        cjson_budget = budget;
        rc = lua_pcall(L, 0, 2, 0);
        cjson_budget = -1;
        if (rc != LUA_OK)
            good = 0;
        else if (lua_isnil(L, -2))
            fails++;
        lua_pop(L, 2);
    }
    ok(good && fails > 0, "json.decode under failing cJSON allocations returns nil, err (%d failed)", fails);
    cJSON_InitHooks(NULL);
    lua_settop(L, top);
}

/* A Lua allocator with a ceiling, to make json_push and the result string
 * fail midway: the C-side tree and text must still be freed. */
typedef struct capped {
    size_t used, limit;
} capped;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    capped *c = ud;
    void *p;

    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        c->used -= osize;
        return NULL;
    }
    if (nsize > osize && c->used + (nsize - osize) > c->limit)
        return NULL;
    p = realloc(ptr, nsize);
    if (p)
        c->used = c->used - osize + nsize;
    return p;
}

static void test_lua_oom(void)
{
    capped c = { 0, (size_t)-1 };
    lua_State *L = lua_newstate(capped_alloc, &c);
    size_t extra;
    int rc, memerr = 0, okays = 0, other = 0;

    luaL_openlibs(L);
    json_open(L);
    lua_setglobal(L, "json");
    dostring(L, "local text = '[' .. string.rep('{\"key\":\"value\",\"n\":[1,2,3]},', 200) .. '{}]'\n"
                     "local big = json.decode(text)\n"
                     "return function() local t = json.decode(text) return json.encode(t) end");
    for (extra = 0; extra < 200000; extra += 1500) {
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushvalue(L, -1);
        c.limit = c.used + extra;
        rc = lua_pcall(L, 0, 1, 0);
        c.limit = (size_t)-1;
        /* A memory error caught to free C memory is rethrown with
         * lua_error, which reports it as a runtime error. */
        if (rc == LUA_OK)
            okays++;
        else if (rc == LUA_ERRMEM || strstr(lua_tostring(L, -1), "not enough memory"))
            memerr++;
        else
            other++;
        lua_pop(L, 1);
    }
    ok(memerr > 0 && okays > 0 && other == 0,
       "decode/encode under a Lua memory ceiling: %d memory errors, %d successes, %d others",
       memerr, okays, other);
    lua_close(L);
    ok(c.used == 0, "every Lua allocation released after lua_close");
}

int main(void)
{
    lua_State *L = new_state();
    size_t i;

    for (i = 0; i < sizeof lua_cases / sizeof lua_cases[0]; i++)
        run_lua_case(L, &lua_cases[i]);
    test_c_push(L);
    test_c_push_deep(L);
    test_c_from_lua(L);
    test_cjson_oom(L);
    ok(lua_gettop(L) == 0, "C tests left the Lua stack empty");
    lua_close(L);
    test_lua_oom();
    return tap_done();
}
