/* lua_alloc — the allocator under every Lua state (see lua_alloc.h).
 *
 * Lua makes and frees small blocks at a great rate (a table, its nodes and
 * a few strings for each event or sample), and its collector frees them in
 * bursts. glibc's per-thread cache keeps only seven blocks of a size, so
 * after each sweep most blocks went back through the general allocator and
 * came out of it again: a quarter of the cost of an event. Here freed
 * blocks up to LALLOC_MAX_SMALL bytes are kept in a list per 16-byte size
 * class and handed out again. Lua tells the size of a block when it frees
 * or resizes it, so blocks need no header: a block of class k is always
 * exactly k × 16 bytes from malloc.
 *
 * The lists are bounded (LALLOC_MAX_CACHED bytes in all); past that, blocks
 * go back to malloc. Every state lives on the loop's thread, so the lists
 * need no lock. Under AddressSanitizer blocks are not reused, so that it
 * still sees every use after free. */
#include "lua_alloc.h"

#include <stdlib.h>
#include <string.h>

#define LALLOC_GRAIN 16
#define LALLOC_MAX_SMALL 512
#define LALLOC_CLASSES (LALLOC_MAX_SMALL / LALLOC_GRAIN)
#define LALLOC_MAX_CACHED ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define LALLOC_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LALLOC_POOL 0
#endif
#endif
#ifndef LALLOC_POOL
#define LALLOC_POOL 1
#endif

typedef struct lalloc_block {
    struct lalloc_block *next;
} lalloc_block;

static struct {
    lalloc_block *free[LALLOC_CLASSES];
    size_t cached; /* bytes in the lists */
} lalloc;

/* 1..LALLOC_CLASSES for a small size, 0 for a large one. */
static size_t lalloc_class(size_t size)
{
    return LALLOC_POOL && size <= LALLOC_MAX_SMALL ? (size + LALLOC_GRAIN - 1) / LALLOC_GRAIN : 0;
}

static void *lalloc_take(size_t k)
{
    lalloc_block *b = lalloc.free[k - 1];
    if (b) {
        lalloc.free[k - 1] = b->next;
        lalloc.cached -= k * LALLOC_GRAIN;
        return b;
    }
    return malloc(k * LALLOC_GRAIN);
}

static void lalloc_give(void *p, size_t k)
{
    if (lalloc.cached + k * LALLOC_GRAIN > LALLOC_MAX_CACHED) {
        free(p);
        return;
    }
    lalloc_block *b = p;
    b->next = lalloc.free[k - 1];
    lalloc.free[k - 1] = b;
    lalloc.cached += k * LALLOC_GRAIN;
}

void lalloc_free(void *ptr, size_t size)
{
    size_t k = lalloc_class(size);
    if (!ptr)
        return;
    if (k)
        lalloc_give(ptr, k);
    else
        free(ptr);
}

void *lalloc_resize(void *ptr, size_t osize, size_t nsize)
{
    size_t ok = ptr ? lalloc_class(osize) : 0, nk = lalloc_class(nsize);
    if (!ptr)
        return nk ? lalloc_take(nk) : malloc(nsize);
    if (!ok && !nk)
        return realloc(ptr, nsize);
    if (ok && ok == nk)
        return ptr; /* the block already has room */
    void *np = nk ? lalloc_take(nk) : malloc(nsize);
    if (!np)
        return NULL; /* Lua keeps the old block */
    memcpy(np, ptr, osize < nsize ? osize : nsize);
    lalloc_free(ptr, osize);
    return np;
}

void *lalloc_fn(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        lalloc_free(ptr, osize);
        return NULL;
    }
    return lalloc_resize(ptr, osize, nsize);
}

void lalloc_trim(void)
{
    for (size_t k = 1; k <= LALLOC_CLASSES; k++) {
        lalloc_block *b;
        while ((b = lalloc.free[k - 1])) {
            lalloc.free[k - 1] = b->next;
            free(b);
        }
    }
    lalloc.cached = 0;
}
