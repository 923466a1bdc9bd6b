/* Unit tests for models.c and endpoint.c: the engines' JSON shapes (taken
 * from Podman 4.3 and Docker 20.10 answers) turned into one model, and
 * engine addresses parsed. */
#include <cJSON.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "models.h"
#include "tap.h"

static const char *podman_list_item =
    "{\"AutoRemove\":false,\"Command\":[\"sh\"],\"Created\":\"2026-11-28T14:31:33.210934686Z\","
    "\"Exited\":false,\"ExitCode\":0,\"Id\":\"3f6e\",\"Image\":\"localhost/moonpod-test:latest\","
    "\"Labels\":{\"app\":\"web\"},\"Names\":[\"t1\"],\"Pod\":\"\",\"State\":\"running\","
    "\"Ports\":[{\"host_ip\":\"\",\"container_port\":80,\"host_port\":8080,\"range\":2,\"protocol\":\"tcp\"}]}";

static const char *docker_list_item =
    "{\"Id\":\"0565\",\"Names\":[\"/t1\"],\"Image\":\"moonpod-test:latest\",\"Created\":1795876293,"
    "\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"},"
    "{\"IP\":\"::\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"},"
    "{\"PrivatePort\":53,\"Type\":\"udp\"}],"
    "\"Labels\":{\"app\":\"web\"},\"State\":\"exited\",\"Status\":\"Exited (0) 2 seconds ago\"}";

static const char *docker_inspect =
    "{\"Id\":\"0565\",\"Created\":\"2026-11-28T14:31:33.4841Z\",\"Name\":\"/t1\","
    "\"State\":{\"Status\":\"paused\",\"Running\":true},"
    "\"Config\":{\"Image\":\"moonpod-test:latest\",\"Labels\":{\"app\":\"web\",\"n\":\"1\"}},"
    "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"},"
    "{\"HostIp\":\"::\",\"HostPort\":\"8080\"}],\"9000/udp\":null}}}";

static const char *podman_inspect =
    "{\"Id\":\"3f6e\",\"Created\":\"2026-11-28T15:31:33.2+01:00\",\"Name\":\"t1\","
    "\"ImageName\":\"localhost/moonpod-test:latest\","
    "\"State\":{\"Status\":\"configured\"},\"Config\":{\"Labels\":null},"
    "\"NetworkSettings\":{\"Ports\":{}}}";

/* Pushes the model for `json` (which it owns) and returns its stack index. */
static int push_model(lua_State *L, const char *json, engine_runtime rt)
{
    model_push_container(L, cJSON_Parse(json), rt, NULL);
    return lua_gettop(L);
}

static const char *field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s ? s : "(nil)";
}

static double num(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The ports list joined with "," */
static const char *ports(lua_State *L, int t, char *out, size_t n)
{
    out[0] = '\0';
    lua_getfield(L, t, "ports");
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        strncat(out, lua_tostring(L, -1), n - strlen(out) - 2);
        strcat(out, ",");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return out;
}

static const char *label(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, "labels");
    lua_getfield(L, -1, k);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 2);
    return s ? s : "(nil)";
}

static void test_lists(lua_State *L)
{
    char buf[256];
    int p = push_model(L, podman_list_item, RUNTIME_PODMAN);
    is_str(field(L, p, "id"), "3f6e", "podman list: id");
    is_str(field(L, p, "name"), "t1", "podman list: name");
    is_str(field(L, p, "image"), "localhost/moonpod-test:latest", "podman list: image");
    is_str(field(L, p, "status"), "running", "podman list: status");
    is_int((long long)num(L, p, "created_at"), 1795876293LL, "podman list: RFC 3339 created, whole seconds");
    is_str(ports(L, p, buf, sizeof buf), "8080-8081:80-81/tcp,", "podman list: a port range");
    is_str(label(L, p, "app"), "web", "podman list: labels");
    is_str(field(L, p, "runtime"), "podman", "podman list: runtime");

    int d = push_model(L, docker_list_item, RUNTIME_DOCKER);
    is_str(field(L, d, "name"), "t1", "docker list: the leading / goes");
    is_str(field(L, d, "status"), "exited", "docker list: status");
    is_int((long long)num(L, d, "created_at"), 1795876293LL, "docker list: epoch created");
    is_str(ports(L, d, buf, sizeof buf), "53/udp,8080:80/tcp,", "docker list: one entry per binding, sorted");
    lua_pushstring(L, "raw");
    ok(lua_rawget(L, d) == LUA_TNIL, "docker list: raw is not built before it is read");
    lua_pop(L, 1);
    lua_getfield(L, d, "raw");
    lua_getfield(L, -1, "Status");
    is_str(lua_tostring(L, -1), "Exited (0) 2 seconds ago", "docker list: the engine's JSON is kept in raw");
    lua_pop(L, 2);
    lua_pushstring(L, "raw");
    ok(lua_rawget(L, d) == LUA_TTABLE, "docker list: raw stays once built");
    lua_pop(L, 1);
    lua_getfield(L, d, "nothing");
    ok(lua_isnil(L, -1), "docker list: other absent fields are nil");
    lua_pop(L, 1);
    lua_settop(L, 0);
}

/* A list hands each element to its model, and pairs() sees raw too. */
static void test_raw_by_pairs(lua_State *L)
{
    cJSON *list = cJSON_Parse("[{\"Id\":\"a\",\"Names\":[\"/x\"],\"State\":\"running\"},7,"
                              "{\"Id\":\"b\",\"Names\":[\"/y\"],\"State\":\"exited\"}]");
    model_push_container_list(L, list, RUNTIME_DOCKER, "mine");
    cJSON_Delete(list);
    is_int(lua_rawlen(L, -1), 2, "list: objects only");
    lua_rawgeti(L, -1, 2);
    is_str(field(L, -1, "runtime"), "mine", "list: the runtime name given");
    int c = lua_gettop(L);
    luaL_loadstring(L, "local seen for k, v in pairs(...) do if k == 'raw' then seen = v.Id end end return seen");
    lua_pushvalue(L, c);
    lua_call(L, 1, 1);
    is_str(lua_tostring(L, -1), "b", "pairs: raw appears among the fields");
    lua_settop(L, 0);
}

static void test_inspects(lua_State *L)
{
    char buf[256];
    int d = push_model(L, docker_inspect, RUNTIME_DOCKER);
    is_str(field(L, d, "name"), "t1", "docker inspect: name");
    is_str(field(L, d, "image"), "moonpod-test:latest", "docker inspect: image from Config");
    is_str(field(L, d, "status"), "paused", "docker inspect: status from State.Status");
    is_int((long long)num(L, d, "created_at"), 1795876293LL, "docker inspect: created");
    is_str(ports(L, d, buf, sizeof buf), "8080:80/tcp,9000/udp,", "docker inspect: port map");
    is_str(label(L, d, "n"), "1", "docker inspect: labels from Config");

    int p = push_model(L, podman_inspect, RUNTIME_PODMAN);
    is_str(field(L, p, "image"), "localhost/moonpod-test:latest", "podman inspect: image from ImageName");
    is_str(field(L, p, "status"), "created", "podman inspect: configured is created");
    is_int((long long)num(L, p, "created_at"), 1795876293LL, "podman inspect: offset applied");
    is_str(ports(L, p, buf, sizeof buf), "", "podman inspect: no ports");
    lua_getfield(L, p, "labels");
    ok(lua_istable(L, -1), "podman inspect: null labels are an empty table");
    lua_settop(L, 0);
}

static void test_status_words(void)
{
    static const char *const pairs[][2] = {
        {"running", "running"}, {"stopped", "exited"},   {"exited", "exited"},
        {"created", "created"}, {"initialized", "created"}, {"paused", "paused"},
        {"Restarting", "restarting"}, {"removing", "removing"}, {"dead", "dead"},
        {"stopping", "running"}, {"weird", "unknown"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        is_str(model_status(pairs[i][0]), pairs[i][1], "status %s -> %s", pairs[i][0], pairs[i][1]);
    is_str(model_status(NULL), "unknown", "no status is unknown");
}

static void test_times(void)
{
    double t;
    ok(model_parse_time("2026-11-28T14:31:33Z", &t) == 0 && t == 1795876293.0, "time: plain Z");
    ok(model_parse_time("2026-11-28T14:31:33.5Z", &t) == 0 && t == 1795876293.5, "time: fraction");
    ok(model_parse_time("2026-11-28T09:31:33-05:00", &t) == 0 && t == 1795876293.0, "time: negative offset");
    ok(model_parse_time("1970-01-01T00:00:00Z", &t) == 0 && t == 0, "time: the epoch");
    ok(model_parse_time("2000-02-29T12:00:00Z", &t) == 0 && t == 951825600.0, "time: a leap day");
    ok(model_parse_time("2024-12-31T23:59:59Z", &t) == 0 && t == 1735689599.0, "time: the end of a leap year");
    ok(model_parse_time("2026-13-01T00:00:00Z", &t) != 0, "time: month 13 is rejected");
    ok(model_parse_time("0001-01-01T00:00:00Z", &t) != 0, "time: Go's zero time is no time");
    ok(model_parse_time("2026-11-28", &t) != 0, "time: a date alone is rejected");
    ok(model_parse_time("garbage", &t) != 0, "time: garbage is rejected");
    ok(model_parse_time("2026-11-28T14:31:33", &t) != 0, "time: a missing zone is rejected");
}

static void test_endpoints(void)
{
    endpoint e;
    char err[256];
    ok(endpoint_parse("unix:///run/x.sock", "t", &e, err, sizeof err) == 0 && e.transport == TRANSPORT_UNIX &&
           strcmp(e.socket_path, "/run/x.sock") == 0 && strcmp(e.display, "unix:///run/x.sock") == 0,
       "endpoint: unix://");
    endpoint_clear(&e);
    ok(endpoint_parse("/run/x.sock", "t", &e, err, sizeof err) == 0 && e.transport == TRANSPORT_UNIX,
       "endpoint: a bare path");
    endpoint_clear(&e);
    ok(endpoint_parse("tcp://127.0.0.1:2375", "t", &e, err, sizeof err) == 0 && e.transport == TRANSPORT_TCP &&
           strcmp(e.base_url, "http://127.0.0.1:2375") == 0,
       "endpoint: tcp://");
    endpoint_clear(&e);
    ok(endpoint_parse("http://host:8080/ignored", "t", &e, err, sizeof err) == 0 &&
           strcmp(e.base_url, "http://host:8080") == 0,
       "endpoint: http:// keeps host and port");
    endpoint_clear(&e);
    ok(endpoint_parse("relative.sock", "t", &e, err, sizeof err) == ENDPOINT_MALFORMED, "endpoint: relative path");
    ok(endpoint_parse("ftp://x", "t", &e, err, sizeof err) == ENDPOINT_MALFORMED, "endpoint: unknown scheme");
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    ok(endpoint_parse(longpath, "t", &e, err, sizeof err) == ENDPOINT_MALFORMED && strstr(err, "too long"),
       "endpoint: a socket path longer than sun_path");
}

static void test_candidates(void)
{
    endpoint_list l;
    char err[256];
    setenv("CONTAINER_HOST", "unix:///a.sock", 1);
    setenv("DOCKER_HOST", "tcp://127.0.0.1:1", 1);
    endpoint_query q = {.auto_detect = 1, .fallback_to_docker = 1};
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n >= 2 &&
           strcmp(l.items[0].source, "CONTAINER_HOST") == 0 && strcmp(l.items[1].source, "DOCKER_HOST") == 0,
       "candidates: CONTAINER_HOST first, then DOCKER_HOST");
    endpoint_list_free(&l);
    q.fallback_to_docker = 0;
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n == 1, "candidates: no Docker without fallback");
    endpoint_list_free(&l);
    q.socket_path = "/explicit.sock";
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n == 1 && strcmp(l.items[0].source, "socket_path") == 0,
       "candidates: an explicit socket is the only one");
    endpoint_list_free(&l);
    q.socket_path = NULL;
    setenv("CONTAINER_HOST", "nonsense", 1);
    ok(endpoint_candidates(&q, &l, err, sizeof err) == ENDPOINT_MALFORMED && strstr(err, "CONTAINER_HOST"),
       "candidates: a malformed CONTAINER_HOST is reported by name");
    unsetenv("CONTAINER_HOST");
    unsetenv("DOCKER_HOST");
    q.auto_detect = 0;
    ok(endpoint_candidates(&q, &l, err, sizeof err) == 0 && l.n == 0, "candidates: none without auto_detect");
    endpoint_list_free(&l);
}

/* The view's name, image and exit code: the first attribute of each key,
 * an escaped key read decoded, the image from "from" when no attribute
 * has it, Docker's exitCode before Podman's containerExitCode. */
static void test_event_view_attributes(void)
{
    static const char *docker_die =
        "{\"Type\":\"container\",\"Action\":\"die\",\"from\":\"img-from\",\"Actor\":{\"ID\":\"0123456789ab\","
        "\"Attributes\":{\"containerExitCode\":\"9\",\"na\\u006de\":\"first\",\"exitCode\":\"137\",\"name\":\"second\","
        "\"app\":\"web\"}},\"timeNano\":1795880423799084896}";
    static const char *podman_died =
        "{\"Type\":\"container\",\"Action\":\"died\",\"Actor\":{\"ID\":\"0123456789ab\","
        "\"Attributes\":{\"image\":\"img-attr\",\"containerExitCode\":\"3\",\"name\":\"p1\"}},\"timeNano\":1}";
    ev_scan e;
    event_view v;
    char buf[64];
    ok(ev_scan_event(docker_die, strlen(docker_die), &e) == 0, "view: docker die scans");
    model_event_view(&e, &v);
    ev_str_copy(v.name, buf, sizeof buf);
    is_str(buf, "first", "view: the first name, its key escaped");
    ev_str_copy(v.image, buf, sizeof buf);
    is_str(buf, "img-from", "view: the image from 'from' when no attribute has one");
    ok(v.has_exit_code && v.exit_code == 137, "view: Docker's exitCode first (%ld)", v.exit_code);
    ok(ev_scan_event(podman_died, strlen(podman_died), &e) == 0, "view: podman died scans");
    model_event_view(&e, &v);
    ev_str_copy(v.image, buf, sizeof buf);
    is_str(buf, "img-attr", "view: the image attribute");
    is_str(v.action, "die", "view: died is die");
    ok(v.has_exit_code && v.exit_code == 3, "view: Podman's containerExitCode (%ld)", v.exit_code);
}

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    model_register(L);
    test_lists(L);
    test_raw_by_pairs(L);
    test_inspects(L);
    test_status_words();
    test_times();
    test_endpoints();
    test_candidates();
    test_event_view_attributes();
    lua_close(L);
    return tap_done();
}
