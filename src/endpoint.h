/* endpoint — where an engine is reached, and where to look for one.
 *
 * Turns the user's config and the environment into an ordered list of
 * candidates (explicit socket or URL; CONTAINER_HOST; DOCKER_HOST; rootless
 * Podman; rootful Podman; Docker), each parsed into a transport and the
 * address libcurl needs, with what the transport needs besides: TLS files
 * (from the config, else from DOCKER_CERT_PATH like the docker CLI), basic
 * auth credentials, and for ssh:// what the tunnel runs ssh with. Pure: no
 * I/O but stat()/access() of socket and certificate paths. */
#ifndef MOONPOD_ENDPOINT_H
#define MOONPOD_ENDPOINT_H

#include <stddef.h>

typedef enum {
    TRANSPORT_UNIX,
    TRANSPORT_TCP,
    TRANSPORT_TLS,
    TRANSPORT_SSH,
    TRANSPORT_CLI,
} endpoint_transport;

typedef struct endpoint_tls {
    char *ca;            /* PEM CA bundle the server is checked against; NULL: the system's */
    char *cert, *key;    /* client certificate and key (PEM), or NULL */
    int verify;          /* check the server's certificate and name; off is insecure */
} endpoint_tls;

typedef struct endpoint_ssh {
    char *user;          /* or NULL: ssh's own default */
    char *host;
    char *port;          /* or NULL: ssh's own default */
    char *remote_path;   /* the engine's socket on the remote host */
    char *identity_file; /* or NULL */
    char **options;      /* extra ssh "-o" values, NULL-terminated; or NULL */
} endpoint_ssh;

typedef struct endpoint {
    endpoint_transport transport;
    char *socket_path;   /* unix: the socket; ssh: the tunnel's local socket once it is up */
    char *base_url;      /* what URLs start with: "http://localhost" for unix */
    char *display;       /* what the user sees: "unix:///run/podman/podman.sock" */
    const char *source;  /* why it is a candidate: "socket_path", "DOCKER_HOST", ... */
    int docker_only;     /* a Docker location: skipped unless fallback_to_docker */
    char *username;      /* tcp/tls: HTTP basic auth, or NULL */
    char *password;
    endpoint_tls tls;    /* tls only */
    endpoint_ssh ssh;    /* ssh only */
} endpoint;

typedef struct endpoint_list {
    endpoint *items;
    size_t n;
    char skipped[1024];  /* the places looked at and not used, for the error */
} endpoint_list;

typedef struct endpoint_query {
    const char *socket_path;
    const char *remote_url;
    int auto_detect;
    int fallback_to_docker;
    /* What remote transports need; each may be NULL. Credentials override
     * those in a URL's user part; TLS files override DOCKER_CERT_PATH's. */
    const char *username, *password;
    const char *tls_ca, *tls_cert, *tls_key;
    int tls_verify;                  /* 1, 0, or -1: not set (on) */
    const char *identity_file;       /* default: CONTAINER_SSHKEY for CONTAINER_HOST */
    const char *const *ssh_options;  /* NULL-terminated */
} endpoint_query;

const char *endpoint_transport_name(endpoint_transport t);

#define ENDPOINT_MALFORMED (-1)
#define ENDPOINT_UNSUPPORTED (-2)

/* Parses "unix:///path", "/path", "tcp://host:port", "http://host:port",
 * "https://host:port" (TLS, verification on) and
 * "ssh://[user@]host[:port]/remote/socket"; tcp/http/https may carry
 * "user:password@". Returns 0, or ENDPOINT_MALFORMED / ENDPOINT_UNSUPPORTED
 * with a message. */
int endpoint_parse(const char *url, const char *source, endpoint *out, char *err, size_t errlen);

/* The candidates in the order they are tried. Returns 0, or an
 * ENDPOINT_ error with a message for a bad explicit setting. */
int endpoint_candidates(const endpoint_query *q, endpoint_list *out, char *err, size_t errlen);

void endpoint_clear(endpoint *e);
void endpoint_list_free(endpoint_list *l);
/* Moves src into dst (src is left empty). */
void endpoint_move(endpoint *dst, endpoint *src);

#endif
