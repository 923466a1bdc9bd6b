/* said — what a child process said on stderr (podman system service, the
 * ssh of a tunnel): the last bytes kept in a bounded buffer, shown to the
 * user as one line. */
#ifndef MOONPOD_SAID_H
#define MOONPOD_SAID_H

#include <stddef.h>

#define SAID_MAX 2048

typedef struct said_tail {
    char tail[SAID_MAX];
    size_t len;
} said_tail;

/* Keeps the last SAID_MAX bytes of what was said, this piece included. */
void said_keep(said_tail *s, const char *p, size_t n);

/* Its lines as one line, joined with " / " (blank lines and those `skip`
 * returns nonzero for left out), at most outlen - 1 bytes from the end. */
void said_text(const said_tail *s, int (*skip)(const char *line, size_t n), char *out, size_t outlen);

#endif
