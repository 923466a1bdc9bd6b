/*
 * fake-engine - a fault-injecting fake container engine on a unix socket.
 *
 * For faults a real Podman or Docker can't be made to produce on demand:
 * dropped connections, garbage and truncated bodies, stalls, arbitrary chunk
 * boundaries, endless streams. See tests/fake/README.md.
 *
 *   fake-engine SOCKET_PATH [--route PREFIX=BEHAVIOUR]... [--ready-file PATH]
 *               [--seed N] [--no-api-headers] [--api-version X.Y]
 *               [--min-api-version X.Y]
 *
 * --no-api-headers leaves out the Api-Version header, as a proxy that
 * strips headers would, so that clients must ask /version.
 * --api-version and --min-api-version set what the engine claims to speak
 * (1.41 and 1.12 by default, Docker 20.10's): for negotiation with engines
 * newer than any at hand.
 * --tcp-no-accept FILE also listens on a TCP port of 127.0.0.1 (written to
 * FILE) that never accepts: once its one-connection backlog is taken, a
 * client's connect hangs — for connect timeouts.
 *
 * One libuv loop, HTTP/1.1 with keep-alive and pipelining, every buffer
 * bounded: a request head larger than FE_IN_MAX gets 431, a target larger
 * than FE_TARGET_MAX gets 414, streamed responses keep one batch in flight.
 */
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FE_PROG          "fake-engine"
#define FE_IN_MAX        16384u          /* unparsed input: request line + headers */
#define FE_READ_MAX      65536u          /* one read from the socket */
#define FE_TARGET_MAX    4096u
#define FE_METHOD_MAX    16u
#define FE_MAX_HEADERS   100
#define FE_MAX_ROUTES    64
#define FE_MAX_CONNS     256
#define FE_FILE_MAX      (128u << 20)
#define FE_BATCH         16384u          /* payload bytes per streamed write */
#define FE_CHUNK_MAX     64u             /* largest random chunk */
#define FE_CHUNK_LINE    64u             /* longest chunk-size line accepted */
#define FE_TRAILER_MAX   100             /* trailer lines accepted */
#define FE_LOG_TARGET    160u
#define FE_API_VERSION   "1.41"
#define FE_MIN_API       "1.12"
#define FE_VERSION_MAX   16u             /* longest --api-version accepted */

#if defined(__GNUC__)
#define FE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FE_PRINTF(f, a)
#endif

enum fe_kind {
    FE_CLOSE,
    FE_GARBAGE,
    FE_TRUNCATE,
    FE_STALL,
    FE_STATUS,
    FE_JSON,
    FE_CHUNKS,
    FE_CHUNKS_CLOSE,
    FE_HUGE,
    FE_REPEAT,
};

struct fe_route {
    char *prefix;
    size_t prefix_len;
    enum fe_kind kind;
    int status;
    char *body;            /* status/json body, or the file for chunks */
    size_t body_len;
    unsigned long repeat;  /* repeat: how many times the file goes out */
    const char *spec;      /* the behaviour as given, for the log */
};

enum fe_state {
    FE_ST_HEAD,            /* reading a request line and headers */
    FE_ST_BODY,            /* skipping a Content-Length body */
    FE_ST_CHUNKED,         /* skipping a chunked body */
    FE_ST_BUSY,            /* answering for good (stall, stream): input dropped */
};

enum fe_chunk_state {
    FE_CH_SIZE,
    FE_CH_DATA,
    FE_CH_DATA_END,
    FE_CH_TRAILER,
};

struct fe_conn {
    uv_pipe_t pipe;
    uv_shutdown_t shutdown_req;
    struct fe_conn *prev;
    struct fe_conn *next;
    unsigned long id;
    int closing;
    int shutting_down;
    enum fe_state state;

    /* the request being read */
    char method[FE_METHOD_MAX];
    char target[FE_TARGET_MAX];
    int keep_alive;
    int chunked;
    uint64_t body_left;
    enum fe_chunk_state ch_state;
    char ch_line[FE_CHUNK_LINE];
    size_t ch_line_len;
    uint64_t ch_left;
    int ch_trailers;

    /* a streamed answer */
    const struct fe_route *stream;
    size_t stream_pos;
    int stream_done;
    int writes_pending;
    uint64_t huge_n;       /* huge: objects sent; repeat: copies of the file sent */

    size_t in_len;
    char in[FE_IN_MAX];
    char rbuf[FE_READ_MAX];
};

struct fe_write {
    uv_write_t req;        /* first: the uv_write_t pointer is the fe_write's */
    struct fe_conn *conn;
    size_t cap;
    char data[];
};

static struct {
    uv_loop_t loop;
    uv_pipe_t server;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    const char *socket_path;
    int bound;
    int stopping;
    struct fe_route routes[FE_MAX_ROUTES];
    int nroutes;
    struct fe_conn *conns;
    int nconns;
    unsigned long next_id;
    uint64_t rng;
    int no_api_headers;
    const char *api_version;      /* reported in Api-Version and /version */
    const char *min_api_version;  /* reported in /version */
    char *version_json;           /* the /version body, built at start-up */
    size_t version_json_len;
    int tcp_fd;               /* the never-accepting listener, or -1 */
} fe;

/* Docker 20.10's /version, with the API versions as given: %s is the API
 * version (twice) and the minimum (twice), in that order. */
static const char fe_version_fmt[] =
    "{\"Platform\":{\"Name\":\"moonpod fake engine\"},"
    "\"Components\":[{\"Name\":\"Engine\",\"Version\":\"20.10.24\","
    "\"Details\":{\"ApiVersion\":\"%s\",\"Arch\":\"amd64\","
    "\"BuildTime\":\"2023-01-01T00:00:00.000000000+00:00\",\"Experimental\":\"false\","
    "\"GitCommit\":\"fake\",\"GoVersion\":\"go1.19.8\",\"KernelVersion\":\"6.1.0\","
    "\"MinAPIVersion\":\"%s\",\"Os\":\"linux\"}}],"
    "\"Version\":\"20.10.24\",\"ApiVersion\":\"%s\","
    "\"MinAPIVersion\":\"%s\",\"GitCommit\":\"fake\",\"GoVersion\":\"go1.19.8\","
    "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1.0\","
    "\"BuildTime\":\"2023-01-01T00:00:00.000000000+00:00\"}";

static const char fe_not_found_json[] = "{\"message\":\"page not found\"}";

/* Valid JSON up to the point where it isn't, plus a byte that is not UTF-8. */
static const char fe_garbage_body[] =
    "{\"Id\":\"4f1c\",\"Names\":[\"/web\"],\"State\":runn\xff<<<not json>>> ]}}";

/* Exactly 20 bytes of a JSON document that was to be 1000 long. */
static const char fe_truncate_body[] = "{\"Id\":\"0123456789abc";

static void fe_conn_close(struct fe_conn *c);
static void fe_pump(struct fe_conn *c);

/* ------------------------------------------------------------ helpers -- */

static void fe_log(const char *fmt, ...) FE_PRINTF(1, 2);

static void fe_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, FE_PROG ": %s\n", line);
}

/* xorshift64*: chunk sizes only need to be arbitrary, and --seed repeatable. */
static uint64_t fe_rand(void)
{
    fe.rng ^= fe.rng >> 12;
    fe.rng ^= fe.rng << 25;
    fe.rng ^= fe.rng >> 27;
    return fe.rng * UINT64_C(2685821657736338717);
}

static size_t fe_rand_between(size_t lo, size_t hi)
{
    return lo + (size_t)(fe_rand() % (uint64_t)(hi - lo + 1));
}

static int fe_is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int fe_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* Whether the comma-separated list [s, s+len) holds token tok. */
static int fe_has_token(const char *s, size_t len, const char *tok)
{
    size_t i = 0;

    while (i < len) {
        size_t start, end;

        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
            i++;
        start = i;
        while (i < len && s[i] != ',')
            i++;
        end = i;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
        if (end > start && fe_ieq(s + start, end - start, tok))
            return 1;
    }
    return 0;
}

static const char *fe_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* The target with non-printable bytes replaced, cut to fit a log line. */
static void fe_printable(char *out, size_t cap, const char *in)
{
    size_t i;

    for (i = 0; i + 1 < cap && in[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
    }
    out[i] = '\0';
    if (in[i] != '\0' && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

/* ------------------------------------------------------------- writing -- */

static struct fe_write *fe_write_new(struct fe_conn *c, size_t cap)
{
    struct fe_write *w = malloc(sizeof *w + cap);

    if (w == NULL) {
        fe_log("#%lu: out of memory", c->id);
        fe_conn_close(c);
        return NULL;
    }
    w->conn = c;
    w->cap = cap;
    return w;
}

static void fe_on_write(uv_write_t *req, int status)
{
    struct fe_write *w = (struct fe_write *)req;
    struct fe_conn *c = w->conn;

    free(w);
    c->writes_pending--;
    if (status < 0) {
        /* UV_ECANCELED: the connection is already closing. */
        if (status != UV_ECANCELED)
            fe_conn_close(c);
        return;
    }
    if (c->stream != NULL)
        fe_pump(c);
}

/* Sends len bytes of w and takes ownership of w. */
static int fe_write_submit(struct fe_conn *c, struct fe_write *w, size_t len)
{
    uv_buf_t buf;
    int rc;

    if (c->closing || len > UINT_MAX) {
        free(w);
        return -1;
    }
    buf = uv_buf_init(w->data, (unsigned int)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, fe_on_write);
    if (rc != 0) {
        free(w);
        fe_conn_close(c);
        return -1;
    }
    c->writes_pending++;
    return 0;
}

/* The status line and headers; body_len < 0 means chunked. */
static int fe_format_head(char *out, size_t cap, int status, const char *ctype,
                          long long body_len, int closing)
{
    char length[64], api[32 + FE_VERSION_MAX];
    int n;

    api[0] = '\0';
    if (!fe.no_api_headers)
        snprintf(api, sizeof api, "Api-Version: %s\r\n", fe.api_version);
    if (body_len < 0)
        snprintf(length, sizeof length, "Transfer-Encoding: chunked\r\n");
    else
        snprintf(length, sizeof length, "Content-Length: %lld\r\n", body_len);
    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\n"
                 "%s"
                 "Server: moonpod-fake-engine\r\n"
                 "Content-Type: %s\r\n"
                 "%s"
                 "%s"
                 "\r\n",
                 status, fe_reason(status),
                 api, ctype, length,
                 closing ? "Connection: close\r\n" : "");
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

/* Half-closes after what is queued has been written, then closes. */
static void fe_on_shutdown(uv_shutdown_t *req, int status)
{
    fe_conn_close(req->handle->data);
}

static void fe_conn_finish(struct fe_conn *c)
{
    if (c->closing || c->shutting_down)
        return;
    c->shutting_down = 1;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->pipe, fe_on_shutdown) != 0)
        fe_conn_close(c);
}

/*
 * A complete answer. body_len is what Content-Length says; send_len is what
 * is actually sent (less for truncate). HEAD requests get no body.
 */
static void fe_respond(struct fe_conn *c, int status, const char *ctype,
                       const char *body, size_t body_len, size_t send_len, int close_after)
{
    char head[512];
    struct fe_write *w;
    int head_len;
    int closing = close_after || !c->keep_alive;

    if (strcmp(c->method, "HEAD") == 0)
        send_len = 0;
    head_len = fe_format_head(head, sizeof head, status, ctype, (long long)body_len, closing);
    if (head_len < 0) {
        fe_conn_close(c);
        return;
    }
    w = fe_write_new(c, (size_t)head_len + send_len);
    if (w == NULL)
        return;
    memcpy(w->data, head, (size_t)head_len);
    if (send_len > 0)
        memcpy(w->data + head_len, body, send_len);
    if (fe_write_submit(c, w, (size_t)head_len + send_len) != 0)
        return;
    if (closing)
        fe_conn_finish(c);
}

static void fe_respond_json(struct fe_conn *c, int status, const char *body, size_t len)
{
    fe_respond(c, status, "application/json", body, len, len, 0);
}

/* A request we can't parse: answer and hang up (the framing is lost). */
static void fe_reject(struct fe_conn *c, int status)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"message\":\"%s\"}", fe_reason(status));

    fe_log("#%lu: rejected: %d %s", c->id, status, fe_reason(status));
    c->keep_alive = 0;
    c->method[0] = '\0';
    fe_respond(c, status, "application/json", body, (size_t)n, (size_t)n, 1);
}

/* ----------------------------------------------------------- streaming -- */

static size_t fe_put_chunk(char *out, const char *data, size_t len)
{
    int n = sprintf(out, "%zx\r\n", len);

    memcpy(out + n, data, len);
    memcpy(out + (size_t)n + len, "\r\n", 2);
    return (size_t)n + len + 2;
}

/* Room for the largest chunk: hex size line, payload, CRLF. */
#define FE_CHUNK_ROOM (FE_CHUNK_MAX + 32u)

static void fe_pump_chunks(struct fe_conn *c)
{
    const struct fe_route *r = c->stream;
    struct fe_write *w;
    size_t len = 0;

    if (c->stream_pos >= r->body_len) {
        c->stream_done = 1;
    } else {
        w = fe_write_new(c, FE_BATCH + FE_CHUNK_ROOM);
        if (w == NULL)
            return;
        while (c->stream_pos < r->body_len && len + FE_CHUNK_ROOM <= w->cap) {
            size_t n = fe_rand_between(1, FE_CHUNK_MAX);
            if (n > r->body_len - c->stream_pos)
                n = r->body_len - c->stream_pos;
            len += fe_put_chunk(w->data + len, r->body + c->stream_pos, n);
            c->stream_pos += n;
        }
        if (fe_write_submit(c, w, len) != 0)
            return;
        if (c->stream_pos >= r->body_len)
            c->stream_done = 1;
    }
    /* chunks stays open and idle; chunks-close hangs up without the final
     * zero-length chunk once the data is out. */
    if (c->stream_done && r->kind == FE_CHUNKS_CLOSE)
        fe_conn_finish(c);
}

static void fe_pump_huge(struct fe_conn *c)
{
    struct fe_write *w = fe_write_new(c, FE_BATCH + 512);
    char obj[384];
    size_t len = 0;

    if (w == NULL)
        return;
    if (c->huge_n == 0)
        len += fe_put_chunk(w->data + len, "[", 1);
    while (len + sizeof obj + 32 <= w->cap) {
        size_t junk = fe_rand_between(0, 200);
        int n = snprintf(obj, sizeof obj, "{\"n\":%llu,\"junk\":\"",
                         (unsigned long long)c->huge_n);
        size_t i;

        for (i = 0; i < junk; i++)
            obj[(size_t)n + i] = (char)('a' + fe_rand() % 26);
        memcpy(obj + (size_t)n + junk, "\"},", 3);
        len += fe_put_chunk(w->data + len, obj, (size_t)n + junk + 3);
        c->huge_n++;
    }
    fe_write_submit(c, w, len);
}

/* repeat: the file N times over, in large chunks, as fast as the client
 * reads; then the stream stays open and idle (for throughput benches). */
#define FE_REPEAT_BATCH (256u << 10)

static void fe_pump_repeat(struct fe_conn *c)
{
    const struct fe_route *r = c->stream;
    struct fe_write *w;
    size_t len = 0;

    if (c->huge_n >= r->repeat || r->body_len == 0) {
        c->stream_done = 1;
        return;
    }
    w = fe_write_new(c, FE_REPEAT_BATCH + 64);
    if (w == NULL)
        return;
    while (c->huge_n < r->repeat && len + 64 < w->cap) {
        size_t n = r->body_len - c->stream_pos;
        if (n > w->cap - len - 64)
            n = w->cap - len - 64;
        len += fe_put_chunk(w->data + len, r->body + c->stream_pos, n);
        c->stream_pos += n;
        if (c->stream_pos == r->body_len) {
            c->stream_pos = 0;
            c->huge_n++;
        }
    }
    fe_write_submit(c, w, len);
}

/* One batch in flight at a time: the next goes out from its write callback. */
static void fe_pump(struct fe_conn *c)
{
    if (c->closing || c->shutting_down || c->stream_done || c->writes_pending > 0)
        return;
    if (c->stream->kind == FE_HUGE)
        fe_pump_huge(c);
    else if (c->stream->kind == FE_REPEAT)
        fe_pump_repeat(c);
    else
        fe_pump_chunks(c);
}

static void fe_start_stream(struct fe_conn *c, const struct fe_route *r)
{
    char head[512];
    struct fe_write *w;
    int n = fe_format_head(head, sizeof head, 200, "application/json", -1, 0);

    c->state = FE_ST_BUSY;
    if (n < 0) {
        fe_conn_close(c);
        return;
    }
    w = fe_write_new(c, (size_t)n);
    if (w == NULL)
        return;
    memcpy(w->data, head, (size_t)n);
    if (fe_write_submit(c, w, (size_t)n) != 0)
        return;
    c->stream = r;
    c->stream_pos = 0;
    c->stream_done = 0;
    c->huge_n = 0;
    /* The head is in flight: the write callback sends the first batch. */
}

/* ------------------------------------------------------------ dispatch -- */

/* The path after an optional API version prefix such as /v1.41 or /v4.0.0. */
static const char *fe_skip_version(const char *path)
{
    const char *p = path;

    if (p[0] != '/' || p[1] != 'v' || p[2] < '0' || p[2] > '9')
        return path;
    p += 2;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    return *p == '/' ? p : path;
}

/* Minor of a "1.N" version; -1 for anything else (libpod's /v4.0.0). */
static long fe_docker_minor(const char *v)
{
    char *end;
    long minor;

    if (strncmp(v, "1.", 2) != 0 || v[2] < '0' || v[2] > '9')
        return -1;
    minor = strtol(v + 2, &end, 10);
    return (*end == '\0' || *end == '/') ? minor : -1;
}

/* Docker's answer to a request under a /v1.N prefix outside the versions it
 * speaks: 400 and a message naming the bound. Writes the message to out and
 * returns 1 when the request is refused. */
static int fe_version_refused(const char *path, char *out, size_t cap)
{
    long asked, api = fe_docker_minor(fe.api_version), min = fe_docker_minor(fe.min_api_version);

    if (path[0] != '/' || path[1] != 'v' || (asked = fe_docker_minor(path + 2)) < 0)
        return 0;
    if (min >= 0 && asked < min) {
        snprintf(out, cap, "{\"message\":\"client version 1.%ld is too old. Minimum supported API version is %s, "
                 "please upgrade your client to a newer version\"}", asked, fe.min_api_version);
        return 1;
    }
    if (api >= 0 && asked > api) {
        snprintf(out, cap, "{\"message\":\"client version 1.%ld is too new. Maximum supported API version is %s\"}",
                 asked, fe.api_version);
        return 1;
    }
    return 0;
}

static const struct fe_route *fe_match(const char *path)
{
    int i;

    for (i = 0; i < fe.nroutes; i++) {
        if (strncmp(path, fe.routes[i].prefix, fe.routes[i].prefix_len) == 0)
            return &fe.routes[i];
    }
    return NULL;
}

static void fe_apply(struct fe_conn *c, const struct fe_route *r)
{
    switch (r->kind) {
    case FE_CLOSE:
        fe_conn_close(c);
        break;
    case FE_GARBAGE:
        fe_respond_json(c, 200, fe_garbage_body, sizeof fe_garbage_body - 1);
        break;
    case FE_TRUNCATE:
        fe_respond(c, 200, "application/json", fe_truncate_body, 1000,
                   sizeof fe_truncate_body - 1, 1);
        break;
    case FE_STALL:
        /* Keep reading so a client that gives up is noticed and freed. */
        c->state = FE_ST_BUSY;
        break;
    case FE_STATUS:
        fe_respond_json(c, r->status, r->body, r->body_len);
        break;
    case FE_JSON:
        fe_respond_json(c, 200, r->body, r->body_len);
        break;
    case FE_CHUNKS:
    case FE_CHUNKS_CLOSE:
    case FE_HUGE:
    case FE_REPEAT:
        fe_start_stream(c, r);
        break;
    }
}

static void fe_dispatch(struct fe_conn *c)
{
    char shown[FE_LOG_TARGET];
    char path[FE_TARGET_MAX];
    char refusal[256];
    const struct fe_route *r;
    const char *p;
    size_t plen = strcspn(c->target, "?");
    int get = strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0;

    memcpy(path, c->target, plen);
    path[plen] = '\0';
    fe_printable(shown, sizeof shown, c->target);
    c->state = FE_ST_HEAD;

    if (fe_version_refused(path, refusal, sizeof refusal)) {
        fe_log("#%lu %s %s -> 400 (API version)", c->id, c->method, shown);
        fe_respond_json(c, 400, refusal, strlen(refusal));
        return;
    }
    r = fe_match(path);
    if (r != NULL) {
        fe_log("#%lu %s %s -> %s", c->id, c->method, shown, r->spec);
        fe_apply(c, r);
        return;
    }
    p = fe_skip_version(path);
    if (get && (strcmp(p, "/_ping") == 0 || strcmp(p, "/libpod/_ping") == 0)) {
        fe_log("#%lu %s %s -> ping", c->id, c->method, shown);
        fe_respond(c, 200, "text/plain; charset=utf-8", "OK", 2, 2, 0);
    } else if (get && strcmp(p, "/version") == 0) {
        fe_log("#%lu %s %s -> version", c->id, c->method, shown);
        fe_respond_json(c, 200, fe.version_json, fe.version_json_len);
    } else {
        fe_log("#%lu %s %s -> 404", c->id, c->method, shown);
        fe_respond_json(c, 404, fe_not_found_json, sizeof fe_not_found_json - 1);
    }
}

/* ------------------------------------------------------------- parsing -- */

/* Offset just past the empty line that ends the head, or 0 if not there yet. */
static size_t fe_head_end(const char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Strict decimal, no sign, no overflow past 2^62. */
static int fe_parse_length(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 18)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int fe_parse_request_line(struct fe_conn *c, const char *line, size_t len)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *target, *sp2, *version;
    size_t mlen, tlen, vlen, i;

    if (sp1 == NULL)
        return 400;
    mlen = (size_t)(sp1 - line);
    if (mlen == 0 || mlen >= sizeof c->method)
        return mlen == 0 ? 400 : 501;
    for (i = 0; i < mlen; i++) {
        if (!fe_is_tchar((unsigned char)line[i]))
            return 400;
    }
    target = sp1 + 1;
    sp2 = memchr(target, ' ', len - mlen - 1);
    if (sp2 == NULL)
        return 400;
    tlen = (size_t)(sp2 - target);
    if (tlen == 0 || target[0] != '/')
        return 400;
    if (tlen >= sizeof c->target)
        return 414;
    for (i = 0; i < tlen; i++) {
        unsigned char ch = (unsigned char)target[i];
        if (ch <= 0x20 || ch == 0x7f)
            return 400;
    }
    version = sp2 + 1;
    vlen = len - (size_t)(version - line);
    if (vlen == 8 && memcmp(version, "HTTP/1.1", 8) == 0)
        c->keep_alive = 1;
    else if (vlen == 8 && memcmp(version, "HTTP/1.0", 8) == 0)
        c->keep_alive = 0;
    else
        return 505;

    memcpy(c->method, line, mlen);
    c->method[mlen] = '\0';
    memcpy(c->target, target, tlen);
    c->target[tlen] = '\0';
    return 0;
}

static int fe_parse_header(struct fe_conn *c, const char *line, size_t len,
                           int *have_length, uint64_t *length)
{
    const char *colon = memchr(line, ':', len);
    const char *value;
    size_t nlen, vlen, i;

    if (line[0] == ' ' || line[0] == '\t')
        return 400;             /* obsolete line folding */
    if (colon == NULL || colon == line)
        return 400;
    nlen = (size_t)(colon - line);
    for (i = 0; i < nlen; i++) {
        if (!fe_is_tchar((unsigned char)line[i]))
            return 400;
    }
    value = colon + 1;
    vlen = len - nlen - 1;
    while (vlen > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        vlen--;
    }
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        vlen--;

    if (fe_ieq(line, nlen, "Content-Length")) {
        uint64_t v;
        if (fe_parse_length(value, vlen, &v) != 0)
            return 400;
        if (*have_length && v != *length)
            return 400;
        *have_length = 1;
        *length = v;
    } else if (fe_ieq(line, nlen, "Transfer-Encoding")) {
        if (!fe_has_token(value, vlen, "chunked"))
            return 501;
        c->chunked = 1;
    } else if (fe_ieq(line, nlen, "Connection")) {
        if (fe_has_token(value, vlen, "close"))
            c->keep_alive = 0;
        else if (fe_has_token(value, vlen, "keep-alive"))
            c->keep_alive = 1;
    }
    return 0;
}

/* Parses the head in buf[0..len); 0 or an HTTP status to reject with. */
static int fe_parse_head(struct fe_conn *c, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    int have_length = 0, nheaders = 0, first = 1, rc;
    uint64_t length = 0;

    c->chunked = 0;
    c->body_left = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t llen;

        if (nl == NULL)
            return 400;
        llen = (size_t)(nl - p);
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        if (llen == 0)
            break;
        if (memchr(p, '\0', llen) != NULL)
            return 400;
        if (first) {
            rc = fe_parse_request_line(c, p, llen);
            first = 0;
        } else if (++nheaders > FE_MAX_HEADERS) {
            rc = 431;
        } else {
            rc = fe_parse_header(c, p, llen, &have_length, &length);
        }
        if (rc != 0)
            return rc;
        p = nl + 1;
    }
    if (first)
        return 400;
    /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3). */
    if (!c->chunked)
        c->body_left = length;
    c->ch_state = FE_CH_SIZE;
    c->ch_line_len = 0;
    c->ch_trailers = 0;
    return 0;
}

/*
 * Skips a chunked request body. Returns 1 when the body is over, 0 when more
 * input is needed, -1 on a framing error; *used is how much was consumed.
 */
static int fe_skip_chunked(struct fe_conn *c, const char *buf, size_t len, size_t *used)
{
    size_t i = 0;

    while (i < len) {
        char ch = buf[i];

        switch (c->ch_state) {
        case FE_CH_SIZE:
            i++;
            if (ch != '\n') {
                if (c->ch_line_len >= sizeof c->ch_line)
                    return -1;
                c->ch_line[c->ch_line_len++] = ch;
                break;
            } else {
                uint64_t size = 0;
                size_t j, digits = 0;

                for (j = 0; j < c->ch_line_len; j++) {
                    char h = c->ch_line[j];
                    int v;
                    if (h >= '0' && h <= '9') v = h - '0';
                    else if (h >= 'a' && h <= 'f') v = h - 'a' + 10;
                    else if (h >= 'A' && h <= 'F') v = h - 'A' + 10;
                    else break;
                    if (++digits > 15)
                        return -1;
                    size = size * 16 + (uint64_t)v;
                }
                if (digits == 0)
                    return -1;
                for (; j < c->ch_line_len; j++) {
                    char t = c->ch_line[j];
                    if (t == ';')
                        break;  /* chunk extensions are ignored */
                    if (t != ' ' && t != '\t' && t != '\r')
                        return -1;
                }
                c->ch_line_len = 0;
                c->ch_left = size;
                c->ch_state = size == 0 ? FE_CH_TRAILER : FE_CH_DATA;
            }
            break;
        case FE_CH_DATA: {
            size_t n = len - i;
            if (n > c->ch_left)
                n = (size_t)c->ch_left;
            i += n;
            c->ch_left -= n;
            if (c->ch_left == 0)
                c->ch_state = FE_CH_DATA_END;
            break;
        }
        case FE_CH_DATA_END:
            i++;
            if (ch == '\r' && c->ch_line_len == 0) {
                c->ch_line_len = 1;
            } else if (ch == '\n') {
                c->ch_line_len = 0;
                c->ch_state = FE_CH_SIZE;
            } else {
                return -1;
            }
            break;
        case FE_CH_TRAILER:
            i++;
            if (ch == '\n') {
                if (c->ch_line_len == 0) {
                    *used = i;
                    return 1;
                }
                if (++c->ch_trailers > FE_TRAILER_MAX)
                    return -1;
                c->ch_line_len = 0;
            } else if (ch != '\r') {
                c->ch_line_len = 1;
            }
            break;
        }
    }
    *used = i;
    return 0;
}

static void fe_consume(struct fe_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Handles every complete request in c->in (requests may be pipelined). */
static void fe_process(struct fe_conn *c)
{
    for (;;) {
        if (c->closing || c->shutting_down)
            return;
        switch (c->state) {
        case FE_ST_HEAD: {
            size_t skip = 0, end;
            int rc;

            /* Empty lines before a request line are allowed (RFC 9112 2.2). */
            while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
                skip++;
            fe_consume(c, skip);
            end = fe_head_end(c->in, c->in_len);
            if (end == 0) {
                if (c->in_len == sizeof c->in)
                    fe_reject(c, 431);
                return;
            }
            rc = fe_parse_head(c, c->in, end);
            fe_consume(c, end);
            if (rc != 0) {
                fe_reject(c, rc);
                return;
            }
            if (c->chunked)
                c->state = FE_ST_CHUNKED;
            else if (c->body_left > 0)
                c->state = FE_ST_BODY;
            else
                fe_dispatch(c);
            break;
        }
        case FE_ST_BODY: {
            size_t n = c->in_len;
            if (n > c->body_left)
                n = (size_t)c->body_left;
            fe_consume(c, n);
            c->body_left -= n;
            if (c->body_left > 0)
                return;
            fe_dispatch(c);
            break;
        }
        case FE_ST_CHUNKED: {
            size_t used = 0;
            int rc = fe_skip_chunked(c, c->in, c->in_len, &used);

            fe_consume(c, used);
            if (rc < 0) {
                fe_reject(c, 400);
                return;
            }
            if (rc == 0)
                return;
            fe_dispatch(c);
            break;
        }
        case FE_ST_BUSY:
            c->in_len = 0;
            return;
        }
    }
}

/* -------------------------------------------------------- connections -- */

static void fe_on_close(uv_handle_t *handle)
{
    struct fe_conn *c = handle->data;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        fe.conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fe.nconns--;
    free(c);
}

static void fe_conn_close(struct fe_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->pipe, fe_on_close);
}

static void fe_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct fe_conn *c = handle->data;

    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void fe_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct fe_conn *c = stream->data;
    const char *data = buf->base;
    size_t len;

    if (nread < 0) {
        /* EOF or error: the client went away (or gave up on a stall). */
        fe_conn_close(c);
        return;
    }
    len = (size_t)nread;
    while (len > 0 && !c->closing && !c->shutting_down) {
        size_t room, n;

        if (c->state == FE_ST_BUSY)
            return;
        room = sizeof c->in - c->in_len;
        n = len < room ? len : room;
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        fe_process(c);
    }
}

static void fe_on_connection(uv_stream_t *server, int status)
{
    struct fe_conn *c;

    if (status < 0) {
        fe_log("accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        fe_log("out of memory");
        return;
    }
    if (uv_pipe_init(&fe.loop, &c->pipe, 0) != 0) {
        free(c);
        return;
    }
    c->pipe.data = c;
    c->id = ++fe.next_id;
    c->state = FE_ST_HEAD;
    c->next = fe.conns;
    if (fe.conns != NULL)
        fe.conns->prev = c;
    fe.conns = c;
    fe.nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        fe_conn_close(c);
        return;
    }
    if (fe.stopping || fe.nconns > FE_MAX_CONNS) {
        fe_log("#%lu: refused (%s)", c->id, fe.stopping ? "stopping" : "too many connections");
        fe_conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->pipe, fe_on_alloc, fe_on_read) != 0)
        fe_conn_close(c);
}

/* ----------------------------------------------------------- lifecycle -- */

static void fe_stop(void)
{
    struct fe_conn *c;

    if (fe.stopping)
        return;
    fe.stopping = 1;
    for (c = fe.conns; c != NULL; c = c->next)
        fe_conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&fe.server))
        uv_close((uv_handle_t *)&fe.server, NULL);
    uv_close((uv_handle_t *)&fe.sigterm, NULL);
    uv_close((uv_handle_t *)&fe.sigint, NULL);
}

static void fe_on_signal(uv_signal_t *handle, int signum)
{
    fe_log("signal %d: shutting down", signum);
    fe_stop();
}

static int fe_load_file(const char *path, char **out, size_t *out_len)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t got = 0;

    if (f == NULL) {
        fe_log("%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > FE_FILE_MAX) {
        fe_log("%s: not a regular file of at most %u bytes", path, FE_FILE_MAX);
        fclose(f);
        return -1;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    while (got < (size_t)st.st_size) {
        size_t n = fread(buf + got, 1, (size_t)st.st_size - got, f);
        if (n == 0)
            break;
        got += n;
    }
    fclose(f);
    *out = buf;
    *out_len = got;
    return 0;
}

static int fe_add_route(const char *arg)
{
    const char *eq = strchr(arg, '=');
    const char *b;
    struct fe_route *r;

    if (fe.nroutes >= FE_MAX_ROUTES) {
        fe_log("at most %d routes", FE_MAX_ROUTES);
        return -1;
    }
    if (eq == NULL || arg[0] != '/') {
        fe_log("bad route '%s': expected /PREFIX=BEHAVIOUR", arg);
        return -1;
    }
    r = &fe.routes[fe.nroutes];
    memset(r, 0, sizeof *r);
    b = eq + 1;
    r->spec = b;
    if (strcmp(b, "close") == 0) {
        r->kind = FE_CLOSE;
    } else if (strcmp(b, "garbage") == 0) {
        r->kind = FE_GARBAGE;
    } else if (strcmp(b, "truncate") == 0) {
        r->kind = FE_TRUNCATE;
    } else if (strcmp(b, "stall") == 0) {
        r->kind = FE_STALL;
    } else if (strcmp(b, "huge") == 0) {
        r->kind = FE_HUGE;
    } else if (strncmp(b, "status:", 7) == 0) {
        const char *code = b + 7;
        if (!(code[0] >= '1' && code[0] <= '5' && code[1] >= '0' && code[1] <= '9' &&
              code[2] >= '0' && code[2] <= '9' && code[3] == ':')) {
            fe_log("bad route '%s': expected status:CODE:BODY with CODE 100..599", arg);
            return -1;
        }
        r->kind = FE_STATUS;
        r->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
        r->body = strdup(code + 4);
    } else if (strncmp(b, "json:", 5) == 0) {
        r->kind = FE_JSON;
        r->body = strdup(b + 5);
    } else if (strncmp(b, "file:", 5) == 0) {
        /* a whole JSON body from a file, with a Content-Length */
        r->kind = FE_JSON;
        if (fe_load_file(b + 5, &r->body, &r->body_len) != 0)
            return -1;
    } else if (strncmp(b, "chunks:", 7) == 0 || strncmp(b, "chunks-close:", 13) == 0) {
        int closing = b[6] == '-';
        r->kind = closing ? FE_CHUNKS_CLOSE : FE_CHUNKS;
        if (fe_load_file(b + (closing ? 13 : 7), &r->body, &r->body_len) != 0)
            return -1;
    } else if (strncmp(b, "repeat:", 7) == 0) {
        char *end;
        r->kind = FE_REPEAT;
        r->repeat = strtoul(b + 7, &end, 10);
        if (end == b + 7 || *end != ':' || r->repeat == 0) {
            fe_log("bad route '%s': expected repeat:N:FILE with N > 0", arg);
            return -1;
        }
        if (fe_load_file(end + 1, &r->body, &r->body_len) != 0)
            return -1;
    } else {
        fe_log("bad route '%s': unknown behaviour", arg);
        return -1;
    }
    if ((r->kind == FE_STATUS || r->kind == FE_JSON) && r->body == NULL) {
        fe_log("out of memory");
        return -1;
    }
    if (r->body != NULL && r->kind != FE_CHUNKS && r->kind != FE_CHUNKS_CLOSE && r->kind != FE_REPEAT &&
        strncmp(b, "file:", 5) != 0)
        r->body_len = strlen(r->body);
    r->prefix_len = (size_t)(eq - arg);
    r->prefix = strndup(arg, r->prefix_len);
    if (r->prefix == NULL) {
        free(r->body);
        return -1;
    }
    fe.nroutes++;
    return 0;
}

static void fe_free_options(void)
{
    int i;

    for (i = 0; i < fe.nroutes; i++) {
        free(fe.routes[i].prefix);
        free(fe.routes[i].body);
    }
    fe.nroutes = 0;
    free(fe.version_json);
    fe.version_json = NULL;
}

/* An API version as the engines write it: digits around one dot. The value
 * goes into a header and a JSON body unescaped, so nothing else passes. */
static int fe_valid_version(const char *v)
{
    size_t digits = strspn(v, "0123456789");

    if (digits == 0 || v[digits] != '.' || strlen(v) > FE_VERSION_MAX)
        return 0;
    v += digits + 1;
    digits = strspn(v, "0123456789");
    return digits > 0 && v[digits] == '\0';
}

static int fe_build_version_json(void)
{
    const char *api = fe.api_version, *min = fe.min_api_version;
    int n = snprintf(NULL, 0, fe_version_fmt, api, min, api, min);

    if (n < 0 || (fe.version_json = malloc((size_t)n + 1)) == NULL)
        return -1;
    snprintf(fe.version_json, (size_t)n + 1, fe_version_fmt, api, min, api, min);
    fe.version_json_len = (size_t)n;
    return 0;
}

static void fe_usage(void)
{
    fprintf(stderr,
            "usage: " FE_PROG " SOCKET_PATH [--route PREFIX=BEHAVIOUR]... "
            "[--ready-file PATH] [--seed N] [--no-api-headers] [--tcp-no-accept FILE]\n"
            "       [--api-version X.Y] [--min-api-version X.Y]\n"
            "behaviours: close garbage truncate stall huge status:CODE:BODY json:BODY file:FILE\n"
            "            chunks:FILE chunks-close:FILE repeat:N:FILE\n");
}

/* Removes a socket file left by an earlier run; anything else is kept. */
static int fe_remove_stale(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        fe_log("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fe_log("%s exists and is not a socket: not removing it", path);
        return -1;
    }
    if (unlink(path) != 0) {
        fe_log("%s: cannot remove stale socket: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int fe_touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char pid[32];
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (write(fd, pid, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int fe_listen_tcp_no_accept(const char *port_file)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    FILE *f;

    fe.tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fe.tcp_fd < 0 || bind(fe.tcp_fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fe.tcp_fd, 0) != 0 ||
        getsockname(fe.tcp_fd, (struct sockaddr *)&sin, &len) != 0) {
        fe_log("tcp listener: %s", strerror(errno));
        return -1;
    }
    f = fopen(port_file, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", ntohs(sin.sin_port));
    return fclose(f);
}

static int fe_listen(const char *ready_file)
{
    struct sockaddr_un sun;
    int rc;

    if (strlen(fe.socket_path) >= sizeof sun.sun_path) {
        fe_log("%s: socket path longer than %zu bytes", fe.socket_path,
               sizeof sun.sun_path - 1);
        return -1;
    }
    if (fe_remove_stale(fe.socket_path) != 0)
        return -1;
    rc = uv_pipe_bind(&fe.server, fe.socket_path);
    if (rc == 0) {
        fe.bound = 1;
        rc = uv_listen((uv_stream_t *)&fe.server, 128, fe_on_connection);
    }
    if (rc != 0) {
        fe_log("%s: %s", fe.socket_path, uv_strerror(rc));
        return -1;
    }
    if (ready_file != NULL && fe_touch(ready_file) != 0) {
        fe_log("%s: %s", ready_file, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *ready_file = NULL, *tcp_port_file = NULL;
    struct sigaction sa;
    int i, rc = 0, seeded = 0;

    fe.tcp_fd = -1;
    fe.api_version = FE_API_VERSION;
    fe.min_api_version = FE_MIN_API;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t name_len;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fe_usage();
            fe_free_options();
            return 0;
        }
        if (a[0] != '-') {
            if (fe.socket_path != NULL)
                goto usage;
            fe.socket_path = a;
            continue;
        }
        if (strcmp(a, "--no-api-headers") == 0) {
            fe.no_api_headers = 1;
            continue;
        }
        /* --name=value or --name value */
        name_len = strcspn(a, "=");
        if (a[name_len] == '=')
            val = a + name_len + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            goto usage;
        if (fe_ieq(a, name_len, "--route")) {
            if (fe_add_route(val) != 0) {
                fe_free_options();
                return 2;
            }
        } else if (fe_ieq(a, name_len, "--ready-file")) {
            ready_file = val;
        } else if (fe_ieq(a, name_len, "--tcp-no-accept")) {
            tcp_port_file = val;
        } else if (fe_ieq(a, name_len, "--api-version") || fe_ieq(a, name_len, "--min-api-version")) {
            if (!fe_valid_version(val)) {
                fe_log("%.*s: '%s' is not a version like 1.41", (int)name_len, a, val);
                fe_free_options();
                return 2;
            }
            if (name_len == strlen("--api-version"))
                fe.api_version = val;
            else
                fe.min_api_version = val;
        } else if (fe_ieq(a, name_len, "--seed")) {
            fe.rng = strtoull(val, NULL, 0);
            seeded = 1;
        } else {
            goto usage;
        }
    }
    if (fe.socket_path == NULL)
        goto usage;
    if (fe_build_version_json() != 0) {
        fe_log("out of memory");
        fe_free_options();
        return 1;
    }
    if (!seeded)
        fe.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (fe.rng == 0)
        fe.rng = UINT64_C(0x9e3779b97f4a7c15);  /* xorshift's one bad state */

    /* A client that hangs up mid-write must cost an EPIPE, not the process. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    if (uv_loop_init(&fe.loop) != 0) {
        fe_log("cannot create the event loop");
        fe_free_options();
        return 1;
    }
    uv_pipe_init(&fe.loop, &fe.server, 0);
    uv_signal_init(&fe.loop, &fe.sigterm);
    uv_signal_init(&fe.loop, &fe.sigint);
    uv_signal_start(&fe.sigterm, fe_on_signal, SIGTERM);
    uv_signal_start(&fe.sigint, fe_on_signal, SIGINT);

    if ((tcp_port_file != NULL && fe_listen_tcp_no_accept(tcp_port_file) != 0) || fe_listen(ready_file) != 0) {
        rc = 1;
        fe_stop();
    } else {
        fe_log("listening on %s (%d route%s)", fe.socket_path, fe.nroutes,
               fe.nroutes == 1 ? "" : "s");
    }
    uv_run(&fe.loop, UV_RUN_DEFAULT);
    if (fe.tcp_fd >= 0)
        close(fe.tcp_fd);
    if (uv_loop_close(&fe.loop) != 0) {
        fe_log("handles still open at exit");
        rc = 1;
    }
    if (fe.bound)
        unlink(fe.socket_path);
    fe_free_options();
    return rc;

usage:
    fe_usage();
    fe_free_options();
    return 2;
}
