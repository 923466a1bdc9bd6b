/* said — see said.h. */
#include "said.h"

#include <stdio.h>
#include <string.h>

void said_keep(said_tail *s, const char *p, size_t n)
{
    size_t cap = sizeof s->tail;
    if (n >= cap) {
        p += n - cap;
        n = cap;
    }
    if (s->len + n > cap) {
        size_t drop = s->len + n - cap;
        memmove(s->tail, s->tail + drop, s->len - drop);
        s->len -= drop;
    }
    memcpy(s->tail + s->len, p, n);
    s->len += n;
}

void said_text(const said_tail *s, int (*skip)(const char *line, size_t n), char *out, size_t outlen)
{
    char joined[SAID_MAX * 2];
    size_t j = 0;
    const char *p = s->tail, *end = s->tail + s->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
            n--;
        if (n > 0 && !(skip && skip(p, n)))
            j += (size_t)snprintf(joined + j, sizeof joined - j, "%s%.*s", j ? " / " : "", (int)n, p);
        if (j >= sizeof joined)
            j = sizeof joined - 1;
        p = nl ? nl + 1 : end;
    }
    size_t from = j + 1 > outlen ? j + 1 - outlen : 0;
    memcpy(out, joined + from, j - from);
    out[j - from] = '\0';
}
