/* service — the transient Podman API service moonpod starts for itself.
 *
 * When auto-detection finds no engine answering and podman is installed,
 * moonpod runs (through child.h, argv only)
 *   podman [$MOONPOD_PODMAN_ARGS] system service --time=0 unix://DIR/podman.sock
 * where DIR is a fresh 0700 directory under $TMPDIR or /tmp, and waits on
 * the loop until the socket accepts connections. One service serves every
 * client of the process; it is stopped (SIGTERM, SIGKILL after a grace)
 * and reaped when the last reference goes, and at exit. It never keeps a
 * script running by itself. */
#ifndef MOONPOD_SERVICE_H
#define MOONPOD_SERVICE_H

#include <stddef.h>

typedef struct service_ref service_ref;

/* The service is up (ok = 1), or will not be: `message` says why (the
 * last lines of what podman printed, when it printed anything). Called
 * once, from a loop callback, unless the reference was released first. */
typedef void (*service_ready_fn)(void *ud, int ok, const char *message);

/* Takes a reference on the process's service, starting it (with the podman
 * at `podman`, within timeout_ms) when none is up or starting. Returns
 * NULL with a message when it can't be started at all. */
service_ref *service_acquire(const char *podman, long timeout_ms, service_ready_fn ready, void *ud, char *err,
                             size_t errlen);

/* The socket it listens on (known from the start). */
const char *service_socket(const service_ref *r);

/* The service's pid, for messages. */
int service_pid(const service_ref *r);

/* Drops a reference; the last one stops the service. NULL is a no-op. */
void service_release(service_ref *r);

#endif
