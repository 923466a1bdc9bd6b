/* lua_alloc — the allocator under every Lua state: small blocks are kept
 * and reused in lists per size class, bounded; larger ones go to malloc.
 * For the loop's thread only. */
#ifndef MOONPOD_LUA_ALLOC_H
#define MOONPOD_LUA_ALLOC_H

#include <stddef.h>

/* A lua_Alloc (ud unused). */
void *lalloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);

/* The same for an allocator layered on top (policy.c's capped one): ptr
 * NULL makes a new block; size is the block's size as Lua gives it. */
void *lalloc_resize(void *ptr, size_t osize, size_t nsize);
void lalloc_free(void *ptr, size_t size);

/* Gives every kept block back to malloc (at exit, for leak checkers). */
void lalloc_trim(void);

#endif
