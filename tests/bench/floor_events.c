/* floor_events — the least a client can do with an event stream: libcurl's
 * easy interface streaming the body through a write callback that splits
 * it into lines (events do not align with the chunks) and either only
 * counts them (raw: the transport's floor) or parses each with cJSON and
 * reads Action and Actor.Attributes.name (cjson: the floor of any client
 * that builds a tree per event). moonpod's listener is measured against it.
 *
 *   floor_events SOCKET N raw|cjson
 *
 * Stops after N events. Prints "events <n>" and "read_us <µs>" for the
 * request alone (monotonic clock). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES (1u << 20)

typedef struct {
    int parse;
    unsigned long long n, want, chars;
    char *line;      /* a line split across chunks */
    size_t len;
} sink;

static void one_event(sink *s, const char *p, size_t n)
{
    s->n++;
    if (!s->parse)
        return;
    cJSON *ev = cJSON_ParseWithLength(p, n);
    if (!ev)
        return;
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(ev, "Action");
    const cJSON *actor = cJSON_GetObjectItemCaseSensitive(ev, "Actor");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(attrs, "name");
    if (cJSON_IsString(action))
        s->chars += strlen(action->valuestring);
    if (cJSON_IsString(name))
        s->chars += strlen(name->valuestring);
    cJSON_Delete(ev);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t total = size * nmemb, i = 0;
    while (i < total && s->n < s->want) {
        char *nl = memchr(ptr + i, '\n', total - i);
        size_t k = nl ? (size_t)(nl - (ptr + i)) : total - i;
        if (!nl || s->len) {
            if (s->len + k > LINE_MAX_BYTES)
                return 0;
            memcpy(s->line + s->len, ptr + i, k);
            s->len += k;
        }
        if (nl) {
            if (s->len) {
                one_event(s, s->line, s->len);
                s->len = 0;
            } else if (k) {
                one_event(s, ptr + i, k);
            }
            i += k + 1;
        } else {
            i = total;
        }
    }
    return s->n < s->want ? total : 0; /* 0 ends the transfer */
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "raw") != 0 && strcmp(argv[3], "cjson") != 0)) {
        fprintf(stderr, "usage: floor_events SOCKET N raw|cjson\n");
        return 2;
    }
    sink s = { .parse = strcmp(argv[3], "cjson") == 0, .want = strtoull(argv[2], NULL, 10) };
    s.line = malloc(LINE_MAX_BYTES);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    if (!s.line || !h)
        return 1;
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, argv[1]);
    curl_easy_setopt(h, CURLOPT_URL, "http://engine/v1.41/events");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    curl_easy_perform(h); /* ends with a write error once N events are in */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("events %llu\n", s.n);
    printf("read_us %lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    free(s.line);
    return s.n == s.want ? 0 : 1;
}
