/* Unit tests for src/event_file_format.c (a line of Podman's events log
 * rewritten as its API sends it; the pair below was captured from Podman
 * 4.3.1, file and API, for the same event) and src/event_file.c (following
 * a file on the loop: appends, cut lines, a file created late, Podman's
 * rotation by rename, truncation, an overlong line). */
#include "buf.h"
#include "event_file.h"
#include "event_file_format.h"
#include "event_scan.h"
#include "loop.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *FILE_LINE =
    "{\"ContainerExitCode\":3,\"ID\":\"6d9be5545040343359d4e809d308469236921a3610332676fddb2e1959652692\","
    "\"Image\":\"localhost/moonpod-test:latest\",\"Name\":\"evcmp1\",\"Status\":\"died\","
    "\"Time\":\"2026-11-28T23:54:45.127253663Z\",\"Type\":\"container\",\"Attributes\":{\"a\":\"b\"}}";
static const char *API_LINE =
    "{\"status\":\"died\",\"id\":\"6d9be5545040343359d4e809d308469236921a3610332676fddb2e1959652692\","
    "\"from\":\"localhost/moonpod-test:latest\",\"Type\":\"container\",\"Action\":\"died\",\"Actor\":{\"ID\":"
    "\"6d9be5545040343359d4e809d308469236921a3610332676fddb2e1959652692\",\"Attributes\":{\"a\":\"b\","
    "\"containerExitCode\":\"3\",\"image\":\"localhost/moonpod-test:latest\",\"name\":\"evcmp1\",\"podId\":\"\"}},"
    "\"scope\":\"local\",\"time\":1795910085,\"timeNano\":1795910085127253663}";

static void test_convert(void)
{
    buf b;
    buf_init(&b);
    is_int(evfmt_convert(FILE_LINE, strlen(FILE_LINE), &b), 0, "a file line converts");
    is_mem(b.p, b.len, API_LINE, strlen(API_LINE), "into exactly what Podman's API sent for it");

    const char *health = "{\"ID\":\"ab\",\"Image\":\"img\",\"Name\":\"n\",\"Status\":\"health_status\","
                         "\"Time\":\"2026-11-28T23:54:43.1837Z\",\"Type\":\"container\",\"PodID\":\"p1\","
                         "\"health_status\":\"unhealthy\",\"Attributes\":{\"name\":\"label-loses\",\"z\":\"1\"}}";
    buf_clear(&b);
    ev_scan scan;
    is_int(evfmt_convert(health, strlen(health), &b), 0, "a health event converts");
    is_int(ev_scan_event(b.p, b.len, &scan), 0, "and scans as an API event");
    ok(ev_str_eq(scan.health, "unhealthy"), "HealthStatus carried over");
    ok(scan.time_nano == 1795910083183700000LL, "short fraction read as nanoseconds");
    ok(ev_str_eq(ev_scan_attr(&scan, "name"), "n"), "name attribute is the event's, not a label's");
    ok(ev_str_eq(ev_scan_attr(&scan, "podId"), "p1"), "podId from PodID");
    ok(ev_str_eq(ev_scan_attr(&scan, "z"), "1"), "labels kept");

    const char *image = "{\"Name\":\"localhost/x:latest\",\"Status\":\"pull\","
                        "\"Time\":\"2026-11-28T23:54:42.978115801Z\",\"Type\":\"image\",\"Attributes\":null}";
    buf_clear(&b);
    is_int(evfmt_convert(image, strlen(image), &b), 0, "an image event with null attributes converts");
    ok(strstr(b.p, "\"id\"") == NULL && strstr(b.p, "\"from\"") == NULL, "without id or from, as the API");

    const char *bad[] = {"", "[]", "{\"Status\":\"x\",\"Type\":\"container\"}",
                         "{\"Status\":\"x\",\"Type\":\"container\",\"Time\":\"yesterday\"}", "{\"ID\":"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_clear(&b);
        is_int(evfmt_convert(bad[i], strlen(bad[i]), &b), -1, "refused: '%s'", bad[i]);
        is_int((long)b.len, 0, "and nothing written");
    }
    buf_free(&b);
}

static void test_time(void)
{
    int64_t t;
    is_int(evfmt_parse_time("1970-01-01T00:00:00Z", &t), 0, "epoch");
    ok(t == 0, "is 0");
    is_int(evfmt_parse_time("2026-11-28T23:54:45.127253663Z", &t), 0, "nine digits");
    ok(t == 1795910085127253663LL, "exact");
    is_int(evfmt_parse_time("2026-11-29T00:54:45.127253663+01:00", &t), 0, "an offset");
    ok(t == 1795910085127253663LL, "is taken off");
    is_int(evfmt_parse_time("2026-11-28T18:24:45.5-05:30", &t), 0, "a negative offset");
    ok(t == 1795910085500000000LL, "is added");
    const char *bad[] = {"2026-11-28", "2026-11-28T23:54:45", "2026-13-28T23:54:45Z", "2026-11-28T23:54:45.Z",
                         "2026-11-28T23:54:45+0100", "2026-11-28T23:54:45Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        is_int(evfmt_parse_time(bad[i], &t), -1, "refused: %s", bad[i]);
}

/* ---- following ---- */

typedef struct seen {
    char text[8192];
    int lines;
} seen;

static void on_line(void *ud, const char *p, size_t n)
{
    seen *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%.*s|", (int)(n > 100 ? 100 : n), p);
    s->lines++;
}

static void append(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");
    fputs(text, fp);
    fclose(fp);
}

/* Runs the loop until `want` lines have come (or a second has gone). */
static void run_until(seen *s, int want)
{
    double end = loop_wall_now() + 1.0;
    while (s->lines < want && loop_wall_now() < end)
        uv_run(loop_get(), UV_RUN_ONCE);
    /* and a little more, to catch lines that should not come */
    double more = loop_wall_now() + 0.05;
    while (loop_wall_now() < more)
        uv_run(loop_get(), UV_RUN_NOWAIT);
}

static void test_follow(void)
{
    char dir[] = "/tmp/moonpod-evfile-XXXXXX", path[256], tmp[300], err[256];
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/events.log", dir);
    snprintf(tmp, sizeof tmp, "%s/rotating", dir);
    append(path, "old-1\nold-2\n");
    seen s = {"", 0};
    /* a timer keeps uv_run from returning early while nothing else is active */
    uv_timer_t tick;
    uv_timer_init(loop_get(), &tick);
    evfile *f = evfile_follow(path, on_line, &s, err, sizeof err);
    ok(f != NULL, "follows a file (%s)", f ? "" : err);
    if (!f)
        return;
    append(path, "new-1\nnew-");
    run_until(&s, 1);
    is_mem(s.text, strlen(s.text), "new-1|", 6, "only what is written after it starts; a cut line waits");
    append(path, "2\n");
    run_until(&s, 2);
    is_mem(s.text, strlen(s.text), "new-1|new-2|", 12, "the cut line, once whole");

    /* Podman's rotation: the newer half is copied to a new file that is renamed over the log */
    append(tmp, "new-2\nrot-1\n");
    append(path, "last-of-old\n");
    rename(tmp, path);
    append(path, "rot-2\n");
    run_until(&s, 6);
    is_mem(s.text, strlen(s.text), "new-1|new-2|last-of-old|new-2|rot-1|rot-2|", 42,
           "after a rotation: the rest of the old file, then the new one from its start");
    is_int((long)evfile_get_counts(f).rotations, 1, "one rotation counted");

    s.text[0] = '\0';
    s.lines = 0;
    truncate(path, 0);
    append(path, "after-truncate\n");
    run_until(&s, 1);
    is_mem(s.text, strlen(s.text), "after-truncate|", 15, "a truncated file is read from its start");

    s.text[0] = '\0';
    s.lines = 0;
    char *big = malloc(EVFILE_MAX_LINE + 10);
    memset(big, 'x', EVFILE_MAX_LINE + 8);
    big[EVFILE_MAX_LINE + 8] = '\n';
    big[EVFILE_MAX_LINE + 9] = '\0';
    append(path, big);
    append(path, "small\n");
    free(big);
    run_until(&s, 1);
    is_mem(s.text, strlen(s.text), "small|", 6, "an overlong line is skipped, the next one read");
    is_int((long)evfile_get_counts(f).overlong, 1, "and counted");

    unlink(path);
    s.text[0] = '\0';
    s.lines = 0;
    append(path, "created-again\n");
    run_until(&s, 1);
    is_mem(s.text, strlen(s.text), "created-again|", 14, "a file removed and created again is read from its start");

    evfile_stop(f);
    append(path, "after-stop\n");
    s.text[0] = '\0';
    run_until(&s, 1);
    is_int((long)strlen(s.text), 0, "nothing after stop");
    ok(evfile_follow("relative.log", on_line, &s, err, sizeof err) == NULL, "a relative path is refused");
    ok(evfile_follow("/nonexistent-dir/x/events.log", on_line, &s, err, sizeof err) == NULL,
       "a directory that isn't there is refused: %s", err);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop_get(), UV_RUN_NOWAIT);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_convert();
    test_time();
    test_follow();
    return tap_done();
}
