/* floor — the least a client can do to list containers: libcurl's easy
 * interface on one handle (so the connection is reused), cJSON on each body.
 * moonpod is measured against it; anything moonpod spends beyond this is its
 * own overhead, not the engine's.
 *
 *   floor SOCKET PATH N
 *
 * Prints the number of elements of the last body's JSON array; when N > 1 a
 * second line "loop_us <µs>" gives the time of the N requests alone, taken
 * with the monotonic clock (process start-up excluded, as for the peers).
 * N = 0 initialises libcurl and a handle, asks nothing and prints nothing:
 * what merely linking and starting Debian's libcurl costs in memory, which
 * no client built on it can go below. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len, cap;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET PATH N\n", argv[0]);
        return 2;
    }
    const char *sock = argv[1], *path = argv[2];
    char *end;
    errno = 0;
    long n = strtol(argv[3], &end, 10);
    if (errno || *end || n < 0) {
        fprintf(stderr, "floor: N must be a non-negative integer\n");
        return 2;
    }
    /* The host part is ignored over a unix socket; engines only need it to
     * be a valid Host header. */
    size_t url_len = strlen("http://localhost") + strlen(path) + 1;
    char *url = malloc(url_len);
    if (!url)
        return 1;
    snprintf(url, url_len, "http://localhost%s", path);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "floor: curl_global_init failed\n");
        return 1;
    }
    CURL *h = curl_easy_init();
    if (!h)
        return 1;
    if (n == 0) {
        curl_easy_cleanup(h);
        curl_global_cleanup();
        free(url);
        return 0;
    }
    body b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);

    int count = -1, rc = 0;
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        b.len = 0;
        CURLcode res = curl_easy_perform(h);
        if (res != CURLE_OK) {
            fprintf(stderr, "floor: GET %s: %s\n", path, errbuf[0] ? errbuf : curl_easy_strerror(res));
            rc = 1;
            break;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            fprintf(stderr, "floor: GET %s: HTTP %ld\n", path, status);
            rc = 1;
            break;
        }
        /* Parsing is part of the work every client does, so it is timed. */
        cJSON *doc = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
        if (!cJSON_IsArray(doc)) {
            fprintf(stderr, "floor: GET %s: body is not a JSON array\n", path);
            cJSON_Delete(doc);
            rc = 1;
            break;
        }
        count = cJSON_GetArraySize(doc);
        cJSON_Delete(doc);
    }
    double elapsed = now_us() - t0;

    if (rc == 0) {
        printf("%d\n", count);
        if (n > 1)
            printf("loop_us %.1f\n", elapsed);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    free(b.data);
    free(url);
    return rc;
}
