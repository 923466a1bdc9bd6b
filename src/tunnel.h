/* tunnel — an engine's remote unix socket brought here by the system ssh.
 *
 * For ssh://user@host:port/remote.sock, runs (through libuv, argv only)
 *   ssh -N -L LOCAL:REMOTE ... user@host
 * where LOCAL is a socket in a private (0700) temporary directory, waits on
 * the loop until LOCAL accepts connections, and from then on requests go
 * over LOCAL as over any unix socket. The ssh child lives until
 * tunnel_stop (the client's close or collection); it is also killed when
 * moonpod exits, however it exits: at exit(), and by the kernel when the
 * process dies (setpriv --pdeathsig, when util-linux's setpriv is there). */
#ifndef MOONPOD_TUNNEL_H
#define MOONPOD_TUNNEL_H

#include <stddef.h>

#include "endpoint.h"

typedef struct tunnel tunnel;

typedef enum {
    TUNNEL_READY,     /* the local socket accepts connections */
    TUNNEL_FAILED,    /* ssh could not be run, or exited: the message has its stderr */
    TUNNEL_TIMED_OUT, /* not ready within the deadline */
} tunnel_result;

/* Called once, from a loop callback, unless the tunnel was stopped first.
 * `message` is NULL when ready. */
typedef void (*tunnel_ready_fn)(void *ud, tunnel_result result, const char *message);

/* Starts ssh for `ssh` (user, host, port, remote_path, identity_file,
 * options) and waits up to timeout_ms for the forward. Returns NULL with a
 * message in err when ssh can't even be started. */
tunnel *tunnel_start(const endpoint_ssh *ssh, long timeout_ms, tunnel_ready_fn ready, void *ud, char *err,
                     size_t errlen);

/* The local socket requests go to. */
const char *tunnel_socket(const tunnel *t);

/* Why a tunnel that was up no longer is (ssh exited), or NULL while it is. */
const char *tunnel_failure(const tunnel *t);

/* The last line ssh wrote on stderr ("" when none): what it says when a
 * forwarded connection fails ("channel 2: open failed: ..."). */
const char *tunnel_last_message(const tunnel *t);

/* Kills ssh and reaps it (asynchronously: the loop waits for it), removes
 * the private directory; the ready callback is not called after this.
 * NULL is a no-op. */
void tunnel_stop(tunnel *t);

#endif
