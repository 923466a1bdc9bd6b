/* error — the error objects scripts see when an engine call fails. */
#include "error.h"

#include <lauxlib.h>
#include <string.h>

#include "json.h"

#define ERROR_MT "moonpod.error"

void error_push(lua_State *L, const char *kind, long status, const char *message)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status_code");
    }
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, ERROR_MT);
}

void error_push_reply(lua_State *L, const engine_reply *r)
{
    error_push(L, engine_errkind_name(r->kind), r->status, r->message);
    if (r->json) {
        json_push(L, r->json);
        lua_setfield(L, -2, "response_data");
    }
}

static int error_l_tostring(lua_State *L)
{
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "error"), luaL_optstring(L, -1, "?"));
    return 1;
}

/* moonpod.is_error(v, kind?) -> boolean: v is a moonpod error object (of
 * that kind, when given). */
static int error_l_is_error(lua_State *L)
{
    int yes = 0;
    if (lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, ERROR_MT);
        yes = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (yes && !lua_isnoneornil(L, 2)) {
        const char *want = luaL_checkstring(L, 2);
        lua_getfield(L, 1, "kind");
        yes = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), want) == 0;
    }
    lua_pushboolean(L, yes);
    return 1;
}

/* moonpod.error(kind, message, fields?) -> an error object like the
 * engine calls raise, for Lua code that reports its own failures (e.g.
 * moonpod.multi); `fields` are copied in (status_code, response_data, ...). */
static int error_l_new(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *message = luaL_checkstring(L, 2);
    error_push(L, kind, 0, message);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
    }
    return 1;
}

void error_register(lua_State *L)
{
    luaL_newmetatable(L, ERROR_MT);
    lua_pushcfunction(L, error_l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "moonpod.error");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, error_l_is_error);
    lua_setfield(L, -2, "is_error");
    lua_pushcfunction(L, error_l_new);
    lua_setfield(L, -2, "error");
}
