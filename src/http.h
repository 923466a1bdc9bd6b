/* http — libcurl's multi interface driven by the libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION → uv_poll_t)
 * and when to wake it (CURLMOPT_TIMERFUNCTION → uv_timer_t); we never call a
 * blocking curl function. A request either completes with a buffered body
 * (bounded) or streams its body to a callback; either way `on_done` is
 * called exactly once, from a loop callback and never from inside curl,
 * unless the request was cancelled first. Connections are pooled by curl's
 * multi handle and reused across requests. */
#ifndef MOONPOD_HTTP_H
#define MOONPOD_HTTP_H

#include <stddef.h>
#include <curl/curl.h>

typedef struct http_req http_req;

typedef struct http_result {
    CURLcode code;            /* CURLE_OK, or why the transfer failed */
    long status;              /* HTTP status, 0 when no response came */
    int os_errno;             /* errno of a failed connect, else 0 */
    int too_large;            /* the body exceeded max_body and was cut */
    const char *error;        /* curl's explanation, "" when none */
    const char *content_type; /* or NULL */
    const char *body;         /* buffered body ("" for streams), NUL-terminated */
    size_t body_len;
    CURL *easy;               /* private: for http_header */
} http_result;

/* A response header's value (the last one of that name), or NULL. Only
 * valid during the on_done callback. */
const char *http_header(const http_result *res, const char *name);

/* Calls fn(name, value, ud) for each header of the response, in order,
 * until fn returns non-zero. Only during the on_done callback. */
typedef int (*http_header_fn)(const char *name, const char *value, void *ud);
void http_header_each(const http_result *res, http_header_fn fn, void *ud);

typedef void (*http_done_fn)(const http_result *res, void *ud);
/* Streamed body bytes. Called from inside curl: it must not call into curl
 * or Lua. Returns HTTP_DATA_OK when it took all n bytes, HTTP_DATA_PAUSE
 * when it took none and the transfer should wait for http_resume (the same
 * bytes come again then), HTTP_DATA_ABORT to end the transfer. */
typedef int (*http_data_fn)(const char *p, size_t n, void *ud);
enum { HTTP_DATA_OK = 0, HTTP_DATA_PAUSE = 1, HTTP_DATA_ABORT = -1 };

typedef struct http_opts {
    const char *method;       /* "GET", "POST", "DELETE", ... */
    const char *url;          /* for unix sockets the host part is ignored */
    const char *unix_socket;  /* or NULL for TCP */
    const char *body;         /* copied; NULL for none */
    size_t body_len;
    const char *content_type; /* for the body; default application/json */
    const struct curl_slist *extra_headers; /* "Name: value" lines, copied; or NULL */
    long connect_timeout_ms;  /* 0: curl's default */
    long timeout_ms;          /* whole transfer; 0: none (streams) */
    size_t max_body;          /* bound on a buffered body; 0: HTTP_DEFAULT_MAX_BODY */
    http_data_fn on_data;     /* NULL: buffer the body */
    http_done_fn on_done;
    void *ud;
    /* https:// (all optional; the server is verified unless tls_insecure) */
    const char *tls_ca;       /* PEM CA bundle to verify the server with; NULL: the system's */
    const char *tls_cert;     /* client certificate (PEM), or NULL */
    const char *tls_key;      /* its private key (PEM), or NULL */
    int tls_insecure;         /* skip verifying the server's certificate and name */
    const char *username;     /* HTTP basic auth, or NULL */
    const char *password;
} http_opts;

#define HTTP_DEFAULT_MAX_BODY ((size_t)64 << 20)

/* Starts a request. Returns NULL with a message in err when it can't even
 * start (out of memory, bad option). */
http_req *http_start(const http_opts *o, char *err, size_t errlen);

/* Abandons a request that has not completed: on_done is not called, the
 * connection is closed or returned to the pool. Must not be called from an
 * on_data callback (return non-zero there instead). */
void http_cancel(http_req *r);

/* HTTP status of a request in progress (0 before the headers arrived). */
long http_status(http_req *r);

/* Lets a paused transfer go on. Not from inside a curl callback; on_data
 * may be called again before this returns. */
void http_resume(http_req *r);

/* Requests in flight. */
int http_active(void);

/* Cancels everything and releases curl (process exit). */
void http_shutdown(void);

#endif
