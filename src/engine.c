/* engine — one container engine reached over its HTTP API (see engine.h). */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "child.h"
#include "cli_backend.h"
#include "log.h"

/* The Docker API versions this client speaks: it asks for the server's
 * version when that is inside the range, else the highest it knows. */
#define DOCKER_API_MIN_MAJOR 1
#define DOCKER_API_MIN_MINOR 24
#define DOCKER_API_MAX_MINOR 47
/* libpod's API versions follow Podman's; 3.x is the oldest moonpod speaks. */
#define LIBPOD_API_MIN_MAJOR 3

/* What an error answer to a stream may say, kept for its message. */
#define ENGINE_MAX_ERROR_BODY 65536

struct engine_op {
    engine *e;
    http_req *req;
    cli_op *cli;            /* transport "cli": the CLI carrying the request out */
    engine_reply *reply;
    engine_done_fn done;
    void *ud;
    int flags;
    /* streams only */
    http_data_fn on_data;
    void *data_ud;
    long status;
    buf error_body;
    /* connect only */
    endpoint_list cands;
    size_t next;
    char *want_version;
    buf tried;
    engine_errkind last_kind;
    char last_msg[512];
    long last_status;       /* e.g. 401: the status survives into the error */
    /* connect, when no candidate answers (auto-detection only) */
    int fallback;           /* auto-detecting: the fallbacks may be tried */
    int start_service, use_cli, fallback_to_docker;
    int phase;              /* ENGINE_PHASE_ */
    int cli_next;           /* the next CLI to try: 0 podman, 1 docker */
    buf notes;              /* fallbacks not tried, and why */
};

enum { ENGINE_PHASE_API, ENGINE_PHASE_SERVICE, ENGINE_PHASE_CLI, ENGINE_PHASE_DONE };

const char *engine_errkind_name(engine_errkind k)
{
    static const char *const names[] = {
        "none", "api", "not_found", "conflict", "connection", "timeout", "unsupported", "protocol", "usage",
    };
    return names[k];
}

const char *engine_runtime_name(engine_runtime r)
{
    return r == RUNTIME_PODMAN ? "podman" : "docker";
}

void engine_reply_clear(engine_reply *r)
{
    cJSON_Delete(r->json);
    free(r->text);
    memset(r, 0, sizeof *r);
}

void engine_config_defaults(engine_config *c)
{
    memset(c, 0, sizeof *c);
    c->auto_detect = 1;
    c->fallback_to_docker = 1;
    c->use_cli_fallback = 1;
    c->start_service = 1;
    c->connect_timeout = 10.0;
    c->request_timeout = 30.0;
    c->tls_verify = -1;
}

void engine_config_clear(engine_config *c)
{
    free(c->socket_path);
    free(c->remote_url);
    free(c->api_version);
    free(c->username);
    free(c->password);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->identity_file);
    for (size_t i = 0; c->ssh_options && c->ssh_options[i]; i++)
        free(c->ssh_options[i]);
    free(c->ssh_options);
    memset(c, 0, sizeof *c);
}

/* Kills the ssh child of an ssh:// engine, if any; the connect that waited
 * for it (if any) is no longer told about it. */
static void engine_stop_tunnel(engine *e)
{
    tunnel_stop(e->tunnel);
    e->tunnel = NULL;
    e->tunnel_wait = NULL;
}

/* Drops this engine's reference on the transient Podman service (the last
 * one stops it); the connect that waited for it is no longer told. */
static void engine_release_service(engine *e)
{
    service_release(e->service);
    e->service = NULL;
    e->service_wait = NULL;
}

/* Everything a candidate brought besides its address. */
static void engine_drop_transport(engine *e)
{
    engine_stop_tunnel(e);
    engine_release_service(e);
    cli_backend_free(e->cli);
    e->cli = NULL;
}

void engine_disconnect(engine *e)
{
    engine_stop_tunnel(e);
    engine_release_service(e);
}

void engine_clear(engine *e)
{
    engine_drop_transport(e);
    endpoint_clear(&e->ep);
    memset(e, 0, sizeof *e);
}

static void engine_op_free(engine_op *op)
{
    buf_free(&op->error_body);
    endpoint_list_free(&op->cands);
    free(op->want_version);
    buf_free(&op->tried);
    buf_free(&op->notes);
    free(op);
}

static void engine_fail(engine_reply *r, engine_errkind kind, long status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void engine_fail(engine_reply *r, engine_errkind kind, long status, const char *fmt, ...)
{
    va_list ap;
    r->kind = kind;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static const char *engine_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- mapping what came back ---- */

/* A short, printable excerpt of a body for error messages. */
static void engine_excerpt(const char *body, size_t len, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 5 < outlen; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c >= 32 && c < 127) {
            out[j++] = (char)c;
        } else {
            j += (size_t)snprintf(out + j, outlen - j, "\\x%02x", c);
        }
    }
    if (len > 0 && j + 4 < outlen && j < len)
        memcpy(out + j, "...", 4), j += 3;
    out[j < outlen ? j : outlen - 1] = '\0';
}

/* A 401 comes from whatever checks the credentials (a proxy in front of the
 * engine, usually, with an HTML body): say what it means. */
static void engine_map_auth(const engine *e, const http_result *res, engine_reply *r)
{
    const char *who = e->ep.display ? e->ep.display : "the engine";
    if (e->ep.username)
        engine_fail(r, ERR_API, 401, "authentication failed at %s: the username and password given for '%s' "
                    "were refused (HTTP 401)", who, e->ep.username);
    else
        engine_fail(r, ERR_API, 401, "authentication failed at %s: it wants a username and password "
                    "(HTTP 401); set username and password in the config", who);
    r->json = cJSON_ParseWithLength(res->body, res->body_len);
}

/* Over ssh://, a connection that fails is usually the tunnel's doing:
 * ssh's own words say why. Returns 1 when it filled the reply. */
static int engine_map_ssh(const engine *e, const http_result *res, engine_reply *r)
{
    const char *who = e->ep.display;
    int broken = res->code == CURLE_COULDNT_CONNECT || res->code == CURLE_GOT_NOTHING ||
                 res->code == CURLE_RECV_ERROR || res->code == CURLE_SEND_ERROR;
    if (e->ep.transport != TRANSPORT_SSH || !broken)
        return 0;
    if (!e->tunnel) {
        engine_fail(r, ERR_CONNECTION, 0, "the ssh tunnel to %s is closed", who);
        return 1;
    }
    const char *down = tunnel_failure(e->tunnel);
    const char *said = tunnel_last_message(e->tunnel);
    if (down)
        engine_fail(r, ERR_CONNECTION, 0, "the ssh tunnel to %s is down: %s", who, down);
    else if (said[0])
        engine_fail(r, ERR_CONNECTION, 0, "%s closed the connection without answering (ssh says: %s%s)", who, said,
                    strstr(said, "open failed") ? "; is the engine's socket at that path on the remote host?" : "");
    return down || said[0];
}

/* TLS failures told apart: the user must know whether the server's
 * certificate, their CA file or their own certificate is at fault.
 * Returns 1 when it filled the reply. */
static int engine_map_tls(const engine *e, const http_result *res, engine_reply *r)
{
    const char *who = e->ep.display;
    const char *why = *res->error ? res->error : curl_easy_strerror(res->code);
    const endpoint_tls *tls = &e->ep.tls;
    const char *no_cert = tls->cert ? "" : " (the server may want a client certificate: set tls_cert and tls_key)";
    if (e->ep.transport != TRANSPORT_TLS)
        return 0;
    switch (res->code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        engine_fail(r, ERR_CONNECTION, 0, "TLS certificate verification failed for %s: %s (the server's "
                    "certificate does not check out against %s; tls_verify = false skips the check, insecurely)",
                    who, why, tls->ca ? tls->ca : "the system's CAs (set tls_ca or DOCKER_CERT_PATH)");
        return 1;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
        engine_fail(r, ERR_CONNECTION, 0, "TLS: cannot use the CA file %s for %s: %s", tls->ca ? tls->ca : "(default)",
                    who, why);
        return 1;
    case CURLE_SSL_CERTPROBLEM:
        engine_fail(r, ERR_CONNECTION, 0, "TLS: cannot use the client certificate %s with key %s for %s: %s",
                    tls->cert ? tls->cert : "(none)", tls->key ? tls->key : "(none)", who, why);
        return 1;
    case CURLE_SSL_CONNECT_ERROR:
        engine_fail(r, ERR_CONNECTION, 0, "TLS handshake with %s failed: %s%s", who, why,
                    strstr(why, "wrong version number") ? " (is that a TLS port?)" : no_cert);
        return 1;
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        engine_fail(r, ERR_CONNECTION, 0, "TLS error with %s: %s", who, why);
        return 1;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        /* TLS 1.3 servers judge the client's certificate after the
         * handshake: the refusal arrives as an alert on the first read,
         * or, when the reset comes with it, as a bare poll error */
        if (strstr(why, "alert"))
            engine_fail(r, ERR_CONNECTION, 0, "the TLS server %s refused the connection: %s%s", who, why, no_cert);
        else
            engine_fail(r, ERR_CONNECTION, 0, "the TLS connection to %s broke before the response was complete (%s)%s",
                        who, why, no_cert);
        return 1;
    default:
        return 0;
    }
}

static void engine_map_transport(const engine *e, const http_result *res, int flags, engine_reply *r)
{
    const char *who = e->ep.display ? e->ep.display : "the engine";
    if (res->code == CURLE_OK && res->status == 401)
        return engine_map_auth(e, res, r);
    if (engine_map_ssh(e, res, r) || engine_map_tls(e, res, r))
        return;
    switch (res->code) {
    case CURLE_COULDNT_CONNECT:
        if (res->os_errno == ENOENT)
            engine_fail(r, ERR_CONNECTION, 0, "cannot connect to %s: no such socket (is the engine running?)", who);
        else if (res->os_errno == ECONNREFUSED)
            engine_fail(r, ERR_CONNECTION, 0, "cannot connect to %s: connection refused (is the engine running?)", who);
        else if (res->os_errno == EACCES)
            engine_fail(r, ERR_CONNECTION, 0, "cannot connect to %s: permission denied", who);
        else
            engine_fail(r, ERR_CONNECTION, 0, "cannot connect to %s: %s", who,
                        res->os_errno ? strerror(res->os_errno) : res->error);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        engine_fail(r, ERR_CONNECTION, 0, "cannot resolve the host of %s: %s", who, res->error);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        engine_fail(r, ERR_TIMEOUT, 0, "%s did not answer in time (%s)", who, res->error);
        break;
    case CURLE_GOT_NOTHING:
        engine_fail(r, ERR_CONNECTION, 0, "%s closed the connection without answering", who);
        break;
    case CURLE_PARTIAL_FILE:
        /* An answer shorter than it said it would be is a malformed
         * answer. A stream's end is judged by what its decoders hold
         * (stream.c): a break between two values is the connection's. */
        if (!(flags & ENGINE_STREAM)) {
            engine_fail(r, ERR_PROTOCOL, res->status, "the response from %s was truncated (%s)", who, res->error);
            break;
        }
        /* fall through */
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        engine_fail(r, ERR_CONNECTION, res->status, "the connection to %s broke before the response was complete (%s)",
                    who, res->error);
        break;
    case CURLE_WRITE_ERROR:
        if (res->too_large) {
            engine_fail(r, ERR_PROTOCOL, res->status, "%s sent a response larger than the %zu MiB moonpod accepts",
                        who, HTTP_DEFAULT_MAX_BODY >> 20);
            break;
        }
        /* fall through */
    default:
        engine_fail(r, ERR_PROTOCOL, res->status, "bad response from %s: %s", who,
                    *res->error ? res->error : curl_easy_strerror(res->code));
    }
}

/* The engine's own explanation in an error body: Docker {"message": ...},
 * Podman {"cause": ..., "message": ..., "response": N}. */
static void engine_map_status(const engine *e, const http_result *res, engine_reply *r)
{
    cJSON *body = cJSON_ParseWithLength(res->body, res->body_len);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(body, "message");
    char excerpt[160];
    const char *text;
    if (cJSON_IsString(msg) && msg->valuestring[0]) {
        text = msg->valuestring;
    } else {
        engine_excerpt(res->body, res->body_len, excerpt, sizeof excerpt);
        text = res->body_len ? excerpt : "no details";
    }
    /* libpod answers some conflicts with a 500 whose "cause" says what it is */
    static const struct { const char *cause; engine_errkind kind; } causes[] = {
        {"container state improper", ERR_CONFLICT},
        {"that name is already in use", ERR_CONFLICT},
        {"no such container", ERR_NOT_FOUND},
        {"no such pod", ERR_NOT_FOUND},
        {"image not known", ERR_NOT_FOUND},
    };
    const char *cause = engine_str(body, "cause");
    engine_errkind kind = ERR_API;
    if (res->status == 404)
        kind = ERR_NOT_FOUND;
    else if (res->status == 409)
        kind = ERR_CONFLICT;
    else if (res->status == 501)
        kind = ERR_UNSUPPORTED;
    for (size_t i = 0; cause && kind == ERR_API && i < sizeof causes / sizeof causes[0]; i++)
        if (strcmp(cause, causes[i].cause) == 0)
            kind = causes[i].kind;
    engine_fail(r, kind, res->status, "%s (HTTP %ld from %s)", text, res->status, engine_runtime_name(e->runtime));
    r->json = body;
}

static void engine_map_body(const engine *e, const http_result *res, int flags, engine_reply *r)
{
    r->status = res->status;
    if (flags & ENGINE_TEXT) {
        r->text = malloc(res->body_len + 1);
        if (!r->text) {
            engine_fail(r, ERR_PROTOCOL, res->status, "out of memory reading the response");
            return;
        }
        memcpy(r->text, res->body, res->body_len + 1);
        r->text_len = res->body_len;
        return;
    }
    if (res->body_len == 0)
        return; /* 204 No Content and friends */
    const char *end = NULL;
    r->json = cJSON_ParseWithLengthOpts(res->body, res->body_len, &end, 0);
    if (!r->json) {
        char excerpt[160];
        engine_excerpt(res->body, res->body_len, excerpt, sizeof excerpt);
        engine_fail(r, ERR_PROTOCOL, res->status, "%s sent a body that is not JSON (%zu bytes: \"%s\")",
                    e->ep.display, res->body_len, excerpt);
    }
}

static void engine_map(const engine *e, const http_result *res, int flags, engine_reply *r)
{
    if (res->code != CURLE_OK || res->status == 401)
        engine_map_transport(e, res, flags, r);
    else if (res->status >= 400)
        engine_map_status(e, res, r);
    else if (res->status < 200 || (res->status >= 300 && res->status != 304))
        engine_fail(r, ERR_PROTOCOL, res->status, "unexpected HTTP status %ld from %s", res->status, e->ep.display);
    else
        engine_map_body(e, res, flags, r); /* 304: "already in that state", a success */
}

/* ---- requests ---- */

/* A stream's body: the engine's explanation when the answer is an error,
 * the caller's data otherwise. */
static int engine_on_data(const char *p, size_t n, void *ud)
{
    engine_op *op = ud;
    if (op->status == 0)
        op->status = http_status(op->req);
    if (op->status >= 300) {
        if (op->error_body.len + n <= ENGINE_MAX_ERROR_BODY)
            buf_add(&op->error_body, p, n);
        return HTTP_DATA_OK;
    }
    return op->on_data(p, n, op->data_ud);
}

static void engine_on_http_done(const http_result *res, void *ud)
{
    engine_op *op = ud;
    http_result streamed;
    op->req = NULL;
    if (op->on_data && op->error_body.len) {
        streamed = *res;
        streamed.body = buf_str(&op->error_body);
        streamed.body_len = op->error_body.len;
        res = &streamed;
    }
    engine_map(op->e, res, op->flags, op->reply);
    engine_done_fn done = op->done;
    void *dud = op->ud;
    engine_op_free(op);
    done(dud);
}

static http_req *engine_start_http(engine_op *op, const engine_request *rq, http_done_fn cb)
{
    engine *e = op->e;
    buf url;
    char err[256];
    buf_init(&url);
    buf_puts(&url, e->ep.base_url);
    if (rq->flags & ENGINE_COMPAT)
        buf_puts(&url, e->compat_prefix);
    else if (!(rq->flags & ENGINE_UNVERSIONED))
        buf_puts(&url, e->prefix);
    buf_puts(&url, rq->path);
    if (!buf_str(&url)) {
        engine_fail(op->reply, ERR_PROTOCOL, 0, "out of memory");
        return NULL;
    }
    http_opts o = {
        .method = rq->method,
        .url = buf_str(&url),
        /* unix, and ssh:// through its tunnel's local socket */
        .unix_socket = e->ep.socket_path,
        .body = rq->body,
        .body_len = rq->body_len,
        .connect_timeout_ms = e->connect_timeout_ms,
        .timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : rq->timeout_ms < 0 ? 0 : e->request_timeout_ms,
        .on_done = cb,
        .ud = op,
        .tls_ca = e->ep.tls.ca,
        .tls_cert = e->ep.tls.cert,
        .tls_key = e->ep.tls.key,
        .tls_insecure = e->ep.transport == TRANSPORT_TLS && !e->ep.tls.verify,
        .username = e->ep.username,
        .password = e->ep.password,
    };
    if (rq->flags & ENGINE_STREAM) {
        /* a stream may be silent for hours: only connecting has a deadline */
        o.timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : 0;
        o.on_data = engine_on_data;
    }
    log_debug("%s %s", o.method ? o.method : "GET", o.url);
    http_req *req = http_start(&o, err, sizeof err);
    if (!req)
        engine_fail(op->reply, ERR_CONNECTION, 0, "%s", err);
    buf_free(&url);
    return req;
}

static void engine_on_cli_done(void *ud)
{
    engine_op *op = ud;
    engine_done_fn done = op->done;
    void *dud = op->ud;
    op->cli = NULL;
    engine_op_free(op);
    done(dud);
}

/* Transport "cli": the CLI carries the request out and answers in the
 * API's shape (cli_backend.h). */
static cli_op *engine_start_cli(engine_op *op, const engine_request *rq)
{
    engine *e = op->e;
    if (!e->cli) {
        engine_fail(op->reply, ERR_CONNECTION, 0, "the connection to %s is closed", e->ep.display);
        return NULL;
    }
    return cli_call(e->cli, rq, e->request_timeout_ms, op->reply, engine_on_cli_done, op);
}

engine_op *engine_call(engine *e, const engine_request *rq, engine_reply *reply, engine_done_fn done, void *ud)
{
    memset(reply, 0, sizeof *reply);
    engine_op *op = calloc(1, sizeof *op);
    if (!op) {
        engine_fail(reply, ERR_PROTOCOL, 0, "out of memory");
        return NULL;
    }
    op->e = e;
    op->reply = reply;
    op->done = done;
    op->ud = ud;
    op->flags = rq->flags;
    if (e->ep.transport == TRANSPORT_CLI) {
        if (!(op->cli = engine_start_cli(op, rq))) {
            engine_op_free(op);
            return NULL;
        }
        return op;
    }
    if (rq->flags & ENGINE_STREAM) {
        op->on_data = rq->on_data;
        op->data_ud = rq->data_ud;
    }
    op->req = engine_start_http(op, rq, engine_on_http_done);
    if (!op->req) {
        engine_op_free(op);
        return NULL;
    }
    return op;
}

void engine_cancel(engine_op *op)
{
    if (!op)
        return;
    /* their ready callbacks would find op freed */
    if (op->e && op->e->tunnel_wait == op)
        engine_stop_tunnel(op->e);
    if (op->e && op->e->service_wait == op)
        engine_release_service(op->e);
    http_cancel(op->req);
    cli_cancel(op->cli);
    engine_op_free(op);
}

void engine_resume(engine_op *op)
{
    if (op && op->req)
        http_resume(op->req);
    if (op && op->cli)
        cli_resume(op->cli);
}

/* ---- version negotiation ----
 *
 * Both engines state their API version in the headers of GET /_ping:
 * "Api-Version" (Docker's API), plus "Libpod-Api-Version" on Podman, and
 * "Server: Docker/20.10.24 (linux)" or "Server: Libpod/4.3.1 (linux)". That
 * is what the docker CLI negotiates from, and it is cheap: Podman 4.3 takes
 * ~0.5 ms for /_ping and ~450 ms for /version. When a proxy or an old
 * engine leaves the headers out, GET /version says the same in its body.
 *
 * A Docker newer than DOCKER_API_MAX_MINOR is spoken to at that version,
 * which it accepts only if its minimum is not above it; only /version
 * states the minimum, so that case (and only that one) asks for it. */

typedef struct engine_facts {
    int podman;
    const char *api;       /* the newest API version the engine speaks */
    const char *compat;    /* Podman: the Docker API version it also speaks */
    const char *min;       /* Docker: the oldest API version it accepts, or NULL */
    const char *server;    /* the engine's own version, or NULL */
} engine_facts;

static int engine_parse_version(const char *s, int *major, int *minor)
{
    if (!s)
        return -1;
    if (*s == 'v' || *s == 'V')
        s++;
    return sscanf(s, "%d.%d", major, minor) == 2 ? 0 : -1;
}

static int engine_negotiate_podman(engine *e, const engine_facts *f, const char *want, engine_reply *r)
{
    int major, minor;
    const char *chosen = want ? want : f->api;
    if (chosen && (*chosen == 'v' || *chosen == 'V'))
        chosen++;
    if (engine_parse_version(chosen, &major, &minor) != 0) {
        engine_fail(r, ERR_PROTOCOL, 0, "%s reports no usable libpod API version", e->ep.display);
        return -1;
    }
    if (major < LIBPOD_API_MIN_MAJOR) {
        engine_fail(r, ERR_UNSUPPORTED, 0, "%s speaks libpod API %s; moonpod needs %d.0 or newer", e->ep.display,
                    chosen, LIBPOD_API_MIN_MAJOR);
        return -1;
    }
    e->runtime = RUNTIME_PODMAN;
    snprintf(e->api_version, sizeof e->api_version, "%s", chosen);
    snprintf(e->prefix, sizeof e->prefix, "/v%s/libpod", chosen);
    /* Podman's Docker-compatible API, for the few calls where Docker's
     * semantics are the ones moonpod promises (wait conditions, create) */
    int cmaj, cmin;
    if (engine_parse_version(f->compat, &cmaj, &cmin) != 0 || cmaj != 1 || cmin < DOCKER_API_MIN_MINOR)
        cmaj = 1, cmin = 41;
    snprintf(e->compat_prefix, sizeof e->compat_prefix, "/v%d.%d", cmaj,
             cmin > DOCKER_API_MAX_MINOR ? DOCKER_API_MAX_MINOR : cmin);
    snprintf(e->server_version, sizeof e->server_version, "%s", f->server ? f->server : f->api);
    return 0;
}

/* Whether the engine's newest Docker API version is past the ones moonpod
 * speaks, so that moonpod would ask for an older one than it offers. */
static int engine_docker_capped(const engine_facts *f, const char *want)
{
    int major, minor;
    return !want && !f->podman && engine_parse_version(f->api, &major, &minor) == 0 &&
           major == DOCKER_API_MIN_MAJOR && minor > DOCKER_API_MAX_MINOR;
}

/* Fails when the engine's minimum (if known) is above major.minor. */
static int engine_check_minimum(engine *e, const engine_facts *f, const char *want, int major, int minor,
                                engine_reply *r)
{
    int min_major, min_minor;
    if (engine_parse_version(f->min, &min_major, &min_minor) != 0)
        return 0;
    if (min_major < major || (min_major == major && min_minor <= minor))
        return 0;
    if (want)
        engine_fail(r, ERR_UNSUPPORTED, 0, "%s accepts Docker API %s to %s; the api_version asked for, %d.%d, is older",
                    e->ep.display, f->min, f->api, major, minor);
    else
        engine_fail(r, ERR_UNSUPPORTED, 0,
                    "%s accepts Docker API %s to %s; moonpod speaks %d.%d to %d.%d, older than that engine's minimum",
                    e->ep.display, f->min, f->api, DOCKER_API_MIN_MAJOR, DOCKER_API_MIN_MINOR, DOCKER_API_MIN_MAJOR,
                    DOCKER_API_MAX_MINOR);
    return -1;
}

static int engine_negotiate_docker(engine *e, const engine_facts *f, const char *want, engine_reply *r)
{
    int major, minor;
    if (engine_parse_version(want ? want : f->api, &major, &minor) != 0) {
        engine_fail(r, ERR_PROTOCOL, 0, "%s reports no usable API version", e->ep.display);
        return -1;
    }
    if (major < DOCKER_API_MIN_MAJOR || (major == DOCKER_API_MIN_MAJOR && minor < DOCKER_API_MIN_MINOR)) {
        engine_fail(r, ERR_UNSUPPORTED, 0, "%s speaks Docker API %d.%d; moonpod needs %d.%d or newer",
                    e->ep.display, major, minor, DOCKER_API_MIN_MAJOR, DOCKER_API_MIN_MINOR);
        return -1;
    }
    if (!want && major == DOCKER_API_MIN_MAJOR && minor > DOCKER_API_MAX_MINOR)
        minor = DOCKER_API_MAX_MINOR;
    if (engine_check_minimum(e, f, want, major, minor, r) != 0)
        return -1;
    e->runtime = RUNTIME_DOCKER;
    snprintf(e->api_version, sizeof e->api_version, "%d.%d", major, minor);
    snprintf(e->prefix, sizeof e->prefix, "/v%d.%d", major, minor);
    snprintf(e->compat_prefix, sizeof e->compat_prefix, "/v%d.%d", major, minor);
    snprintf(e->server_version, sizeof e->server_version, "%s", f->server ? f->server : "unknown");
    return 0;
}

static int engine_negotiate(engine *e, const engine_facts *f, const char *want, engine_reply *r)
{
    return f->podman ? engine_negotiate_podman(e, f, want, r) : engine_negotiate_docker(e, f, want, r);
}

/* "Libpod/4.3.1 (linux)" -> "4.3.1", in buf */
static const char *engine_server_version(const char *server, char *out, size_t len)
{
    const char *slash = server ? strchr(server, '/') : NULL;
    if (!slash)
        return NULL;
    snprintf(out, len, "%.*s", (int)strcspn(slash + 1, " "), slash + 1);
    return out;
}

/* What the /_ping headers say; 0 when they say nothing usable. */
static int engine_facts_from_ping(const http_result *res, engine_facts *f, char *server, size_t len)
{
    const char *libpod = http_header(res, "Libpod-Api-Version");
    const char *docker = http_header(res, "Api-Version");
    memset(f, 0, sizeof *f);
    f->podman = libpod != NULL;
    f->api = libpod ? libpod : docker;
    f->compat = docker;
    f->server = engine_server_version(http_header(res, "Server"), server, len);
    return f->api != NULL;
}

/* What a /version body says (Docker's shape, with a "Podman Engine"
 * component on Podman); 0 when it is not a version object. */
static int engine_facts_from_version(const cJSON *v, engine_facts *f)
{
    const cJSON *c;
    memset(f, 0, sizeof *f);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(v, "Components")) {
        const char *name = engine_str(c, "Name");
        if (name && strcmp(name, "Podman Engine") == 0) {
            f->podman = 1;
            f->api = engine_str(cJSON_GetObjectItemCaseSensitive(c, "Details"), "APIVersion");
            f->server = engine_str(c, "Version");
            f->compat = engine_str(v, "ApiVersion");
            if (!f->api)
                f->api = f->server;
            return f->api != NULL;
        }
    }
    f->api = engine_str(v, "ApiVersion");
    f->min = engine_str(v, "MinAPIVersion");
    f->server = engine_str(v, "Version");
    return cJSON_IsObject(v) && f->api;
}

/* ---- connecting ---- */

static int engine_connect_next(engine_op *op);

static void engine_connect_finish(engine_op *op)
{
    engine_done_fn done = op->done;
    void *ud = op->ud;
    engine_op_free(op);
    done(ud);
}

static void engine_connected(engine_op *op)
{
    engine *e = op->e;
    log_debug("chose %s at %s (%s), API %s", engine_runtime_name(e->runtime), e->ep.display, e->ep.source,
              e->api_version);
    engine_reply_clear(op->reply);
    engine_connect_finish(op);
}

/* This candidate is no good: note why and try the next. */
static void engine_candidate_failed(engine_op *op)
{
    engine *e = op->e;
    engine_reply *r = op->reply;
    log_debug("skipping %s (%s): %s", e->ep.display, e->ep.source, r->message);
    buf_printf(&op->tried, "%s%s (%s): %s", op->tried.len ? "; " : "", e->ep.display, e->ep.source, r->message);
    op->last_kind = r->kind;
    op->last_status = r->status;
    snprintf(op->last_msg, sizeof op->last_msg, "%s", r->message);
    engine_reply_clear(r);
    endpoint_clear(&e->ep);
    if (!engine_connect_next(op))
        engine_connect_finish(op);
}

static void engine_on_version(const http_result *res, void *ud)
{
    engine_op *op = ud;
    engine_facts f;
    op->req = NULL;
    engine_map(op->e, res, 0, op->reply);
    if (op->reply->kind == ERR_NONE) {
        if (!engine_facts_from_version(op->reply->json, &f))
            engine_fail(op->reply, ERR_PROTOCOL, 0, "%s answered /version with something that is not a version object",
                        op->e->ep.display);
        else if (engine_negotiate(op->e, &f, op->want_version, op->reply) == 0)
            return engine_connected(op);
    }
    engine_candidate_failed(op);
}

static void engine_on_ping(const http_result *res, void *ud)
{
    static const engine_request version = {.method = "GET", .path = "/version", .flags = ENGINE_UNVERSIONED};
    engine_op *op = ud;
    engine_facts f;
    char server[64];
    op->req = NULL;
    engine_map(op->e, res, ENGINE_TEXT, op->reply);
    if (op->reply->kind != ERR_NONE)
        return engine_candidate_failed(op);
    if (!engine_facts_from_ping(res, &f, server, sizeof server)) {
        log_debug("%s: no API version in the /_ping headers; asking /version", op->e->ep.display);
    } else if (engine_docker_capped(&f, op->want_version)) {
        log_debug("%s: Docker API %s is newer than moonpod's; asking /version for its minimum", op->e->ep.display,
                  f.api);
    } else {
        if (engine_negotiate(op->e, &f, op->want_version, op->reply) == 0)
            return engine_connected(op);
        return engine_candidate_failed(op);
    }
    engine_reply_clear(op->reply);
    op->req = engine_start_http(op, &version, engine_on_version);
    if (!op->req)
        engine_candidate_failed(op);
}

/* Fills the reply with why no candidate answered. */
static void engine_connect_exhausted(engine_op *op)
{
    engine_reply *r = op->reply;
    buf looked;
    buf_init(&looked);
    buf_puts(&looked, op->cands.skipped);
    if (op->notes.len)
        buf_printf(&looked, "%s%s", looked.len ? "; " : "", buf_str(&op->notes));
    const char *also = looked.len && buf_str(&looked) ? buf_str(&looked) : NULL;
    if (!op->fallback && op->cands.n == 1 && op->tried.len) {
        /* one place was named: its own failure is the whole story */
        engine_fail(r, op->last_kind, op->last_status, "%s", op->last_msg);
    } else if (op->tried.len == 0) {
        engine_fail(r, ERR_CONNECTION, 0, "no container engine found (looked at: %s)",
                    also ? also : "nothing: auto_detect is off");
    } else {
        engine_fail(r, op->last_kind ? op->last_kind : ERR_CONNECTION, 0,
                    "no container engine answered (tried %s; also looked at: %s)", buf_str(&op->tried),
                    also ? also : "nothing else");
    }
    buf_free(&looked);
}

static const engine_request engine_ping = {
    .method = "GET", .path = "/_ping", .flags = ENGINE_UNVERSIONED | ENGINE_TEXT,
};

/* The ssh child of an ssh:// candidate is up, or not: ask the engine at
 * the other end, or try the next candidate. */
static void engine_on_tunnel(void *ud, tunnel_result result, const char *message)
{
    engine_op *op = ud;
    engine *e = op->e;
    e->tunnel_wait = NULL;
    if (result == TUNNEL_READY) {
        e->ep.socket_path = strdup(tunnel_socket(e->tunnel));
        if (e->ep.socket_path && (op->req = engine_start_http(op, &engine_ping, engine_on_ping)))
            return;
        if (!e->ep.socket_path)
            engine_fail(op->reply, ERR_PROTOCOL, 0, "out of memory");
    } else {
        engine_fail(op->reply, result == TUNNEL_TIMED_OUT ? ERR_TIMEOUT : ERR_CONNECTION, 0, "%s", message);
    }
    engine_candidate_failed(op);
}

/* Starts asking the candidate in op->e->ep: at once, or once its ssh
 * tunnel is up. Returns 0 (reply filled) when that can't start. */
static int engine_try_candidate(engine_op *op)
{
    engine *e = op->e;
    char err[512];
    if (e->ep.transport != TRANSPORT_SSH)
        return (op->req = engine_start_http(op, &engine_ping, engine_on_ping)) != NULL;
    e->tunnel = tunnel_start(&e->ep.ssh, e->connect_timeout_ms, engine_on_tunnel, op, err, sizeof err);
    if (!e->tunnel) {
        engine_fail(op->reply, ERR_CONNECTION, 0, "%s", err);
        return 0;
    }
    e->tunnel_wait = op;
    return 1;
}

/* A candidate that failed before any request went out: noted among those
 * tried, and forgotten. */
static void engine_tried_at_once(engine_op *op)
{
    engine *e = op->e;
    const char *who = e->ep.display ? e->ep.display : e->ep.source;
    log_debug("skipping %s: %s", who, op->reply->message);
    buf_printf(&op->tried, "%s%s: %s", op->tried.len ? "; " : "", who, op->reply->message);
    op->last_kind = op->reply->kind;
    snprintf(op->last_msg, sizeof op->last_msg, "%s", op->reply->message);
    engine_reply_clear(op->reply);
    engine_drop_transport(e);
    endpoint_clear(&e->ep);
}

/* ---- when no API answers: the transient service, then the CLI ---- */

/* A fallback that is not tried, and why: part of the final error. */
static void engine_note(engine_op *op, const char *what)
{
    log_debug("not trying %s", what);
    buf_printf(&op->notes, "%s%s", op->notes.len ? "; " : "", what);
}

/* The transient service is up, or not: ping it like any socket. */
static void engine_on_service(void *ud, int ok, const char *message)
{
    engine_op *op = ud;
    op->e->service_wait = NULL;
    if (ok && (op->req = engine_start_http(op, &engine_ping, engine_on_ping)))
        return;
    if (!ok)
        engine_fail(op->reply, ERR_CONNECTION, 0, "%s", message);
    engine_candidate_failed(op);
}

/* Starts (or joins) the transient Podman service. Returns 1 when waiting
 * for it, 0 when it is not to be tried or could not start. */
static int engine_try_service(engine_op *op)
{
    engine *e = op->e;
    char podman[4096], err[512], url[256];
    if (!op->start_service) {
        engine_note(op, "podman system service: start_service is off");
        return 0;
    }
    if (child_which("podman", podman, sizeof podman) != 0) {
        engine_note(op, "podman system service: podman is not installed (not in PATH)");
        return 0;
    }
    e->service = service_acquire(podman, e->connect_timeout_ms, engine_on_service, op, err, sizeof err);
    if (e->service) {
        snprintf(url, sizeof url, "unix://%s", service_socket(e->service));
        if (endpoint_parse(url, "podman system service started by moonpod", &e->ep, err, sizeof err) == 0) {
            e->service_wait = op;
            return 1;
        }
    }
    engine_fail(op->reply, ERR_CONNECTION, 0, "%s", err);
    e->ep.source = "podman system service";
    engine_tried_at_once(op);
    return 0;
}

/* The CLI's `version`, in the shape of GET /version: negotiate from it. */
static void engine_on_cli_version(void *ud)
{
    engine_op *op = ud;
    engine_facts f;
    op->cli = NULL;
    if (op->reply->kind == ERR_NONE) {
        if (!engine_facts_from_version(op->reply->json, &f))
            engine_fail(op->reply, ERR_PROTOCOL, 0, "%s: `version` said nothing usable", op->e->ep.display);
        else if (engine_negotiate(op->e, &f, NULL, op->reply) == 0)
            return engine_connected(op);
    }
    /* a CLI that can't say its version can't reach an engine either */
    if (op->reply->kind == ERR_API)
        op->reply->kind = ERR_CONNECTION;
    engine_candidate_failed(op);
}

/* Makes the CLI of `rt` at `path` the candidate and asks its version.
 * Returns 1 when that is under way. */
static int engine_start_cli_candidate(engine_op *op, engine_runtime rt, const char *path)
{
    engine *e = op->e;
    engine_request version = {.method = "GET", .path = "/version", .flags = ENGINE_UNVERSIONED,
                              .timeout_ms = e->connect_timeout_ms};
    e->cli = cli_backend_new(rt, path);
    e->ep.transport = TRANSPORT_CLI;
    e->ep.source = rt == RUNTIME_PODMAN ? "podman CLI" : "docker CLI";
    e->ep.display = e->cli ? strdup(cli_backend_display(e->cli)) : NULL;
    if (!e->cli || !e->ep.display) {
        engine_fail(op->reply, ERR_PROTOCOL, 0, "out of memory");
        engine_tried_at_once(op);
        return 0;
    }
    log_debug("no API socket answered: trying the %s at %s", e->ep.source, path);
    if ((op->cli = cli_call(e->cli, &version, e->connect_timeout_ms, op->reply, engine_on_cli_version, op)))
        return 1;
    engine_tried_at_once(op);
    return 0;
}

/* The podman CLI, then (with fallback_to_docker) the docker CLI. Returns 1
 * when one is being asked, 0 when none is left. */
static int engine_try_cli(engine_op *op)
{
    static const char *const names[] = {"podman", "docker"};
    char path[4096], note[128];
    if (!op->use_cli) {
        engine_note(op, "podman and docker CLIs: use_cli_fallback is off");
        op->cli_next = 2;
        return 0;
    }
    while (op->cli_next < 2) {
        int i = op->cli_next++;
        if (i == 1 && !op->fallback_to_docker) {
            engine_note(op, "docker CLI: fallback_to_docker is off");
        } else if (child_which(names[i], path, sizeof path) != 0) {
            snprintf(note, sizeof note, "%s CLI: not installed (not in PATH)", names[i]);
            engine_note(op, note);
        } else if (engine_start_cli_candidate(op, i == 0 ? RUNTIME_PODMAN : RUNTIME_DOCKER, path)) {
            return 1;
        }
    }
    return 0;
}

/* Asks the next candidate what it is. Returns 1 when a request is in
 * flight, 0 when none is left (the reply then says why). */
static int engine_connect_next(engine_op *op)
{
    for (;;) {
        engine_drop_transport(op->e); /* the previous candidate's */
        if (op->next < op->cands.n) {
            endpoint_move(&op->e->ep, &op->cands.items[op->next++]);
            if (engine_try_candidate(op))
                return 1;
            engine_tried_at_once(op);
        } else if (!op->fallback || op->phase == ENGINE_PHASE_DONE) {
            break;
        } else if (op->phase == ENGINE_PHASE_API) {
            op->phase = ENGINE_PHASE_SERVICE;
            if (engine_try_service(op))
                return 1;
        } else {
            op->phase = ENGINE_PHASE_CLI;
            if (engine_try_cli(op))
                return 1;
            op->phase = ENGINE_PHASE_DONE;
        }
    }
    engine_connect_exhausted(op);
    return 0;
}

engine_op *engine_connect(engine *e, const engine_config *cfg, engine_reply *reply, engine_done_fn done, void *ud)
{
    char err[512];
    memset(reply, 0, sizeof *reply);
    engine_op *op = calloc(1, sizeof *op);
    if (!op) {
        engine_fail(reply, ERR_PROTOCOL, 0, "out of memory");
        return NULL;
    }
    endpoint_query q = {
        .socket_path = cfg->socket_path,
        .remote_url = cfg->remote_url,
        .auto_detect = cfg->auto_detect,
        .fallback_to_docker = cfg->fallback_to_docker,
        .username = cfg->username,
        .password = cfg->password,
        .tls_ca = cfg->tls_ca,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .tls_verify = cfg->tls_verify,
        .identity_file = cfg->identity_file,
        .ssh_options = (const char *const *)cfg->ssh_options,
    };
    int rc = endpoint_candidates(&q, &op->cands, err, sizeof err);
    if (rc != 0) {
        engine_fail(reply, rc == ENDPOINT_UNSUPPORTED ? ERR_UNSUPPORTED : ERR_USAGE, 0, "%s", err);
        engine_op_free(op);
        return NULL;
    }
    log_debug("looked at: %s", op->cands.skipped[0] ? op->cands.skipped : "(explicit endpoint)");
    op->e = e;
    op->reply = reply;
    op->done = done;
    op->ud = ud;
    op->want_version = cfg->api_version ? strdup(cfg->api_version) : NULL;
    buf_init(&op->tried);
    buf_init(&op->notes);
    /* a place that was named is the answer or the error, never replaced */
    op->fallback = cfg->auto_detect && !cfg->socket_path && !cfg->remote_url;
    op->start_service = cfg->start_service;
    op->use_cli = cfg->use_cli_fallback;
    op->fallback_to_docker = cfg->fallback_to_docker;
    e->connect_timeout_ms = (long)(cfg->connect_timeout * 1000);
    e->request_timeout_ms = (long)(cfg->request_timeout * 1000);
    if (!engine_connect_next(op)) {
        engine_op_free(op);
        return NULL;
    }
    return op;
}
