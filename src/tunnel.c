/* tunnel — an engine's remote unix socket brought here by ssh (see tunnel.h).
 *
 * Lifetime: three libuv handles (the process, its stderr pipe, a timer)
 * live in the struct, which is freed when the owner has stopped it and the
 * last handle has closed. While the tunnel is merely up, none of them keeps
 * the loop alive (a connected client must not keep a script running); once
 * stopped, the process handle does, until ssh has been reaped. */
#include "tunnel.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "loop.h"
#include "said.h"
#include "sockdir.h"

#define TUNNEL_POLL_FIRST_MS 5
#define TUNNEL_POLL_MAX_MS 100
/* After ssh exits, how long its stderr may take to reach EOF: the message
 * it printed is the error the user needs. */
#define TUNNEL_EXIT_GRACE_MS 200
#define TUNNEL_SAID 600      /* how much of ssh's stderr goes in a message */
#define TUNNEL_MSG 1200      /* who + how + what ssh said + our words */
/* Keeps a dead server from leaving the tunnel half-open for hours. */
#define TUNNEL_ALIVE_INTERVAL "ServerAliveInterval=30"

struct tunnel {
    uv_process_t proc;
    uv_pipe_t err;
    uv_timer_t timer;
    tunnel_ready_fn ready;       /* the report still owed, or NULL */
    void *ud;
    char who[320];               /* "root@host port 22", for messages */
    sockdir sd;                  /* the private directory and the socket in it */
    said_tail said;                 /* the end of ssh's stderr */
    char last[256];
    char failure[TUNNEL_MSG];
    long timeout_ms;
    uint64_t deadline;
    uint64_t poll_ms;
    int handles;                 /* initialised and not yet closed */
    int proc_init;               /* uv_spawn was called: the handle needs closing */
    int running;                 /* spawned and not yet reaped */
    int err_open;
    int exited;
    int64_t exit_status;
    int term_signal;
    int stopped;
    tunnel *next;                /* all tunnels not yet freed, for exit */
};

static tunnel *tunnel_all;

/* ---- bookkeeping ---- */

static void tunnel_remove_dir(tunnel *t)
{
    sockdir_remove(&t->sd);
}

/* exit() may come from anywhere (a finalizer calling os.exit): whatever
 * ssh is still running goes with the process. */
static void tunnel_atexit(void)
{
    for (tunnel *t = tunnel_all; t; t = t->next) {
        if (t->running)
            kill(t->proc.pid, SIGKILL);
        tunnel_remove_dir(t);
    }
}

static void tunnel_link(tunnel *t)
{
    static int registered;
    if (!registered)
        registered = atexit(tunnel_atexit) == 0;
    t->next = tunnel_all;
    tunnel_all = t;
}

static void tunnel_free(tunnel *t)
{
    for (tunnel **p = &tunnel_all; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    free(t);
}

static void tunnel_on_close(uv_handle_t *h)
{
    tunnel *t = h->data;
    if (--t->handles == 0 && t->stopped)
        tunnel_free(t);
}

static void tunnel_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, tunnel_on_close);
}

/* ---- what ssh said ---- */

static int tunnel_noise(const char *line, size_t n)
{
    static const char added[] = "Warning: Permanently added";
    return n == 0 || (n >= sizeof added - 1 && memcmp(line, added, sizeof added - 1) == 0);
}

static void tunnel_keep_tail(tunnel *t, const char *p, size_t n)
{
    said_keep(&t->said, p, n);
    const char *tail = t->said.tail;
    /* the last complete, meaningful line */
    size_t end = t->said.len;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && tail[start - 1] != '\n')
            start--;
        size_t len = end - start;
        while (len > 0 && (tail[start + len - 1] == '\n' || tail[start + len - 1] == '\r'))
            len--;
        if (!tunnel_noise(tail + start, len)) {
            snprintf(t->last, sizeof t->last, "%.*s", (int)len, tail + start);
            return;
        }
        end = start;
    }
}

/* "exited with status 255" / "was killed by signal 9" */
static void tunnel_exit_text(const tunnel *t, char *out, size_t outlen)
{
    if (t->term_signal)
        snprintf(out, outlen, "was killed by signal %d", t->term_signal);
    else
        snprintf(out, outlen, "exited with status %lld", (long long)t->exit_status);
}

/* ---- reporting ---- */

/* Owes no more reports. The callback may stop (and so free) the tunnel:
 * nothing touches t after it. */
static void tunnel_report(tunnel *t, tunnel_result result, const char *message)
{
    tunnel_ready_fn fn = t->ready;
    t->ready = NULL;
    uv_timer_stop(&t->timer);
    if (fn)
        fn(t->ud, result, message);
}

static void tunnel_report_exit(tunnel *t)
{
    char how[64], said[TUNNEL_SAID], msg[TUNNEL_MSG];
    tunnel_exit_text(t, how, sizeof how);
    said_text(&t->said, tunnel_noise, said, sizeof said);
    snprintf(msg, sizeof msg, "ssh to %s %s before the tunnel was up: %s", t->who, how,
             said[0] ? said : "(ssh printed nothing)");
    tunnel_report(t, TUNNEL_FAILED, msg);
}

static void tunnel_on_grace(uv_timer_t *tm)
{
    tunnel_report_exit(tm->data);
}

/* ---- the child ---- */

static void tunnel_on_exit(uv_process_t *p, int64_t status, int sig)
{
    tunnel *t = p->data;
    t->running = 0;
    t->exited = 1;
    t->exit_status = status;
    t->term_signal = sig;
    tunnel_close((uv_handle_t *)&t->proc);
    if (t->sd.dir[0])
        unlink(t->sd.sock); /* nothing listens there any more */
    if (!t->ready) {
        char how[64], said[TUNNEL_SAID];
        tunnel_exit_text(t, how, sizeof how);
        said_text(&t->said, tunnel_noise, said, sizeof said);
        snprintf(t->failure, sizeof t->failure, "ssh to %s %s%s%s", t->who, how, said[0] ? ": " : "", said);
        return;
    }
    if (!t->err_open)
        tunnel_report_exit(t);
    else
        uv_timer_start(&t->timer, tunnel_on_grace, TUNNEL_EXIT_GRACE_MS, 0);
}

static void tunnel_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char scratch[4096];
    (void)h;
    (void)hint;
    /* copied into the tail at once: one buffer serves every tunnel */
    *b = uv_buf_init(scratch, sizeof scratch);
}

static void tunnel_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    tunnel *t = s->data;
    if (n > 0) {
        tunnel_keep_tail(t, b->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    t->err_open = 0;
    tunnel_close((uv_handle_t *)s);
    if (t->exited && t->ready)
        tunnel_report_exit(t);
}

/* Whether something accepts connections on the local socket. A connect on
 * a unix socket completes or fails at once: this does not block. */
static void tunnel_on_timer(uv_timer_t *tm)
{
    tunnel *t = tm->data;
    if (sockdir_accepts(t->sd.sock))
        return tunnel_report(t, TUNNEL_READY, NULL);
    if (uv_now(loop_get()) >= t->deadline) {
        char said[TUNNEL_SAID], msg[TUNNEL_MSG];
        said_text(&t->said, tunnel_noise, said, sizeof said);
        snprintf(msg, sizeof msg, "ssh to %s did not set up the tunnel within %.1f s%s%s", t->who,
                 (double)t->timeout_ms / 1000.0, said[0] ? ": " : "", said);
        uv_process_kill(&t->proc, SIGKILL);
        return tunnel_report(t, TUNNEL_TIMED_OUT, msg);
    }
    t->poll_ms = t->poll_ms * 2 > TUNNEL_POLL_MAX_MS ? TUNNEL_POLL_MAX_MS : t->poll_ms * 2;
    uv_timer_start(&t->timer, tunnel_on_timer, t->poll_ms, 0);
}

/* ---- starting ---- */

/* util-linux's setpriv makes the kernel kill ssh when moonpod dies, even
 * by SIGKILL; without it, exit() and tunnel_stop still do. */
static int tunnel_have_setpriv(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    const char *path = getenv("PATH");
    char dir[4096];
    known = 0;
    for (const char *p = path && *path ? path : "/usr/bin:/bin"; *p && !known; p += *p == ':') {
        size_t n = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/setpriv", (int)n, p);
        known = n > 0 && access(dir, X_OK) == 0;
        p += n;
    }
    return known;
}

/* A fresh 0700 directory for the local socket, under $TMPDIR or /tmp:
 * only this user can reach the engine through it. */
static int tunnel_make_dir(tunnel *t, char *err, size_t errlen)
{
    return sockdir_make(&t->sd, "ssh", "engine.sock", "the ssh tunnel", err, errlen);
}

typedef struct tunnel_args {
    const char *v[96];
    size_t n;
    char forward[300];
    char timeout[48];
} tunnel_args;

static void tunnel_arg(tunnel_args *a, const char *s)
{
    if (a->n + 1 < sizeof a->v / sizeof a->v[0])
        a->v[a->n++] = s;
}

static void tunnel_opt(tunnel_args *a, const char *opt)
{
    tunnel_arg(a, "-o");
    tunnel_arg(a, opt);
}

/* ssh takes the first value it sees for an option: first what the tunnel
 * depends on, then the user's ssh_options, then defaults they may override
 * (all before ~/.ssh/config, which comes after the command line). */
static int tunnel_build_args(tunnel *t, const endpoint_ssh *ssh, long timeout_ms, tunnel_args *a)
{
    size_t nopts = 0;
    while (ssh->options && ssh->options[nopts])
        nopts++;
    if (nopts > 24)
        return -1;
    memset(a, 0, sizeof *a);
    if (tunnel_have_setpriv()) {
        static const char *const pre[] = {"setpriv", "--pdeathsig", "KILL", "--"};
        for (size_t i = 0; i < 4; i++)
            tunnel_arg(a, pre[i]);
    }
    tunnel_arg(a, "ssh");
    tunnel_arg(a, "-N");
    tunnel_opt(a, "BatchMode=yes");
    tunnel_opt(a, "ExitOnForwardFailure=yes");
    tunnel_opt(a, "StreamLocalBindUnlink=yes");
    for (size_t i = 0; i < nopts; i++)
        tunnel_opt(a, ssh->options[i]);
    snprintf(a->timeout, sizeof a->timeout, "ConnectTimeout=%ld", (timeout_ms + 999) / 1000);
    tunnel_opt(a, "StrictHostKeyChecking=accept-new");
    tunnel_opt(a, a->timeout);
    tunnel_opt(a, TUNNEL_ALIVE_INTERVAL);
    /* a ControlMaster in ~/.ssh/config would fork a master that outlives us */
    tunnel_opt(a, "ControlMaster=no");
    tunnel_opt(a, "ControlPath=none");
    if (ssh->identity_file) {
        tunnel_opt(a, "IdentitiesOnly=yes");
        tunnel_arg(a, "-i");
        tunnel_arg(a, ssh->identity_file);
    }
    if (ssh->port) {
        tunnel_arg(a, "-p");
        tunnel_arg(a, ssh->port);
    }
    if (ssh->user) {
        tunnel_arg(a, "-l");
        tunnel_arg(a, ssh->user);
    }
    if ((size_t)snprintf(a->forward, sizeof a->forward, "%s:%s", t->sd.sock, ssh->remote_path) >= sizeof a->forward)
        return -1;
    tunnel_arg(a, "-L");
    tunnel_arg(a, a->forward);
    tunnel_arg(a, "--");
    tunnel_arg(a, ssh->host);
    a->v[a->n] = NULL;
    return 0;
}

static int tunnel_spawn(tunnel *t, const endpoint_ssh *ssh, long timeout_ms, char *err, size_t errlen)
{
    tunnel_args a;
    if (tunnel_build_args(t, ssh, timeout_ms, &a) != 0) {
        snprintf(err, errlen, "ssh options or paths too long for ssh://%s", t->who);
        return -1;
    }
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&t->err},
    };
    uv_process_options_t po = {
        .exit_cb = tunnel_on_exit,
        .file = a.v[0],
        .args = (char **)a.v,
        .stdio_count = 3,
        .stdio = stdio,
        /* its own session: a Ctrl-C at the terminal is moonpod's to handle */
        .flags = UV_PROCESS_DETACHED,
    };
    int rc = uv_spawn(loop_get(), &t->proc, &po);
    t->handles++;
    t->proc_init = 1;
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s for the ssh tunnel to %s: %s%s", a.v[0], t->who, uv_strerror(rc),
                 rc == UV_ENOENT ? " (install the openssh client)" : "");
        return -1;
    }
    t->running = 1;
    return 0;
}

static void tunnel_describe(tunnel *t, const endpoint_ssh *ssh)
{
    snprintf(t->who, sizeof t->who, "%s%s%s%s%s", ssh->user ? ssh->user : "", ssh->user ? "@" : "", ssh->host,
             ssh->port ? " port " : "", ssh->port ? ssh->port : "");
}

tunnel *tunnel_start(const endpoint_ssh *ssh, long timeout_ms, tunnel_ready_fn ready, void *ud, char *err,
                     size_t errlen)
{
    tunnel *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    err[0] = '\0';
    tunnel_describe(t, ssh);
    if (tunnel_make_dir(t, err, errlen) != 0) {
        free(t);
        return NULL;
    }
    tunnel_link(t);
    uv_loop_t *loop = loop_get();
    uv_timer_init(loop, &t->timer);
    uv_pipe_init(loop, &t->err, 0);
    t->handles = 2;
    t->timer.data = t->err.data = t->proc.data = t;
    if (tunnel_spawn(t, ssh, timeout_ms, err, errlen) != 0) {
        tunnel_stop(t);
        return NULL;
    }
    t->ready = ready;
    t->ud = ud;
    t->err_open = 1;
    uv_read_start((uv_stream_t *)&t->err, tunnel_alloc, tunnel_on_read);
    uv_unref((uv_handle_t *)&t->proc);
    uv_unref((uv_handle_t *)&t->err);
    t->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    t->deadline = uv_now(loop) + (uint64_t)t->timeout_ms;
    t->poll_ms = TUNNEL_POLL_FIRST_MS;
    uv_timer_start(&t->timer, tunnel_on_timer, t->poll_ms, 0);
    return t;
}

/* ---- using and stopping ---- */

const char *tunnel_socket(const tunnel *t)
{
    return t->sd.sock;
}

const char *tunnel_failure(const tunnel *t)
{
    return t->failure[0] ? t->failure : NULL;
}

const char *tunnel_last_message(const tunnel *t)
{
    return t->last;
}

void tunnel_stop(tunnel *t)
{
    if (!t)
        return;
    t->ready = NULL;
    t->stopped = 1;
    tunnel_close((uv_handle_t *)&t->timer);
    if (t->err_open) {
        t->err_open = 0;
        uv_read_stop((uv_stream_t *)&t->err);
    }
    tunnel_close((uv_handle_t *)&t->err);
    if (t->running) {
        uv_process_kill(&t->proc, SIGKILL);
        /* the loop stays up until ssh is reaped */
        uv_ref((uv_handle_t *)&t->proc);
    } else if (t->proc_init) {
        tunnel_close((uv_handle_t *)&t->proc); /* a spawn that failed, or done already */
    }
    tunnel_remove_dir(t);
}
