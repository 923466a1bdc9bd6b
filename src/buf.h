/* buf — a growable byte string for building URLs, queries and bodies.
 *
 * Appends never fail loudly: on out-of-memory the buffer remembers it
 * (`oom`) and later appends do nothing, so a caller checks once at the end. */
#ifndef MOONPOD_BUF_H
#define MOONPOD_BUF_H

#include <stddef.h>

typedef struct buf {
    char *p;        /* NUL-terminated while len > 0 or after any append */
    size_t len, cap;
    int oom;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
/* Empties the buffer for reuse (its memory is kept) and forgets an
 * out-of-memory, so the next appends try again. */
void buf_clear(buf *b);
void buf_add(buf *b, const char *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes c into out as itself or as %XX (RFC 3986: all but the unreserved
 * characters are escaped); returns 1 or 3. Shared by every URL builder. */
size_t buf_urlenc_char(unsigned char c, char out[3]);
/* Appends s percent-encoded. */
void buf_add_urlenc(buf *b, const char *s);
/* The string, "" when empty; NULL after out-of-memory. */
const char *buf_str(const buf *b);

#endif
