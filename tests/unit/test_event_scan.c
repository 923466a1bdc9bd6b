/* Unit tests for event_scan.c: events as Podman 4.3 and Docker 20.10 send
 * them, escapes, exact timeNano, and input that is not an event. */
#include <stdio.h>
#include <string.h>

#include "event_scan.h"
#include "tap.h"

static const char *podman_died =
    "{\"status\":\"died\",\"id\":\"f82f5460\",\"from\":\"localhost/moonpod-test:latest\",\"Type\":\"container\","
    "\"Action\":\"died\",\"Actor\":{\"ID\":\"f82f5460\",\"Attributes\":{\"containerExitCode\":\"3\","
    "\"image\":\"localhost/moonpod-test:latest\",\"name\":\"ev1\",\"podId\":\"\",\"app\":\"web\"}},"
    "\"scope\":\"local\",\"time\":1795880423,\"timeNano\":1795880423799084896}";

static const char *docker_health =
    "{\"status\":\"health_status: healthy\",\"id\":\"baa5\",\"from\":\"moonpod-test:latest\",\"Type\":\"container\","
    "\"Action\":\"health_status: healthy\",\"Actor\":{\"ID\":\"baa5\",\"Attributes\":{\"image\":\"moonpod-test:latest\","
    "\"name\":\"h\\u00e9\\\"q\"}},\"scope\":\"local\",\"time\":1795880424,\"timeNano\":1795880424234975551}";

static const char *docker_network =
    "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"b23f\",\"Attributes\":{\"container\":\"baa5\","
    "\"name\":\"none\",\"type\":\"null\"}},\"scope\":\"local\",\"time\":1795880423,\"timeNano\":1795880423956199312}";

static char buf[256];

static const char *str(ev_str s)
{
    ev_str_copy(s, buf, sizeof buf);
    return buf;
}

static void test_podman(void)
{
    ev_scan e;
    ok(ev_scan_event(podman_died, strlen(podman_died), &e) == 0, "podman: scans");
    is_str(str(e.type), "container", "podman: type");
    is_str(str(e.action), "died", "podman: action");
    is_str(str(e.id), "f82f5460", "podman: id from Actor.ID");
    is_str(str(e.from), "localhost/moonpod-test:latest", "podman: from");
    ok(e.time_nano == 1795880423799084896LL, "podman: timeNano exact (%lld)", (long long)e.time_nano);
    is_int(e.nattrs, 5, "podman: attributes");
    is_str(str(ev_scan_attr(&e, "containerExitCode")), "3", "podman: exit code attribute");
    is_str(str(ev_scan_attr(&e, "app")), "web", "podman: a label attribute");
    ok(ev_scan_attr(&e, "nope").p == NULL, "podman: a missing attribute");
}

static void test_docker(void)
{
    ev_scan e;
    ok(ev_scan_event(docker_health, strlen(docker_health), &e) == 0, "docker: scans");
    ok(ev_str_eq(e.action, "health_status: healthy"), "docker: action with its detail");
    ok(ev_str_has_prefix(e.action, "health_status"), "docker: action prefix");
    ev_str name = ev_scan_attr(&e, "name");
    ok(name.escaped, "docker: an escaped name is marked");
    is_str(str(name), "h\xc3\xa9\"q", "docker: escapes decoded (\\u00e9, \\\")");
    ok(ev_str_eq(name, "h\xc3\xa9\"q"), "docker: eq decodes escapes");
    ok(ev_str_has_prefix(name, "h\xc3\xa9"), "docker: prefix across an escape");
    ok(!ev_str_has_prefix(name, "h\xc3\xa9\"qz"), "docker: a longer prefix does not match");
    ok(!ev_str_eq(name, "h\xc3\xa9\""), "docker: a shorter string is not equal");
    ok(ev_scan_event(docker_network, strlen(docker_network), &e) == 0 && ev_str_eq(e.type, "network"),
       "docker: a network event");
}

static void test_legacy_and_time(void)
{
    ev_scan e;
    const char *old = "{\"status\":\"start\",\"id\":\"abc\",\"from\":\"img\",\"time\":1700000000}";
    ok(ev_scan_event(old, strlen(old), &e) == 0, "legacy: scans");
    is_str(str(e.action), "start", "legacy: status is the action");
    is_str(str(e.id), "abc", "legacy: id");
    ok(e.time_nano == 1700000000LL * 1000000000LL, "legacy: time in seconds becomes nanoseconds");
    const char *nested = "{\"Extra\":{\"a\":[1,2,{\"b\":[true,false,null,-1.5e3]}]},\"Action\":\"stop\","
                         "\"Actor\":{\"Attributes\":{\"n\":7,\"s\":\"x\",\"o\":{\"deep\":1}},\"ID\":\"i\"}}";
    ok(ev_scan_event(nested, strlen(nested), &e) == 0, "nested unknown members are skipped");
    is_str(str(e.action), "stop", "nested: action after them");
    is_int(e.nattrs, 1, "nested: only string attributes are kept");
    is_str(str(e.id), "i", "nested: ID after Attributes");
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "", "[]", "null", "{", "{\"Action\":}", "{\"Action\":\"x\"", "{\"Action\":\"x\"} trailing",
        "{\"a\":tru}", "{\"a\":1.}", "{\"a\":[1,}", "{\"a\" 1}", "{1:2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev_scan e;
        ok(ev_scan_event(bad[i], strlen(bad[i]), &e) != 0, "rejects %zu: %s", i, bad[i]);
    }
    /* lenient on purpose: a raw control character in a string (not JSON)
     * is let through rather than checked for in every byte */
    ev_scan lenient;
    ok(ev_scan_event("{\"Action\":\"a\x01" "b\"}", 16, &lenient) == 0 && lenient.action.n == 3,
       "a raw control character in a string is kept");
    char deep[400];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"a\":");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    ev_scan e;
    ok(ev_scan_event(deep, n, &e) != 0, "nesting past the bound is refused");
}

static void test_many_attributes(void)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"Action\":\"x\",\"Actor\":{\"Attributes\":{");
    for (int i = 0; i < EV_MAX_ATTRS + 10; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\":\"v%d\"", i ? "," : "", i, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "}}}");
    ev_scan e;
    ok(ev_scan_event(text, n, &e) == 0, "many attributes: scans");
    is_int(e.nattrs, EV_MAX_ATTRS, "many attributes: kept up to the bound");
    is_int(e.attrs_dropped, 10, "many attributes: the rest counted");
}

int main(void)
{
    test_podman();
    test_docker();
    test_legacy_and_time();
    test_bad();
    test_many_attributes();
    return tap_done();
}
