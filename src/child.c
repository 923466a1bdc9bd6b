/* child — a child process on the loop (see child.h).
 *
 * Lifetime: five libuv handles (the process, three pipes, a timer) live in
 * the struct, which is freed when the owner has released it and the last
 * handle has closed. The one timer serves one purpose at a time: the
 * timeout while the child runs, the wait for its outputs to end after it
 * exited, the grace between SIGTERM and SIGKILL after it was released. */
#include "child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "loop.h"

#define CHILD_MAX_ARGS 16384
#define CHILD_MAX_ENV 8192
/* At exit, how long a child killed with SIGKILL may take to be reaped. */
#define CHILD_EXIT_REAP_MS 1000

typedef struct child_pipe {
    uv_pipe_t pipe;
    child *owner;
    int fd;                 /* 1 or 2 */
    int open;               /* reading, or paused: the end has not come */
    buf data;               /* collected */
    size_t dropped;
} child_pipe;

struct child {
    uv_process_t proc;
    child_pipe out, err;
    uv_pipe_t in;
    uv_timer_t timer;
    uv_write_t write_req;
    char *input;
    size_t input_len;
    child_output_fn on_output;
    child_done_fn on_done;
    void *ud;
    size_t max_output;
    long eof_grace_ms;
    int term_grace_ms;
    int handles;            /* initialised and not yet closed */
    int running;            /* spawned and not yet reaped */
    int spawned;
    int paused;
    int released;
    int reported;           /* on_done was called */
    int termed;             /* SIGTERM was sent */
    int kill_at_exit;
    child_status st;
    child *next;            /* every child not yet freed, for exit */
};

static child *child_all;

/* ---- bookkeeping ---- */

static void child_unlink(child *c)
{
    for (child **p = &child_all; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

static void child_free(child *c)
{
    child_unlink(c);
    buf_free(&c->out.data);
    buf_free(&c->err.data);
    free(c->input);
    free(c);
}

static void child_on_close(uv_handle_t *h)
{
    child *c = h->data;
    if (--c->handles == 0 && c->released)
        child_free(c);
}

static void child_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, child_on_close);
}

/* Waits up to ms for pid to end, without a signal handler: at exit the
 * loop is gone, and this is the only way left to honour a grace period. */
static int child_wait_gone(pid_t pid, int ms)
{
    int fd = pidfd_open(pid, 0);
    if (fd < 0)
        return waitpid(pid, NULL, WNOHANG) == pid;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;
    do
        rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    close(fd);
    return rc > 0 && waitpid(pid, NULL, WNOHANG) == pid;
}

/* exit() may come from anywhere (a finalizer calling os.exit, the end of
 * main): children that must not outlive moonpod go with it, reaped. */
static void child_atexit(void)
{
    for (child *c = child_all; c; c = c->next) {
        if (!c->running || !c->kill_at_exit)
            continue;
        pid_t pid = c->proc.pid;
        if (c->term_grace_ms > 0) {
            if (!c->termed)
                kill(pid, SIGTERM);
            c->termed = 1;
            if (child_wait_gone(pid, c->term_grace_ms)) {
                c->running = 0;
                continue;
            }
        }
        kill(pid, SIGKILL);
        child_wait_gone(pid, CHILD_EXIT_REAP_MS);
        c->running = 0;
    }
}

static void child_link(child *c)
{
    static int registered;
    if (!registered)
        registered = atexit(child_atexit) == 0;
    c->next = child_all;
    child_all = c;
}

/* ---- finding programs ---- */

int child_which(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        if ((size_t)snprintf(out, outlen, "%s", name) >= outlen)
            return -1;
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    for (const char *p = path && *path ? path : "/usr/bin:/bin"; *p; p += *p == ':') {
        size_t n = strcspn(p, ":");
        int len = snprintf(out, outlen, "%.*s/%s", (int)n, p, name);
        if (n > 0 && len > 0 && (size_t)len < outlen && access(out, X_OK) == 0)
            return 0;
        p += n;
    }
    return -1;
}

int child_have_setpriv(void)
{
    char path[4096];
    return child_which("setpriv", path, sizeof path) == 0;
}

char **child_words(const char *text, size_t max)
{
    static const char space[] = " \t\n\r\f\v";
    size_t n = 0;
    char **v = calloc(max + 1, sizeof *v);
    for (const char *p = text ? text : ""; v && *p && n < max;) {
        p += strspn(p, space);
        size_t len = strcspn(p, space);
        if (len == 0)
            break;
        if (!(v[n++] = strndup(p, len))) {
            child_words_free(v);
            return NULL;
        }
        p += len;
    }
    return v;
}

void child_words_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- telling the owner ---- */

static void child_check_done(child *c)
{
    if (c->released || c->reported || c->running || c->out.open || c->err.open)
        return;
    c->reported = 1;
    uv_timer_stop(&c->timer);
    if (c->on_done)
        c->on_done(c->ud, &c->st);
}

static void child_end_pipe(child_pipe *p)
{
    child *c = p->owner;
    if (!p->open)
        return;
    p->open = 0;
    uv_read_stop((uv_stream_t *)&p->pipe);
    child_close((uv_handle_t *)&p->pipe);
    if (c->on_output && !c->released)
        c->on_output(c->ud, p->fd, NULL, 0);
}

/* ---- output ---- */

static void child_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char scratch[65536];
    (void)h;
    (void)hint;
    /* reads are handed on or copied at once: one buffer serves all pipes */
    *b = uv_buf_init(scratch, sizeof scratch);
}

static void child_collect(child *c, child_pipe *p, const char *data, size_t n)
{
    size_t keep = p->data.len >= c->max_output ? 0 : c->max_output - p->data.len;
    size_t take = n < keep ? n : keep;
    buf_add(&p->data, data, take);
    p->dropped += n - take;
}

static void child_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    child_pipe *p = (child_pipe *)s;
    child *c = s->data;
    if (n > 0) {
        if (c->released)
            return;
        if (c->on_output)
            c->on_output(c->ud, p->fd, b->base, (size_t)n);
        else
            child_collect(c, p, b->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    child_end_pipe(p);
    child_check_done(c);
}

static void child_start_reading(child_pipe *p)
{
    if (p->open)
        uv_read_start((uv_stream_t *)&p->pipe, child_alloc, child_on_read);
}

/* ---- the process ---- */

static void child_on_eof_grace(uv_timer_t *t)
{
    child *c = t->data;
    /* a grandchild holds the outputs open: stop waiting for it */
    child_end_pipe(&c->out);
    child_end_pipe(&c->err);
    child_check_done(c);
}

static void child_on_exit(uv_process_t *pr, int64_t status, int sig)
{
    child *c = pr->data;
    c->running = 0;
    c->st.exit_status = status;
    c->st.term_signal = sig;
    child_close((uv_handle_t *)pr);
    uv_timer_stop(&c->timer);
    if (c->released) {
        child_close((uv_handle_t *)&c->timer);
        return;
    }
    if ((c->out.open || c->err.open) && c->eof_grace_ms > 0 && !c->paused)
        uv_timer_start(&c->timer, child_on_eof_grace, (uint64_t)c->eof_grace_ms, 0);
    child_check_done(c);
}

static void child_on_timeout(uv_timer_t *t)
{
    child *c = t->data;
    if (c->running) {
        c->st.timed_out = 1;
        uv_process_kill(&c->proc, SIGKILL);
    }
}

static void child_on_written(uv_write_t *w, int status)
{
    child *c = w->data;
    (void)status;
    child_close((uv_handle_t *)&c->in);
}

/* argv, behind setpriv when the kernel must end the child with us. */
static const char **child_argv(const child_opts *o)
{
    static const char *const pre[] = {"setpriv", "--pdeathsig", "KILL", "--"};
    size_t n = 0, k = 0;
    while (o->argv[n] && n < CHILD_MAX_ARGS)
        n++;
    if (n == 0 || o->argv[n])
        return NULL;
    int wrap = o->pdeathsig && child_have_setpriv();
    const char **v = calloc(n + 5, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; wrap && i < 4; i++)
        v[k++] = pre[i];
    for (size_t i = 0; i < n; i++)
        v[k++] = o->argv[i];
    return v;
}

static size_t child_name_len(const char *entry)
{
    return strcspn(entry, "=");
}

/* The environment: the given one or ours, with the edits applied. NULL
 * (and *oom = 0) when nothing is to change: the child inherits ours. */
static const char **child_env(const child_opts *o, int *oom)
{
    extern char **environ;
    const char *const *base = o->env ? o->env : (const char *const *)environ;
    size_t nb = 0, ne = 0, k = 0;
    *oom = 0;
    if (!o->env && !o->env_edit)
        return NULL;
    while (base[nb] && nb < CHILD_MAX_ENV)
        nb++;
    while (o->env_edit && o->env_edit[ne] && ne < CHILD_MAX_ENV)
        ne++;
    const char **v = calloc(nb + ne + 1, sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        int edited = 0;
        size_t len = child_name_len(base[i]);
        for (size_t j = 0; j < ne && !edited; j++)
            edited = child_name_len(o->env_edit[j]) == len && strncmp(o->env_edit[j], base[i], len) == 0;
        if (!edited)
            v[k++] = base[i];
    }
    for (size_t j = 0; j < ne; j++)
        if (strchr(o->env_edit[j], '='))
            v[k++] = o->env_edit[j];
    v[k] = NULL;
    return v;
}

static void child_init_handles(child *c)
{
    uv_loop_t *loop = loop_get();
    uv_timer_init(loop, &c->timer);
    uv_pipe_init(loop, &c->out.pipe, 0);
    uv_pipe_init(loop, &c->err.pipe, 0);
    uv_pipe_init(loop, &c->in, 0);
    c->handles = 4;
    /* every handle's data is the child; a pipe's own struct is where its handle is */
    c->timer.data = c->in.data = c->proc.data = c->out.pipe.data = c->err.pipe.data = c;
    c->out.owner = c->err.owner = c;
    c->out.fd = 1;
    c->err.fd = 2;
}

static int child_take_opts(child *c, const child_opts *o)
{
    c->on_output = o->on_output;
    c->on_done = o->on_done;
    c->ud = o->ud;
    c->max_output = o->max_output;
    c->eof_grace_ms = o->eof_grace_ms;
    c->term_grace_ms = o->term_grace_ms;
    c->kill_at_exit = o->kill_at_exit;
    if (!o->input)
        return 0;
    c->input = malloc(o->input_len + 1);
    if (!c->input)
        return -1;
    memcpy(c->input, o->input, o->input_len);
    c->input_len = o->input_len;
    return 0;
}

static int child_do_spawn(child *c, const child_opts *o, const char **argv, const char **env)
{
    uv_stdio_container_t stdio[3] = {
        {.flags = o->input ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE, .data.stream = (uv_stream_t *)&c->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out.pipe},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err.pipe},
    };
    uv_process_options_t po = {
        .exit_cb = child_on_exit,
        .file = argv[0],
        .args = (char **)argv,
        .env = (char **)env,
        .cwd = o->cwd,
        .stdio_count = 3,
        .stdio = stdio,
        .flags = o->detached ? UV_PROCESS_DETACHED : 0,
    };
    int rc = uv_spawn(loop_get(), &c->proc, &po);
    c->handles++; /* libuv wants even a failed process handle closed */
    c->spawned = 1;
    return rc;
}

static void child_feed_input(child *c)
{
    /* Nothing to say: close at once, and write nothing to a child that may
     * already be gone. */
    if (!c->input || c->input_len == 0) {
        child_close((uv_handle_t *)&c->in);
        return;
    }
    uv_buf_t b = uv_buf_init(c->input, (unsigned)c->input_len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->in, &b, 1, child_on_written) != 0)
        child_close((uv_handle_t *)&c->in);
}

static void child_make_weak(child *c)
{
    uv_unref((uv_handle_t *)&c->proc);
    uv_unref((uv_handle_t *)&c->out.pipe);
    uv_unref((uv_handle_t *)&c->err.pipe);
    uv_unref((uv_handle_t *)&c->in);
}

child *child_spawn(const child_opts *o, int *uv_err, char *err, size_t errlen)
{
    int oom = 0, rc = UV_ENOMEM;
    *uv_err = 0;
    child *c = calloc(1, sizeof *c);
    const char **argv = c ? child_argv(o) : NULL;
    const char **env = argv ? child_env(o, &oom) : NULL;
    if (!c || !argv || oom || child_take_opts(c, o) != 0) {
        snprintf(err, errlen, "%s", c && !argv ? "no program, too many arguments or out of memory" : "out of memory");
        *uv_err = UV_ENOMEM;
        free(argv);
        free(env);
        if (c)
            free(c->input);
        free(c);
        return NULL;
    }
    child_link(c);
    child_init_handles(c);
    rc = child_do_spawn(c, o, argv, env);
    free(argv);
    free(env);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start '%s': %s", o->argv[0], uv_strerror(rc));
        *uv_err = rc;
        child_release(c);
        return NULL;
    }
    c->running = 1;
    c->out.open = c->err.open = 1;
    child_start_reading(&c->out);
    child_start_reading(&c->err);
    child_feed_input(c);
    if (o->timeout_ms > 0)
        uv_timer_start(&c->timer, child_on_timeout, (uint64_t)o->timeout_ms, 0);
    if (o->weak)
        child_make_weak(c);
    return c;
}

/* ---- using it ---- */

const char *child_output(const child *c, int fd, size_t *len)
{
    const buf *b = fd == 2 ? &c->err.data : &c->out.data;
    *len = b->p ? b->len : 0;
    return b->p ? b->p : "";
}

size_t child_dropped(const child *c, int fd)
{
    return fd == 2 ? c->err.dropped : c->out.dropped;
}

int child_pid(const child *c)
{
    return c->proc.pid;
}

void child_pause(child *c)
{
    if (c->paused)
        return;
    c->paused = 1;
    if (c->out.open)
        uv_read_stop((uv_stream_t *)&c->out.pipe);
    if (c->err.open)
        uv_read_stop((uv_stream_t *)&c->err.pipe);
}

void child_resume(child *c)
{
    if (!c->paused || c->released)
        return;
    c->paused = 0;
    child_start_reading(&c->out);
    child_start_reading(&c->err);
    if (!c->running && (c->out.open || c->err.open) && c->eof_grace_ms > 0 && !c->reported)
        uv_timer_start(&c->timer, child_on_eof_grace, (uint64_t)c->eof_grace_ms, 0);
}

void child_kill(child *c, int sig)
{
    if (c->running)
        uv_process_kill(&c->proc, sig);
}

static void child_on_kill_grace(uv_timer_t *t)
{
    child *c = t->data;
    if (c->running)
        uv_process_kill(&c->proc, SIGKILL);
}

void child_release(child *c)
{
    if (!c || c->released)
        return;
    c->released = 1;
    uv_timer_stop(&c->timer);
    for (child_pipe *p = &c->out; p; p = p == &c->out ? &c->err : NULL) {
        if (p->open)
            uv_read_stop((uv_stream_t *)&p->pipe);
        p->open = 0;
        child_close((uv_handle_t *)&p->pipe);
    }
    child_close((uv_handle_t *)&c->in);
    if (!c->running) {
        if (c->spawned)
            child_close((uv_handle_t *)&c->proc);
        child_close((uv_handle_t *)&c->timer);
        return;
    }
    /* the loop stays up until the child is reaped */
    uv_ref((uv_handle_t *)&c->proc);
    if (c->term_grace_ms > 0) {
        c->termed = 1;
        uv_process_kill(&c->proc, SIGTERM);
        uv_timer_start(&c->timer, child_on_kill_grace, (uint64_t)c->term_grace_ms, 0);
    } else {
        uv_process_kill(&c->proc, SIGKILL);
    }
}
