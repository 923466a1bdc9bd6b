/* embed — the Lua half of the library, compiled into the binary. */
#include "embed.h"

#include <lauxlib.h>
#include <string.h>

static const embed_module *embed_lookup(const char *name)
{
    for (const embed_module *m = embed_modules; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

const char *embed_find(const char *name, size_t *len)
{
    const embed_module *m = embed_lookup(name);
    if (!m)
        return NULL;
    *len = m->len;
    return m->source;
}

static int embed_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const embed_module *m = embed_lookup(name);
    if (!m) {
        lua_pushfstring(L, "no embedded module '%s'", name);
        return 1;
    }
    if (luaL_loadbuffer(L, m->source, m->len, m->chunkname) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->chunkname + 1);
    return 2;
}

void embed_install_searcher(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    /* shift searchers 2..n up by one, then put ours at 2 (after preload) */
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = n; i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, embed_searcher);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}
