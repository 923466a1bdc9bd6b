/* sockdir — a private directory (mode 0700) for a unix socket of
 * moonpod's own: the transient Podman service's, an ssh tunnel's. Only
 * this user can reach the engine through the socket inside it. */
#ifndef MOONPOD_SOCKDIR_H
#define MOONPOD_SOCKDIR_H

#include <stddef.h>

#define SOCKDIR_MAX 128

typedef struct sockdir {
    char dir[SOCKDIR_MAX];                      /* "" when there is none */
    char sock[SOCKDIR_MAX + 32];
} sockdir;

/* Creates $TMPDIR/moonpod-TAG-XXXXXX (else under /tmp) and names the
 * socket NAME inside it; `what` says whose it is in the error message.
 * Returns 0, or -1 with a message in err. */
int sockdir_make(sockdir *d, const char *tag, const char *name, const char *what, char *err, size_t errlen);

/* Removes the socket and the directory (once; a no-op afterwards). */
void sockdir_remove(sockdir *d);

/* Does something listen on the socket at path? A non-blocking connect
 * that is accepted or pending says yes; nothing is sent. */
int sockdir_accepts(const char *path);

#endif
