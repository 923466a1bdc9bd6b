/* endpoint — where an engine is reached, and where to look for one. */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

const char *endpoint_transport_name(endpoint_transport t)
{
    static const char *const names[] = {"unix", "tcp", "tls", "ssh", "cli"};
    return names[t];
}

void endpoint_clear(endpoint *e)
{
    free(e->socket_path);
    free(e->base_url);
    free(e->display);
    memset(e, 0, sizeof *e);
}

void endpoint_move(endpoint *dst, endpoint *src)
{
    *dst = *src;
    memset(src, 0, sizeof *src);
}

void endpoint_list_free(endpoint_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        endpoint_clear(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static char *endpoint_strdup_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

static int endpoint_parse_unix(const char *path, endpoint *out, char *err, size_t errlen)
{
    if (*path != '/') {
        snprintf(err, errlen, "unix socket path must be absolute: %s", path);
        return -1;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "unix socket path too long (%zu bytes, at most %zu): %s", strlen(path),
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
        return -1;
    }
    out->transport = TRANSPORT_UNIX;
    out->socket_path = strdup(path);
    /* The host part of the URL is only what goes in the Host header. */
    out->base_url = strdup("http://localhost");
    out->display = endpoint_strdup_printf("unix://%s%s", path, NULL);
    return 0;
}

static int endpoint_parse_tcp(const char *hostport, endpoint *out, char *err, size_t errlen)
{
    size_t n = strcspn(hostport, "/?#");
    if (n == 0) {
        snprintf(err, errlen, "missing host in tcp address");
        return -1;
    }
    char *hp = strndup(hostport, n);
    if (!hp)
        return -1;
    out->transport = TRANSPORT_TCP;
    out->base_url = endpoint_strdup_printf("http://%s%s", hp, NULL);
    out->display = endpoint_strdup_printf("tcp://%s%s", hp, NULL);
    free(hp);
    return 0;
}

int endpoint_parse(const char *url, const char *source, endpoint *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    out->source = source;
    if (strncmp(url, "unix://", 7) == 0)
        rc = endpoint_parse_unix(url + 7, out, err, errlen);
    else if (url[0] == '/')
        rc = endpoint_parse_unix(url, out, err, errlen);
    else if (strncmp(url, "tcp://", 6) == 0)
        rc = endpoint_parse_tcp(url + 6, out, err, errlen);
    else if (strncmp(url, "http://", 7) == 0)
        rc = endpoint_parse_tcp(url + 7, out, err, errlen);
    else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "ssh://", 6) == 0) {
        snprintf(err, errlen, "%s: the %.*s transport is not available in this build yet", url,
                 (int)strcspn(url, ":"), url);
        return ENDPOINT_UNSUPPORTED;
    } else {
        snprintf(err, errlen, "%s: not an engine address (expected unix://, tcp://, http://)", url);
        return ENDPOINT_MALFORMED;
    }
    if (rc == 0 && (!out->base_url || !out->display || (out->transport == TRANSPORT_UNIX && !out->socket_path))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        endpoint_clear(out);
    return rc < 0 ? rc : 0;
}

static void endpoint_note_skip(endpoint_list *l, const char *what)
{
    size_t used = strlen(l->skipped);
    snprintf(l->skipped + used, sizeof l->skipped - used, "%s%s", used ? "; " : "", what);
}

static int endpoint_push(endpoint_list *l, endpoint *e)
{
    endpoint *items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (!items)
        return -1;
    l->items = items;
    endpoint_move(&l->items[l->n++], e);
    return 0;
}

/* A well-known socket location: a candidate only if something is there. */
static void endpoint_try_socket(endpoint_list *l, const char *path, const char *source, int docker_only)
{
    struct stat st;
    char note[300];
    if (stat(path, &st) != 0) {
        snprintf(note, sizeof note, "%s %s: %s", source, path, strerror(errno));
        endpoint_note_skip(l, note);
        return;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(note, sizeof note, "%s %s: not a socket", source, path);
        endpoint_note_skip(l, note);
        return;
    }
    endpoint e;
    char err[256];
    if (endpoint_parse_unix(path, &e, err, sizeof err) != 0) {
        endpoint_note_skip(l, err);
        return;
    }
    e.source = source;
    e.docker_only = docker_only;
    if (endpoint_push(l, &e) != 0)
        endpoint_clear(&e);
}

static int endpoint_from_env(endpoint_list *l, const char *var, int docker_only, char *err, size_t errlen)
{
    const char *v = getenv(var);
    char note[64];
    if (!v || !*v) {
        snprintf(note, sizeof note, "%s unset", var);
        endpoint_note_skip(l, note);
        return 0;
    }
    endpoint e;
    char why[256];
    int rc = endpoint_parse(v, var, &e, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "%s=%s: %s", var, v, why);
        return rc;
    }
    e.docker_only = docker_only;
    if (endpoint_push(l, &e) != 0) {
        endpoint_clear(&e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int endpoint_candidates(const endpoint_query *q, endpoint_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    endpoint e;
    int rc;
    if (q->socket_path || q->remote_url) {
        const char *url = q->socket_path ? q->socket_path : q->remote_url;
        rc = endpoint_parse(url, q->socket_path ? "socket_path" : "remote_url", &e, err, errlen);
        if (rc != 0)
            return rc;
        if (endpoint_push(out, &e) != 0) {
            endpoint_clear(&e);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (!q->auto_detect)
        return 0;
    if ((rc = endpoint_from_env(out, "CONTAINER_HOST", 0, err, errlen)) != 0)
        goto fail;
    if (q->fallback_to_docker && (rc = endpoint_from_env(out, "DOCKER_HOST", 1, err, errlen)) != 0)
        goto fail;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg) {
        char path[512];
        snprintf(path, sizeof path, "%s/podman/podman.sock", xdg);
        endpoint_try_socket(out, path, "rootless podman", 0);
    } else {
        endpoint_note_skip(out, "rootless podman: XDG_RUNTIME_DIR unset");
    }
    endpoint_try_socket(out, "/run/podman/podman.sock", "rootful podman", 0);
    if (q->fallback_to_docker)
        endpoint_try_socket(out, "/var/run/docker.sock", "docker", 1);
    return 0;
fail:
    endpoint_list_free(out);
    return rc;
}
