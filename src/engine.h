/* engine — one container engine reached over its HTTP API.
 *
 * Finds the engine (endpoint.h), learns what it is from GET /_ping's headers
 * (or GET /version's body) — Podman's libpod API or Docker's Engine API —
 * and negotiates the API version from what the server says (never
 * pinned), builds request URLs
 * under the negotiated prefix, and maps every failure, from a missing
 * socket to an HTTP 404 to a body that is not JSON, to one error shape.
 * No Lua here: results are cJSON trees and error structs. */
#ifndef MOONPOD_ENGINE_H
#define MOONPOD_ENGINE_H

#include <cJSON.h>

#include "endpoint.h"
#include "http.h"
#include "service.h"
#include "tunnel.h"

typedef enum { RUNTIME_PODMAN, RUNTIME_DOCKER } engine_runtime;

typedef enum {
    ERR_NONE = 0,
    ERR_API,
    ERR_NOT_FOUND,
    ERR_CONFLICT,
    ERR_CONNECTION,
    ERR_TIMEOUT,
    ERR_UNSUPPORTED,
    ERR_PROTOCOL,
    ERR_USAGE,       /* the caller's mistake (a malformed address): a plain Lua error */
} engine_errkind;

const char *engine_errkind_name(engine_errkind k);

typedef struct engine_reply {
    engine_errkind kind;   /* ERR_NONE on success */
    long status;           /* HTTP status, 0 when none */
    char message[512];     /* for the user; "" on success */
    cJSON *json;           /* decoded body: the result, or the engine's error body */
    char *text;            /* a body that is not JSON, when asked for (ENGINE_TEXT) */
    size_t text_len;
} engine_reply;

void engine_reply_clear(engine_reply *r);

typedef struct engine_config {
    char *socket_path;
    char *remote_url;
    char *api_version;       /* NULL: negotiate */
    int auto_detect;
    int fallback_to_docker;
    int use_cli_fallback;
    int start_service;
    double connect_timeout;  /* seconds */
    double request_timeout;
    /* remote engines (see endpoint.h); NULL when not given */
    char *username, *password;            /* HTTP basic auth for tcp/http/https */
    char *tls_ca, *tls_cert, *tls_key;    /* PEM files; default: DOCKER_CERT_PATH's */
    int tls_verify;                       /* 1, 0 (insecure), -1: not given (on) */
    char *identity_file;                  /* ssh:// key */
    char **ssh_options;                   /* extra ssh -o values, NULL-terminated */
} engine_config;

void engine_config_defaults(engine_config *c);
void engine_config_clear(engine_config *c);

typedef struct engine {
    endpoint ep;
    engine_runtime runtime;
    char api_version[32];    /* negotiated: "4.3.1" (libpod) or "1.41" (Docker) */
    char prefix[48];         /* "/v4.3.1/libpod" or "/v1.41" */
    char compat_prefix[24];  /* the Docker-compatible API: "/v1.41" on both */
    char server_version[64]; /* the engine's own version, "4.3.1" or "20.10.24" */
    long connect_timeout_ms;
    long request_timeout_ms;
    tunnel *tunnel;          /* ssh://: the ssh child the requests go through */
    struct engine_op *tunnel_wait; /* the connect waiting for it to come up */
    service_ref *service;    /* the transient Podman service moonpod started, when that is the engine */
    struct engine_op *service_wait; /* the connect waiting for it to come up */
    struct cli_backend *cli; /* transport "cli": how the podman or docker CLI is run */
} engine;

const char *engine_runtime_name(engine_runtime r);

typedef struct engine_op engine_op;
typedef void (*engine_done_fn)(void *ud);

/* Finds and negotiates with an engine, filling *e. `done` runs once, from a
 * loop callback, with *reply telling success (ERR_NONE) or why nothing
 * answered. Returns NULL (reply filled) when it can't start.
 *
 * With auto-detection (no socket_path or remote_url), when no candidate
 * answers: a transient `podman system service` (start_service, service.h),
 * then the podman CLI and, with fallback_to_docker, the docker CLI
 * (use_cli_fallback, cli_backend.h). */
engine_op *engine_connect(engine *e, const engine_config *cfg, engine_reply *reply, engine_done_fn done, void *ud);

enum {
    ENGINE_UNVERSIONED = 1, /* path is from the root: /_ping, /version */
    ENGINE_TEXT = 2,        /* the success body is not JSON: keep it as text */
    ENGINE_STREAM = 4,      /* a success body goes to on_data as it comes; no request timeout */
    ENGINE_COMPAT = 8,      /* Docker's API on either engine (Podman serves it too) */
};

typedef struct engine_request {
    const char *method;
    const char *path;       /* below the API prefix, query included */
    const char *body;       /* JSON, or NULL */
    size_t body_len;
    int flags;
    long timeout_ms;        /* 0: the engine's request timeout; < 0: none */
    http_data_fn on_data;   /* ENGINE_STREAM: the body of a successful answer */
    void *data_ud;
} engine_request;

/* Starts a request; on completion fills *reply and calls done(ud).
 * Returns NULL (reply filled) when it can't start. On transport "cli" the
 * request is carried out by the CLI instead (cli_backend.h), with an
 * answer of the same shape. */
engine_op *engine_call(engine *e, const engine_request *req, engine_reply *reply, engine_done_fn done, void *ud);

/* Abandons an operation that has not completed; done is not called. */
void engine_cancel(engine_op *op);

/* Lets a stream whose on_data returned HTTP_DATA_PAUSE go on. */
void engine_resume(engine_op *op);

void engine_clear(engine *e);

/* Lets go at once of what a connection holds outside the process (an ssh
 * tunnel's child, a reference on the transient Podman service); later
 * requests fail with a connection error. engine_clear does this too. */
void engine_disconnect(engine *e);

#endif
