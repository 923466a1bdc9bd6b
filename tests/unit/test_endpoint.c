/* Unit tests for endpoint.c's remote addresses: https://, ssh://, credentials
 * in URLs, and the docker CLI's TLS environment. (unix:// and tcp:// are
 * covered in test_models.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"
#include "tap.h"

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void test_https(void)
{
    endpoint e;
    char err[256];
    ok(endpoint_parse("https://10.0.0.1:2376/x", "t", &e, err, sizeof err) == 0 && e.transport == TRANSPORT_TLS &&
           streq(e.base_url, "https://10.0.0.1:2376") && streq(e.display, "https://10.0.0.1:2376") && e.tls.verify,
       "https: TLS, verification on by default");
    endpoint_clear(&e);
    ok(endpoint_parse("http://bob:s%3Acret@h:80", "t", &e, err, sizeof err) == 0 && streq(e.username, "bob") &&
           streq(e.password, "s:cret") && streq(e.base_url, "http://h:80") && streq(e.display, "tcp://h:80"),
       "http: credentials leave the URL, percent-decoded");
    endpoint_clear(&e);
    ok(endpoint_parse("tcp://bob@h:1", "t", &e, err, sizeof err) == 0 && streq(e.username, "bob") &&
           streq(e.password, ""),
       "tcp: a user without a password");
    endpoint_clear(&e);
    ok(endpoint_parse("http://a:%zz@h", "t", &e, err, sizeof err) != 0, "http: a bad escape is rejected");
    ok(endpoint_parse("https://", "t", &e, err, sizeof err) != 0 && strstr(err, "missing host"), "https: no host");
}

static void test_ssh(void)
{
    endpoint e;
    char err[256];
    ok(endpoint_parse("ssh://core@host.example:2222/run/user/1000/podman/podman.sock?secure=true", "t", &e, err,
                      sizeof err) == 0 &&
           e.transport == TRANSPORT_SSH && streq(e.ssh.user, "core") && streq(e.ssh.host, "host.example") &&
           streq(e.ssh.port, "2222") && streq(e.ssh.remote_path, "/run/user/1000/podman/podman.sock") &&
           streq(e.display, "ssh://core@host.example:2222/run/user/1000/podman/podman.sock") && !e.socket_path,
       "ssh: user, host, port, path; the query is dropped");
    endpoint_clear(&e);
    ok(endpoint_parse("ssh://[::1]:22/p.sock", "t", &e, err, sizeof err) == 0 && streq(e.ssh.host, "::1") &&
           streq(e.ssh.port, "22") && !e.ssh.user,
       "ssh: an IPv6 host");
    endpoint_clear(&e);
    ok(endpoint_parse("ssh://h", "DOCKER_HOST", &e, err, sizeof err) == 0 &&
           streq(e.ssh.remote_path, "/var/run/docker.sock") && !e.ssh.port,
       "ssh: DOCKER_HOST without a path means Docker's socket");
    endpoint_clear(&e);
    ok(endpoint_parse("ssh://h", "remote_url", &e, err, sizeof err) != 0 && strstr(err, "socket path"),
       "ssh: elsewhere the path is required");
    ok(endpoint_parse("ssh://-oProxyCommand=x/p", "t", &e, err, sizeof err) != 0, "ssh: a host like an option");
    ok(endpoint_parse("ssh://-u@h/p", "t", &e, err, sizeof err) != 0, "ssh: a user like an option");
    ok(endpoint_parse("ssh://u:pw@h/p", "t", &e, err, sizeof err) != 0 && strstr(err, "identity_file"),
       "ssh: no password in the URL");
    ok(endpoint_parse("ssh://h:99999/p", "t", &e, err, sizeof err) != 0, "ssh: a bad port");
    ok(endpoint_parse("ssh://h/a:b", "t", &e, err, sizeof err) != 0, "ssh: a ':' in the remote path");
}

static void test_query_settings(void)
{
    endpoint_list l;
    char err[256];
    const char *opts[] = {"UserKnownHostsFile=/k", NULL};
    endpoint_query q = {.remote_url = "ssh://h/p", .identity_file = "/key", .ssh_options = opts, .tls_verify = -1};
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n == 1 && streq(l.items[0].ssh.identity_file, "/key") &&
           l.items[0].ssh.options && streq(l.items[0].ssh.options[0], "UserKnownHostsFile=/k") &&
           !l.items[0].ssh.options[1],
       "ssh: identity file and options from the query");
    endpoint_list_free(&l);

    endpoint_query t = {.remote_url = "tcp://u:p@h:2376", .username = "cfg", .password = "pw", .tls_verify = -1};
    ok(endpoint_candidates(&t, &l, err, sizeof err) == 0 && l.items[0].transport == TRANSPORT_TCP &&
           streq(l.items[0].username, "cfg") && streq(l.items[0].password, "pw"),
       "credentials: the config's win over the URL's");
    endpoint_list_free(&l);

    t.tls_ca = "/ca.pem";
    t.tls_verify = 0;
    ok(endpoint_candidates(&t, &l, err, sizeof err) == 0 && l.items[0].transport == TRANSPORT_TLS &&
           streq(l.items[0].base_url, "https://h:2376") && streq(l.items[0].display, "https://h:2376") &&
           streq(l.items[0].tls.ca, "/ca.pem") && !l.items[0].tls.cert && l.items[0].tls.verify == 0,
       "tls: tcp:// with TLS settings becomes https://; tls_verify = false kept");
    endpoint_list_free(&l);
}

/* DOCKER_HOST=tcp://... + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, as the docker CLI reads them. */
static void test_docker_env(void)
{
    char dir[] = "/tmp/moonpod-endpoint-test-XXXXXX", path[128];
    endpoint_list l;
    char err[256];
    ok(mkdtemp(dir) != NULL, "a temporary cert dir");
    const char *names[] = {"ca.pem", "cert.pem", "key.pem"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
    }
    unsetenv("CONTAINER_HOST");
    setenv("DOCKER_HOST", "tcp://127.0.0.1:2376", 1);
    setenv("DOCKER_TLS_VERIFY", "1", 1);
    setenv("DOCKER_CERT_PATH", dir, 1);
    endpoint_query q = {.auto_detect = 1, .fallback_to_docker = 1, .tls_verify = -1};
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n >= 1 && l.items[0].transport == TRANSPORT_TLS &&
           streq(l.items[0].display, "https://127.0.0.1:2376") && streq(l.items[0].tls.cert, path) &&
           l.items[0].tls.verify == 1,
       "env: DOCKER_TLS_VERIFY makes DOCKER_HOST TLS with DOCKER_CERT_PATH's files");
    endpoint_list_free(&l);
    unsetenv("DOCKER_TLS_VERIFY");
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n >= 1 && l.items[0].transport == TRANSPORT_TCP,
       "env: without DOCKER_TLS_VERIFY it stays plain tcp");
    endpoint_list_free(&l);
    setenv("CONTAINER_HOST", "ssh://u@h/p", 1);
    setenv("CONTAINER_SSHKEY", "/podman-key", 1);
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n >= 1 && streq(l.items[0].ssh.identity_file, "/podman-key"),
       "env: CONTAINER_SSHKEY is the key of CONTAINER_HOST=ssh://");
    endpoint_list_free(&l);
    unsetenv("CONTAINER_HOST");
    unsetenv("CONTAINER_SSHKEY");
    unsetenv("DOCKER_HOST");
    unsetenv("DOCKER_CERT_PATH");
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    test_https();
    test_ssh();
    test_query_settings();
    test_docker_env();
    return tap_done();
}
