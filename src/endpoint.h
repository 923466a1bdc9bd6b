/* endpoint — where an engine is reached, and where to look for one.
 *
 * Turns the user's config and the environment into an ordered list of
 * candidates (explicit socket or URL; CONTAINER_HOST; DOCKER_HOST; rootless
 * Podman; rootful Podman; Docker), each parsed into a transport and the
 * address libcurl needs. Pure: no I/O but stat() of socket paths. */
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

typedef struct endpoint {
    endpoint_transport transport;
    char *socket_path;   /* unix: the socket */
    char *base_url;      /* what URLs start with: "http://localhost" for unix */
    char *display;       /* what the user sees: "unix:///run/podman/podman.sock" */
    const char *source;  /* why it is a candidate: "socket_path", "DOCKER_HOST", ... */
    int docker_only;     /* a Docker location: skipped unless fallback_to_docker */
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
} endpoint_query;

const char *endpoint_transport_name(endpoint_transport t);

#define ENDPOINT_MALFORMED (-1)
#define ENDPOINT_UNSUPPORTED (-2)

/* Parses "unix:///path", "/path", "tcp://host:port", "http://host:port".
 * Returns 0, or ENDPOINT_MALFORMED / ENDPOINT_UNSUPPORTED with a message. */
int endpoint_parse(const char *url, const char *source, endpoint *out, char *err, size_t errlen);

/* The candidates in the order they are tried. Returns 0, or an
 * ENDPOINT_ error with a message for a bad explicit setting. */
int endpoint_candidates(const endpoint_query *q, endpoint_list *out, char *err, size_t errlen);

void endpoint_clear(endpoint *e);
void endpoint_list_free(endpoint_list *l);
/* Moves src into dst (src is left empty). */
void endpoint_move(endpoint *dst, endpoint *src);

#endif
