/* child — a child process on the loop, started from an argv (never a shell).
 *
 * What moonpod.run, the transient Podman service and the CLI backend share:
 * spawn a program (looked up in PATH) with the environment edited as asked,
 * feed it an optional stdin, and hand its stdout and stderr either to a
 * callback as they come (with flow control) or to bounded buffers. The
 * owner is told once that the child is over — it exited and its outputs
 * reached their end — then reads what was collected and releases it.
 *
 * Releasing a child that still runs ends it (SIGKILL, or SIGTERM and
 * SIGKILL after a grace) and reaps it; the loop stays up until it is
 * reaped. Children marked kill_at_exit are also ended when moonpod exits
 * however it exits: at exit(), and by the kernel when the process dies
 * (setpriv --pdeathsig, when util-linux's setpriv is installed). */
#ifndef MOONPOD_CHILD_H
#define MOONPOD_CHILD_H

#include <stddef.h>
#include <stdint.h>

typedef struct child child;

typedef struct child_status {
    int64_t exit_status;
    int term_signal;          /* the signal that killed it, or 0 */
    int timed_out;            /* killed because timeout_ms passed */
} child_status;

/* Output as it comes: fd 1 or 2; n == 0 is the end of that output. The
 * bytes are only valid during the call. */
typedef void (*child_output_fn)(void *ud, int fd, const char *p, size_t n);
/* The child is over. Called once, from a loop callback, unless the child
 * was released first. */
typedef void (*child_done_fn)(void *ud, const child_status *st);

typedef struct child_opts {
    const char *const *argv;     /* argv[0] is looked up in PATH */
    const char *const *env;      /* the whole environment, or NULL: this process's */
    const char *const *env_edit; /* applied on top: "NAME=value" sets, "NAME" unsets; or NULL */
    const char *cwd;             /* or NULL */
    const char *input;           /* written to stdin, which is then closed; NULL: /dev/null */
    size_t input_len;
    size_t max_output;           /* collecting: bytes kept per output, the rest counted */
    child_output_fn on_output;   /* NULL: collect, bounded */
    child_done_fn on_done;
    void *ud;
    long timeout_ms;             /* > 0: SIGKILL after that long */
    long eof_grace_ms;           /* > 0: after the exit, how long the outputs may take to end
                                    (a grandchild may hold them open); 0: as long as it takes */
    int term_grace_ms;           /* ending it on release or at exit: SIGTERM, then SIGKILL after
                                    this long; 0: SIGKILL at once */
    int pdeathsig;               /* run it under setpriv --pdeathsig KILL when available */
    int detached;                /* its own session: a Ctrl-C at the terminal is moonpod's */
    int weak;                    /* does not keep the loop alive while it runs */
    int kill_at_exit;            /* ended (and reaped) when moonpod exits */
} child_opts;

/* A bound for callers that have no better one. */
#define CHILD_DEFAULT_MAX_OUTPUT ((size_t)16 << 20)

/* Starts a child. Returns NULL with a message in err, and libuv's error
 * code in *uv_err (UV_ENOENT: no such program), when it can't. */
child *child_spawn(const child_opts *o, int *uv_err, char *err, size_t errlen);

/* What was collected of fd 1 or 2 (never NULL), and what the bound dropped. */
const char *child_output(const child *c, int fd, size_t *len);
size_t child_dropped(const child *c, int fd);

int child_pid(const child *c);

/* Flow control for on_output: stop reading (the pipes fill and the child
 * blocks), and go on. */
void child_pause(child *c);
void child_resume(child *c);

void child_kill(child *c, int sig);

/* The owner lets go: no callback comes after this. A child still running
 * is ended as its options say and reaped; the memory goes once libuv is
 * done with it. NULL is a no-op. */
void child_release(child *c);

/* The full path of `name` found in PATH (or `name` itself when it has a
 * '/'), when it is an executable file. Returns 0, or -1. */
int child_which(const char *name, char *out, size_t outlen);

/* Whether util-linux's setpriv is in PATH (then pdeathsig works). */
int child_have_setpriv(void);

/* The whitespace-separated words of `text` (no quoting: an environment
 * variable of extra arguments), as a NULL-terminated vector of at most
 * `max` words; NULL when out of memory. Free with child_words_free. */
char **child_words(const char *text, size_t max);
void child_words_free(char **v);

#endif
