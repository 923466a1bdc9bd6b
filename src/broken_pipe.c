/* broken_pipe — SIGPIPE ends the process only when its own output is gone.
 *
 * A write to a pipe or socket whose reader has left raises SIGPIPE, and its
 * default action ends the process. For a peer of moonpod's (a /metrics
 * client that hung up mid-answer, a child that exited before reading its
 * stdin) that would take a whole service down for one hangup: such a write
 * should fail with EPIPE and the loop go on. When stdout or stderr itself
 * is the broken pipe (`moonpod script | head`), ending is what the `lua`
 * interpreter does and what the user expects. The handler tells the two
 * apart by asking poll(2) whether fd 1 or 2 has lost its reader. */
#define _POSIX_C_SOURCE 200809L
#include "broken_pipe.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int bp_reader_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

/* Only async-signal-safe calls: poll, sigaction, raise. The signal is
 * blocked while this runs, so the raised one is delivered, with the default
 * action, as the handler returns. */
static void bp_on_sigpipe(int sig)
{
    int saved = errno;
    if (bp_reader_gone(STDOUT_FILENO) || bp_reader_gone(STDERR_FILENO)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        raise(sig);
    }
    errno = saved;
}

int broken_pipe_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bp_on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGPIPE, &sa, NULL);
}
