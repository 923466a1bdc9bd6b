/* service — the transient Podman API service (see service.h).
 *
 * Lifetime: a service lives while references hold it. The poll timer is a
 * separate heap handle, so that stopping the service never waits for libuv
 * to close it. A service that dies or never comes up is no longer the
 * current one: the next connect starts a fresh one. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "child.h"
#include "log.h"
#include "said.h"
#include "sockdir.h"
#include "loop.h"

#define SERVICE_POLL_FIRST_MS 5
#define SERVICE_POLL_MAX_MS 100
/* podman stops at once on SIGTERM; this is for one that is stuck */
#define SERVICE_TERM_GRACE_MS 3000
/* after podman exits, how long its stderr may take to end */
#define SERVICE_EOF_GRACE_MS 200
#define SERVICE_SAID 600
#define SERVICE_MAX_EXTRA_ARGS 64

typedef enum { SERVICE_STARTING, SERVICE_UP, SERVICE_DOWN } service_state;

typedef struct service service;

struct service_ref {
    service *s;
    service_ready_fn ready;   /* the report still owed, or NULL */
    void *ud;
    service_ref *next;
};

struct service {
    child *child;
    uv_timer_t *timer;
    service_state state;
    service_ref *refs;
    sockdir sd;                  /* the private directory and the socket in it */
    said_tail said;               /* the end of podman's stderr */
    long timeout_ms;
    uint64_t started, deadline, poll_ms;
    int pid;
    service *next;             /* every service not yet stopped, for exit */
};

static service *service_current;
static service *service_all;

/* ---- the private directory ---- */

static void service_remove_dir(service *s)
{
    sockdir_remove(&s->sd);
}

/* podman removes its socket on SIGTERM; a SIGKILLed one can't. */
static void service_atexit(void)
{
    for (service *s = service_all; s; s = s->next)
        service_remove_dir(s);
}

static int service_make_dir(service *s, char *err, size_t errlen)
{
    return sockdir_make(&s->sd, "podman", "podman.sock", "the podman service", err, errlen);
}

/* ---- reporting ---- */

/* Tells every reference still owed a report. A callback may release its
 * own reference (and so, the last one, stop the service): each report is
 * taken off the list before it is made, and nothing touches s after the
 * last one unless a reference is left. */
static void service_report(service *s, int ok, const char *message)
{
    for (;;) {
        service_ref *r = s->refs;
        while (r && !r->ready)
            r = r->next;
        if (!r)
            return;
        service_ready_fn fn = r->ready;
        r->ready = NULL;
        int last = s->refs == r && !r->next;
        fn(r->ud, ok, message);
        if (last)
            return; /* s may be gone */
    }
}

/* The service will not answer: it is no longer the one new clients get. */
static void service_fail(service *s, const char *message)
{
    s->state = SERVICE_DOWN;
    if (service_current == s)
        service_current = NULL;
    uv_timer_stop(s->timer);
    log_debug("podman system service on unix://%s: %s", s->sd.sock, message);
    service_report(s, 0, message);
}

/* ---- the child ---- */

static void service_on_output(void *ud, int fd, const char *p, size_t n)
{
    service *s = ud;
    if (fd == 2 && n > 0)
        said_keep(&s->said, p, n);
}

static void service_on_done(void *ud, const child_status *st)
{
    service *s = ud;
    char said[SERVICE_SAID], msg[SERVICE_SAID + 256];
    said_text(&s->said, NULL, said, sizeof said);
    if (st->term_signal)
        snprintf(msg, sizeof msg, "podman system service (pid %d) was killed by signal %d%s%s", s->pid,
                 st->term_signal, said[0] ? ": " : "", said);
    else
        snprintf(msg, sizeof msg, "podman system service (pid %d) exited with status %lld%s%s%s", s->pid,
                 (long long)st->exit_status, s->state == SERVICE_STARTING ? " before it answered" : "",
                 said[0] ? ": " : " (it printed nothing)", said);
    if (s->state != SERVICE_DOWN)
        service_fail(s, msg);
}

/* Whether something accepts connections on the socket. A connect on a
 * unix socket completes or fails at once: this does not block. */
static void service_on_timer(uv_timer_t *t)
{
    service *s = t->data;
    uint64_t now = uv_now(loop_get());
    if (s->state == SERVICE_UP) {
        service_report(s, 1, NULL); /* references taken while it was up */
        return;
    }
    if (sockdir_accepts(s->sd.sock)) {
        s->state = SERVICE_UP;
        log_debug("podman system service (pid %d) answers on unix://%s after %llu ms", s->pid, s->sd.sock,
                  (unsigned long long)(now - s->started));
        service_report(s, 1, NULL);
        return;
    }
    if (now >= s->deadline) {
        char said[SERVICE_SAID], msg[SERVICE_SAID + 256];
        said_text(&s->said, NULL, said, sizeof said);
        snprintf(msg, sizeof msg, "podman system service (pid %d) did not answer on unix://%s within %.1f s%s%s",
                 s->pid, s->sd.sock, (double)s->timeout_ms / 1000.0, said[0] ? ": " : "", said);
        return service_fail(s, msg);
    }
    s->poll_ms = s->poll_ms * 2 > SERVICE_POLL_MAX_MS ? SERVICE_POLL_MAX_MS : s->poll_ms * 2;
    uv_timer_start(s->timer, service_on_timer, s->poll_ms, 0);
}

/* podman [extra global flags] system service --time=0 unix://SOCK, under
 * setpriv when available, outside any CONTAINER_HOST (which would make
 * podman a remote client). */
static int service_spawn(service *s, const char *podman, char *err, size_t errlen)
{
    static const char *const unset[] = {"CONTAINER_HOST", "CONTAINER_CONNECTION", NULL};
    char **extra = child_words(getenv("MOONPOD_PODMAN_ARGS"), SERVICE_MAX_EXTRA_ARGS);
    const char *argv[SERVICE_MAX_EXTRA_ARGS + 8];
    char url[sizeof s->sd.sock + 8];
    size_t n = 0;
    if (!extra) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(url, sizeof url, "unix://%s", s->sd.sock);
    argv[n++] = podman;
    for (size_t i = 0; extra[i]; i++)
        argv[n++] = extra[i];
    argv[n++] = "system";
    argv[n++] = "service";
    argv[n++] = "--time=0";
    argv[n++] = url;
    argv[n] = NULL;
    child_opts o = {
        .argv = argv,
        .env_edit = unset,
        .max_output = 0,
        .on_output = service_on_output,
        .on_done = service_on_done,
        .ud = s,
        .eof_grace_ms = SERVICE_EOF_GRACE_MS,
        .term_grace_ms = SERVICE_TERM_GRACE_MS,
        .pdeathsig = 1,
        .detached = 1,
        .weak = 1,
        .kill_at_exit = 1,
    };
    int uv_err;
    char why[256];
    s->child = child_spawn(&o, &uv_err, why, sizeof why);
    child_words_free(extra);
    if (!s->child) {
        snprintf(err, errlen, "podman system service: %s", why);
        return -1;
    }
    s->pid = child_pid(s->child);
    return 0;
}

static void service_unlink(service *s)
{
    for (service **p = &service_all; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            return;
        }
    }
}

static void service_stop(service *s)
{
    if (service_current == s)
        service_current = NULL;
    if (s->child)
        log_debug("stopping the podman system service (pid %d) on unix://%s", s->pid, s->sd.sock);
    child_release(s->child); /* SIGTERM, SIGKILL after the grace; reaped */
    s->child = NULL;
    if (s->timer) {
        uv_timer_stop(s->timer);
        loop_close_free((uv_handle_t *)s->timer);
    }
    service_remove_dir(s);
    service_unlink(s);
    free(s);
}

static service *service_start(const char *podman, long timeout_ms, char *err, size_t errlen)
{
    static int registered;
    service *s = calloc(1, sizeof *s);
    uv_timer_t *timer = malloc(sizeof *timer);
    if (!s || !timer) {
        free(s);
        free(timer);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!registered)
        registered = atexit(service_atexit) == 0;
    s->next = service_all;
    service_all = s;
    /* while it polls, the timer keeps the loop up for the connect waiting on it */
    uv_timer_init(loop_get(), timer);
    timer->data = s;
    s->timer = timer;
    if (service_make_dir(s, err, errlen) != 0 || service_spawn(s, podman, err, errlen) != 0) {
        service_stop(s);
        return NULL;
    }
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    s->started = uv_now(loop_get());
    s->deadline = s->started + (uint64_t)s->timeout_ms;
    s->poll_ms = SERVICE_POLL_FIRST_MS;
    uv_timer_start(s->timer, service_on_timer, s->poll_ms, 0);
    log_debug("started podman system service (pid %d) on unix://%s", s->pid, s->sd.sock);
    return s;
}

/* ---- references ---- */

service_ref *service_acquire(const char *podman, long timeout_ms, service_ready_fn ready, void *ud, char *err,
                             size_t errlen)
{
    service_ref *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    service *s = service_current;
    if (!s && !(s = service_current = service_start(podman, timeout_ms, err, errlen))) {
        free(r);
        return NULL;
    }
    r->s = s;
    r->ready = ready;
    r->ud = ud;
    r->next = s->refs;
    s->refs = r;
    if (s->state == SERVICE_UP) {
        log_debug("reusing the podman system service (pid %d) on unix://%s", s->pid, s->sd.sock);
        uv_timer_start(s->timer, service_on_timer, 0, 0); /* reported from the loop, not from here */
    }
    return r;
}

const char *service_socket(const service_ref *r)
{
    return r->s->sd.sock;
}

int service_pid(const service_ref *r)
{
    return r->s->pid;
}

void service_release(service_ref *r)
{
    if (!r)
        return;
    service *s = r->s;
    for (service_ref **p = &s->refs; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    free(r);
    if (!s->refs)
        service_stop(s);
}
