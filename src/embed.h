/* embed — the Lua half of the library, compiled into the binary.
 *
 * The files under lua/ are turned into C strings at build time
 * (scripts/dev/embed.lua), so a moonpod binary needs no files beside it and
 * starts without searching the disk. */
#ifndef MOONPOD_EMBED_H
#define MOONPOD_EMBED_H

#include <stddef.h>
#include <lua.h>

typedef struct embed_module {
    const char *name;     /* "moonpod.events" */
    const char *chunkname;/* "=moonpod/events.lua" */
    const char *source;
    size_t len;
} embed_module;

/* Generated: the table, ended by an entry whose name is NULL. */
extern const embed_module embed_modules[];

/* The source of an embedded module, or NULL. */
const char *embed_find(const char *name, size_t *len);

/* Installs a package searcher for embedded modules, ahead of the path
 * searchers. */
void embed_install_searcher(lua_State *L);

#endif
