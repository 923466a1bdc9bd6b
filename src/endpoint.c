/* endpoint — where an engine is reached, and where to look for one. */
#include "endpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ENDPOINT_SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

const char *endpoint_transport_name(endpoint_transport t)
{
    static const char *const names[] = {"unix", "tcp", "tls", "ssh", "cli"};
    return names[t];
}

static void endpoint_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void endpoint_clear(endpoint *e)
{
    free(e->socket_path);
    free(e->base_url);
    free(e->display);
    free(e->username);
    free(e->password);
    free(e->tls.ca);
    free(e->tls.cert);
    free(e->tls.key);
    free(e->ssh.user);
    free(e->ssh.host);
    free(e->ssh.port);
    free(e->ssh.remote_path);
    free(e->ssh.identity_file);
    endpoint_strv_free(e->ssh.options);
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

static char *endpoint_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *endpoint_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *endpoint_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int endpoint_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The first n bytes of s, percent-decoded: URLs carry credentials escaped.
 * NULL on a bad escape or an encoded NUL. */
static char *endpoint_unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? endpoint_hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? endpoint_hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* The last occurrence of c in s[0..n), or NULL. */
static const char *endpoint_rfind(const char *s, size_t n, char c)
{
    while (n-- > 0)
        if (s[n] == c)
            return s + n;
    return NULL;
}

static int endpoint_parse_unix(const char *path, endpoint *out, char *err, size_t errlen)
{
    if (*path != '/') {
        snprintf(err, errlen, "unix socket path must be absolute: %s", path);
        return -1;
    }
    if (strlen(path) > ENDPOINT_SUN_PATH_MAX) {
        snprintf(err, errlen, "unix socket path too long (%zu bytes, at most %zu): %s", strlen(path),
                 ENDPOINT_SUN_PATH_MAX, path);
        return -1;
    }
    out->transport = TRANSPORT_UNIX;
    out->socket_path = strdup(path);
    /* The host part of the URL is only what goes in the Host header. */
    out->base_url = strdup("http://localhost");
    out->display = endpoint_printf("unix://%s", path);
    return 0;
}

/* "user:password@" before the host: the credentials leave the URL so that
 * they are never displayed. Returns where the host starts. */
static const char *endpoint_take_userinfo(const char *auth, size_t n, endpoint *out, char *err, size_t errlen)
{
    const char *at = endpoint_rfind(auth, n, '@');
    if (!at)
        return auth;
    size_t ulen = (size_t)(at - auth);
    const char *colon = memchr(auth, ':', ulen);
    size_t namelen = colon ? (size_t)(colon - auth) : ulen;
    out->username = endpoint_unescape(auth, namelen);
    out->password = colon ? endpoint_unescape(colon + 1, ulen - namelen - 1) : strdup("");
    if (!out->username || !out->password) {
        snprintf(err, errlen, "bad percent-escape in the user part of the address");
        return NULL;
    }
    return at + 1;
}

/* tcp://, http:// (tls = 0) and https:// (tls = 1): host[:port], anything
 * after it ignored. */
static int endpoint_parse_http(const char *rest, int tls, endpoint *out, char *err, size_t errlen)
{
    size_t n = strcspn(rest, "/?#");
    const char *host = endpoint_take_userinfo(rest, n, out, err, errlen);
    if (!host)
        return -1;
    int hlen = (int)(n - (size_t)(host - rest));
    if (hlen == 0) {
        snprintf(err, errlen, "missing host in %s address", tls ? "https" : "tcp");
        return -1;
    }
    out->transport = tls ? TRANSPORT_TLS : TRANSPORT_TCP;
    out->base_url = endpoint_printf("%s://%.*s", tls ? "https" : "http", hlen, host);
    out->display = endpoint_printf("%s://%.*s", tls ? "https" : "tcp", hlen, host);
    out->tls.verify = 1;
    return 0;
}

/* Something ssh is handed as one argument must not read as an option,
 * and the -L forward spec can't carry a ':' in a socket path. */
static int endpoint_ssh_word_ok(const char *s, size_t n, int path)
{
    if (n == 0 || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 127 || (path && c == ':'))
            return 0;
    }
    return 1;
}

/* host, "host:port", "[v6]" or "[v6]:port": sets ssh.host and ssh.port. */
static int endpoint_ssh_hostport(const char *s, size_t n, endpoint *out, char *err, size_t errlen)
{
    const char *port = NULL, *end = s + n;
    const char *h = s;
    size_t hlen;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) {
            snprintf(err, errlen, "unclosed '[' in the ssh host");
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close + 1 < end && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        port = colon ? colon + 1 : NULL;
    }
    if (!endpoint_ssh_word_ok(h, hlen, 0)) {
        snprintf(err, errlen, "missing or bad host in the ssh address");
        return -1;
    }
    if (port) {
        size_t plen = (size_t)(end - port);
        long p = plen > 0 && plen <= 5 && strspn(port, "0123456789") >= plen ? strtol(port, NULL, 10) : 0;
        if (p < 1 || p > 65535) {
            snprintf(err, errlen, "bad port in the ssh address");
            return -1;
        }
        out->ssh.port = strndup(port, plen);
    }
    out->ssh.host = strndup(h, hlen);
    return 0;
}

/* ssh://[user@]host[:port]/path/to/engine.sock. Without a path, a Docker
 * address means Docker's usual socket; Podman's depends on the remote
 * user, so it must be given. */
static int endpoint_parse_ssh(const char *rest, const char *source, endpoint *out, char *err, size_t errlen)
{
    size_t n = strcspn(rest, "/?#");
    const char *at = endpoint_rfind(rest, n, '@');
    const char *host = at ? at + 1 : rest;
    if (at && (memchr(rest, ':', (size_t)(at - rest)) || !endpoint_ssh_word_ok(rest, (size_t)(at - rest), 0))) {
        snprintf(err, errlen, "bad user in the ssh address (ssh:// takes no password: use identity_file)");
        return -1;
    }
    if (at)
        out->ssh.user = strndup(rest, (size_t)(at - rest));
    if (endpoint_ssh_hostport(host, n - (size_t)(host - rest), out, err, errlen) != 0)
        return -1;
    const char *path = rest + n;
    size_t plen = *path == '/' ? strcspn(path, "?#") : 0;
    if (plen == 0 && source && strcmp(source, "DOCKER_HOST") == 0) {
        path = "/var/run/docker.sock";
        plen = strlen(path);
    }
    if (plen == 0) {
        snprintf(err, errlen, "the ssh address needs the engine's socket path on the remote host, "
                              "e.g. ssh://user@host/run/podman/podman.sock");
        return -1;
    }
    if (!endpoint_ssh_word_ok(path, plen, 1)) {
        snprintf(err, errlen, "the remote socket path can't contain ':' or spaces");
        return -1;
    }
    out->transport = TRANSPORT_SSH;
    out->ssh.remote_path = strndup(path, plen);
    out->base_url = strdup("http://localhost");
    out->display = endpoint_printf("ssh://%.*s%s", (int)n, rest, out->ssh.remote_path ? out->ssh.remote_path : "");
    return 0;
}

static int endpoint_complete(const endpoint *e)
{
    if (!e->base_url || !e->display)
        return 0;
    if (e->transport == TRANSPORT_UNIX)
        return e->socket_path != NULL;
    if (e->transport == TRANSPORT_SSH)
        return e->ssh.host && e->ssh.remote_path;
    return 1;
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
        rc = endpoint_parse_http(url + 6, 0, out, err, errlen);
    else if (strncmp(url, "http://", 7) == 0)
        rc = endpoint_parse_http(url + 7, 0, out, err, errlen);
    else if (strncmp(url, "https://", 8) == 0)
        rc = endpoint_parse_http(url + 8, 1, out, err, errlen);
    else if (strncmp(url, "ssh://", 6) == 0)
        rc = endpoint_parse_ssh(url + 6, source, out, err, errlen);
    else {
        snprintf(err, errlen, "%s: not an engine address (expected unix://, tcp://, http://, https://, ssh://)", url);
        return ENDPOINT_MALFORMED;
    }
    if (rc == 0 && !endpoint_complete(out)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        endpoint_clear(out);
    return rc < 0 ? rc : 0;
}

/* ---- what a remote transport needs besides the address ---- */

static char **endpoint_strv_dup(const char *const *v, int *oom)
{
    size_t n = 0;
    if (!v)
        return NULL;
    while (v[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            endpoint_strv_free(out);
            out = NULL;
        }
    }
    *oom |= out == NULL;
    return out;
}

static int endpoint_is(const endpoint *e, const char *source)
{
    return e->source && strcmp(e->source, source) == 0;
}

/* The docker CLI's rule: DOCKER_TLS_VERIFY set to anything non-empty
 * (even "0") means TLS with verification, for DOCKER_HOST and -H alike. */
static int endpoint_env_tls(const endpoint *e)
{
    const char *v = getenv("DOCKER_TLS_VERIFY");
    return v && *v && (endpoint_is(e, "DOCKER_HOST") || endpoint_is(e, "remote_url"));
}

static int endpoint_wants_tls(const endpoint_query *q, const endpoint *e)
{
    return q->tls_ca || q->tls_cert || q->tls_key || q->tls_verify == 1 || endpoint_env_tls(e);
}

/* tcp://host becomes https://host. */
static void endpoint_promote_tls(endpoint *e, int *oom)
{
    char *base = endpoint_printf("https://%s", e->base_url + strlen("http://"));
    char *display = endpoint_printf("https://%s", e->display + strlen("tcp://"));
    free(e->base_url);
    free(e->display);
    e->base_url = base;
    e->display = display;
    e->transport = TRANSPORT_TLS;
    *oom |= !base || !display;
}

/* dir/name when it is readable: a file the docker CLI would use. */
static char *endpoint_cert_file(const char *dir, const char *name, int *oom)
{
    if (!dir || !*dir)
        return NULL;
    char *path = endpoint_printf("%s/%s", dir, name);
    *oom |= path == NULL;
    if (path && access(path, R_OK) != 0) {
        free(path);
        path = NULL;
    }
    return path;
}

/* The config's files, else DOCKER_CERT_PATH's ca.pem, cert.pem, key.pem
 * (else ~/.docker's when DOCKER_TLS_VERIFY asked for TLS). */
static void endpoint_tls_files(const endpoint_query *q, endpoint *e, int *oom)
{
    const char *dir = getenv("DOCKER_CERT_PATH");
    char home[512] = "";
    if ((!dir || !*dir) && endpoint_env_tls(e) && getenv("HOME")) {
        snprintf(home, sizeof home, "%s/.docker", getenv("HOME"));
        dir = home;
    }
    e->tls.ca = q->tls_ca ? strdup(q->tls_ca) : endpoint_cert_file(dir, "ca.pem", oom);
    e->tls.cert = q->tls_cert ? strdup(q->tls_cert) : endpoint_cert_file(dir, "cert.pem", oom);
    e->tls.key = q->tls_key ? strdup(q->tls_key) : endpoint_cert_file(dir, "key.pem", oom);
    *oom |= (q->tls_ca && !e->tls.ca) || (q->tls_cert && !e->tls.cert) || (q->tls_key && !e->tls.key);
    e->tls.verify = q->tls_verify >= 0 ? q->tls_verify : 1;
}

static void endpoint_credentials(const endpoint_query *q, endpoint *e, int *oom)
{
    if (q->username) {
        free(e->username);
        e->username = strdup(q->username);
        *oom |= !e->username;
    }
    if (q->password || q->username) {
        free(e->password);
        e->password = strdup(q->password ? q->password : "");
        *oom |= !e->password;
    }
}

static void endpoint_ssh_settings(const endpoint_query *q, endpoint *e, int *oom)
{
    const char *key = q->identity_file;
    /* podman's own variable for the key of a CONTAINER_HOST=ssh://... */
    if (!key && endpoint_is(e, "CONTAINER_HOST") && getenv("CONTAINER_SSHKEY") && *getenv("CONTAINER_SSHKEY"))
        key = getenv("CONTAINER_SSHKEY");
    e->ssh.identity_file = endpoint_strdup_or_null(key);
    *oom |= key && !e->ssh.identity_file;
    e->ssh.options = endpoint_strv_dup(q->ssh_options, oom);
}

/* Adds to a parsed candidate what its transport needs from the query and
 * the environment. Returns -1 on out-of-memory. */
static int endpoint_apply(const endpoint_query *q, endpoint *e)
{
    int oom = 0;
    if (e->transport == TRANSPORT_TCP || e->transport == TRANSPORT_TLS) {
        endpoint_credentials(q, e, &oom);
        if (e->transport == TRANSPORT_TCP && endpoint_wants_tls(q, e))
            endpoint_promote_tls(e, &oom);
        if (e->transport == TRANSPORT_TLS && !oom)
            endpoint_tls_files(q, e, &oom);
    } else if (e->transport == TRANSPORT_SSH) {
        endpoint_ssh_settings(q, e, &oom);
    }
    return oom ? -1 : 0;
}

/* ---- the candidates ---- */

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

/* Completes a parsed candidate and adds it; consumes e either way. */
static int endpoint_add(endpoint_list *l, const endpoint_query *q, endpoint *e, char *err, size_t errlen)
{
    if (endpoint_apply(q, e) != 0 || endpoint_push(l, e) != 0) {
        endpoint_clear(e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
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
    char err[256] = "out of memory";
    memset(&e, 0, sizeof e);
    if (endpoint_parse_unix(path, &e, err, sizeof err) != 0 || !endpoint_complete(&e)) {
        endpoint_clear(&e);
        endpoint_note_skip(l, err);
        return;
    }
    e.source = source;
    e.docker_only = docker_only;
    if (endpoint_push(l, &e) != 0)
        endpoint_clear(&e);
}

static int endpoint_from_env(endpoint_list *l, const endpoint_query *q, const char *var, int docker_only, char *err,
                             size_t errlen)
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
    return endpoint_add(l, q, &e, err, errlen);
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
        return endpoint_add(out, q, &e, err, errlen);
    }
    if (!q->auto_detect)
        return 0;
    if ((rc = endpoint_from_env(out, q, "CONTAINER_HOST", 0, err, errlen)) != 0)
        goto fail;
    if (q->fallback_to_docker && (rc = endpoint_from_env(out, q, "DOCKER_HOST", 1, err, errlen)) != 0)
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
