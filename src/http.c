/* http — libcurl's multi interface driven by the libuv loop (see http.h).
 *
 * The rules learned from curl's multi-uv example and its bug history:
 * - never call curl_multi_socket_action from inside a curl callback: the
 *   timer callback only arms a uv timer, even for a timeout of 0;
 * - a negative timeout means "no timer": stop it;
 * - on CURL_POLL_REMOVE stop the uv_poll_t at once — libuv allows one poll
 *   handle per fd and curl reuses fd numbers right away. The stopped handle
 *   is kept for the fd, and closed only when curl closes the socket
 *   (CURLOPT_CLOSESOCKETFUNCTION): a pooled connection is removed and added
 *   again for every request, and re-creating its handle each time doubled
 *   the system calls per request;
 * - a poll error is reported to curl as CURL_CSELECT_ERR;
 * - completed transfers are reaped with curl_multi_info_read after
 *   socket_action returns, and only then are callbacks run. */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "loop.h"
#include "version.h"

struct http_req {
    CURL *easy;
    struct curl_slist *headers;
    http_done_fn on_done;
    http_data_fn on_data;
    void *ud;
    char *buf;
    size_t len, cap, max;
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct http_sock http_sock;
struct http_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    http_sock *prev, *next;   /* all open ones, by fd, and for shutdown */
};

static struct {
    CURLM *multi;
    uv_timer_t *timer;
    int active;
    http_sock *socks;
} http;

static void http_check_done(void);

/* ---- loop side ---- */

static void http_on_poll(uv_poll_t *h, int status, int events)
{
    http_sock *s = h->data;
    int flags = 0, running;
    /* on an error let curl read too: a TLS alert may be waiting there */
    if (status < 0)
        flags = CURL_CSELECT_ERR | CURL_CSELECT_IN;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(http.multi, s->fd, flags, &running);
    http_check_done();
}

static void http_on_timer(uv_timer_t *t)
{
    int running;
    (void)t;
    curl_multi_socket_action(http.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    http_check_done();
}

static void http_sock_release(http_sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        http.socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, (uv_close_cb)free);
}

static http_sock *http_sock_find(curl_socket_t fd)
{
    for (http_sock *s = http.socks; s; s = s->next)
        if (s->fd == fd)
            return s;
    return NULL;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the poll handle goes before the socket. */
static int http_closesocket_cb(void *clientp, curl_socket_t fd)
{
    (void)clientp;
    http_sock *s = http_sock_find(fd);
    if (s)
        http_sock_release(s);
    return close(fd);
}

/* CURLOPT_OPENSOCKETFUNCTION: every connection is close-on-exec. A child
 * (moonpod.run, a CLI, the ssh tunnel) that inherited one would keep it
 * open at the engine after moonpod closed it, and with it whatever stream
 * the engine was serving on it. */
static curl_socket_t http_opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)clientp;
    (void)purpose;
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* CURLMOPT_SOCKETFUNCTION */
static int http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    http_sock *s = socketp;
    (void)easy;
    (void)userp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(http.multi, fd, NULL);
        }
        return 0;
    }
    if (!s && (s = http_sock_find(fd)))
        curl_multi_assign(http.multi, fd, s);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        if (uv_poll_init_socket(loop_get(), &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = http.socks;
        if (http.socks)
            http.socks->prev = s;
        http.socks = s;
        curl_multi_assign(http.multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, http_on_poll);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION */
static int http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(http.timer);
    else
        uv_timer_start(http.timer, http_on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static int http_init(char *err, size_t errlen)
{
    if (http.multi)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail;
    http.multi = curl_multi_init();
    http.timer = malloc(sizeof *http.timer);
    if (!http.multi || !http.timer)
        goto fail;
    uv_timer_init(loop_get(), http.timer);
    curl_multi_setopt(http.multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
    curl_multi_setopt(http.multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
    return 0;
fail:
    snprintf(err, errlen, "cannot initialise libcurl");
    if (http.multi)
        curl_multi_cleanup(http.multi);
    free(http.timer);
    http.multi = NULL;
    http.timer = NULL;
    return -1;
}

/* ---- requests ---- */

static void http_req_free(http_req *r)
{
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->buf);
    free(r);
}

static int http_grow(http_req *r, size_t need)
{
    if (need <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > r->max + 1)
        cap = r->max + 1;
    char *nb = realloc(r->buf, cap);
    if (!nb)
        return -1;
    r->buf = nb;
    r->cap = cap;
    return 0;
}

/* CURLOPT_WRITEFUNCTION */
static size_t http_write_cb(char *p, size_t size, size_t n, void *ud)
{
    http_req *r = ud;
    size_t bytes = size * n;
    if (r->on_data) {
        switch (r->on_data(p, bytes, r->ud)) {
        case HTTP_DATA_OK: return bytes;
        case HTTP_DATA_PAUSE: return CURL_WRITEFUNC_PAUSE;
        default: return 0;
        }
    }
    if (r->len + bytes > r->max) {
        r->too_large = 1;
        return 0;
    }
    if (http_grow(r, r->len + bytes + 1) != 0)
        return 0;
    memcpy(r->buf + r->len, p, bytes);
    r->len += bytes;
    r->buf[r->len] = '\0';
    return bytes;
}

static void http_complete(http_req *r, CURLcode code)
{
    http_result res = {0};
    long oserr = 0;
    char *ctype = NULL;
    res.code = code;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ctype);
    res.os_errno = (int)oserr;
    res.too_large = r->too_large;
    res.error = r->errbuf;
    res.content_type = ctype;
    res.body = r->buf ? r->buf : "";
    res.body_len = r->len;
    res.easy = r->easy;
    curl_multi_remove_handle(http.multi, r->easy);
    http.active--;
    r->on_done(&res, r->ud);
    http_req_free(r);
}

const char *http_header(const http_result *res, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(res->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    return h->value;
}

void http_header_each(const http_result *res, http_header_fn fn, void *ud)
{
    struct curl_header *h = NULL;
    /* the last response's headers only (not those of redirects or 100s) */
    while ((h = curl_easy_nextheader(res->easy, CURLH_HEADER, -1, h)) != NULL)
        if (fn(h->name, h->value, ud) != 0)
            return;
}

static void http_check_done(void)
{
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(http.multi, &pending))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        http_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        http_complete(r, msg->data.result);
    }
}

/* What a remote engine needs: TLS material and basic auth. curl keys its
 * connection pool on these too, so a pooled connection is only reused by
 * requests with the same ones. */
static int http_setup_remote(CURL *e, const http_opts *o)
{
    int bad = 0;
    if (o->tls_ca)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, o->tls_ca) != CURLE_OK;
    if (o->tls_cert)
        bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, o->tls_cert) != CURLE_OK;
    if (o->tls_key)
        bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, o->tls_key) != CURLE_OK;
    if (o->tls_insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->username) {
        bad |= curl_easy_setopt(e, CURLOPT_USERNAME, o->username) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, o->password ? o->password : "") != CURLE_OK;
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    return bad;
}

static int http_setup(http_req *r, const http_opts *o)
{
    CURL *e = r->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, o->url) != CURLE_OK;
    if (o->unix_socket)
        bad |= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket) != CURLE_OK;
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_opensocket_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, http_closesocket_cb);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "moonpod/" MOONPOD_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Event streams may be silent for hours: keep TCP connections alive
     * rather than let a middlebox drop them. */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    bad |= http_setup_remote(e, o);

    const char *method = o->method ? o->method : "GET";
    if (o->body || strcmp(method, "POST") == 0) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", o->content_type ? o->content_type : "application/json");
        r->headers = curl_slist_append(r->headers, ct);
        /* No "Expect: 100-continue" round trip before a large body. */
        r->headers = curl_slist_append(r->headers, "Expect:");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
        bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "") != CURLE_OK;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    for (const struct curl_slist *h = o->extra_headers; h; h = h->next) {
        struct curl_slist *l = curl_slist_append(r->headers, h->data);
        bad |= !l;
        if (l)
            r->headers = l;
    }
    if (r->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    return bad ? -1 : 0;
}

http_req *http_start(const http_opts *o, char *err, size_t errlen)
{
    if (http_init(err, errlen) != 0)
        return NULL;
    http_req *r = calloc(1, sizeof *r);
    if (!r || !(r->easy = curl_easy_init())) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->on_done = o->on_done;
    r->on_data = o->on_data;
    r->ud = o->ud;
    r->max = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    if (http_setup(r, o) != 0) {
        snprintf(err, errlen, "cannot set up the request for %s", o->url);
        http_req_free(r);
        return NULL;
    }
    CURLMcode mc = curl_multi_add_handle(http.multi, r->easy);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "cannot start the request: %s", curl_multi_strerror(mc));
        http_req_free(r);
        return NULL;
    }
    http.active++;
    return r;
}

void http_cancel(http_req *r)
{
    if (!r)
        return;
    curl_multi_remove_handle(http.multi, r->easy);
    http.active--;
    http_req_free(r);
}

long http_status(http_req *r)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

void http_resume(http_req *r)
{
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
}

int http_active(void)
{
    return http.active;
}

void http_shutdown(void)
{
    if (!http.multi)
        return;
    /* Requests still in flight belong to operations that were cancelled
     * with their tasks; curl_multi_cleanup closes the pooled connections
     * and, through the socket callback, their poll handles. */
    curl_multi_cleanup(http.multi);
    http.multi = NULL;
    while (http.socks)
        http_sock_release(http.socks);
    loop_close_free((uv_handle_t *)http.timer);
    http.timer = NULL;
    curl_global_cleanup();
}
