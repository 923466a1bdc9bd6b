/* floor_logs — the least a client can do to read a container's whole log:
 * libcurl's easy interface streaming the body through a write callback that
 * demultiplexes the 8-byte-header log frames as they come (frames do not
 * align with the chunks), counts the lines and bytes of the payload and
 * keeps nothing. moonpod's log reading is measured against it.
 *
 *   floor_logs SOCKET PATH
 *
 * PATH is the logs request moonpod makes (read from its debug log).
 * Prints "lines <n>", "bytes <payload bytes>", "frames <n>" and
 * "read_us <µs>" for the request alone (monotonic clock). */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    unsigned char hdr[8];
    size_t hdr_len;    /* header bytes held so far */
    uint32_t remaining;/* payload bytes left in the current frame */
    unsigned long long frames, bytes, lines, bad;
    unsigned char last;/* the last payload byte: a log that ends without a
                          newline has one more line */
} demux;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    demux *d = ud;
    size_t n = size * nmemb;
    const unsigned char *p = (const unsigned char *)ptr, *end = p + n;
    while (p < end) {
        if (d->remaining == 0) {
            size_t take = 8 - d->hdr_len;
            if (take > (size_t)(end - p))
                take = (size_t)(end - p);
            memcpy(d->hdr + d->hdr_len, p, take);
            d->hdr_len += take;
            p += take;
            if (d->hdr_len < 8)
                break;
            d->hdr_len = 0;
            if (d->hdr[0] > 2 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
                d->bad++;
                return 0; /* not framed: fail the transfer */
            }
            d->remaining = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 | (uint32_t)d->hdr[6] << 8 | d->hdr[7];
            d->frames++;
            continue;
        }
        size_t take = d->remaining;
        if (take > (size_t)(end - p))
            take = (size_t)(end - p);
        for (const unsigned char *q = p, *stop = p + take; (q = memchr(q, '\n', (size_t)(stop - q))); q++)
            d->lines++;
        if (take)
            d->last = p[take - 1];
        d->bytes += take;
        d->remaining -= (uint32_t)take;
        p += take;
    }
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
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET PATH\n", argv[0]);
        return 2;
    }
    const char *sock = argv[1], *path = argv[2];
    size_t url_len = strlen("http://localhost") + strlen(path) + 1;
    char *url = malloc(url_len);
    if (!url)
        return 1;
    snprintf(url, url_len, "http://localhost%s", path);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURL *h = curl_easy_init();
    if (!h)
        return 1;
    demux d = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);

    double t0 = now_us();
    CURLcode res = curl_easy_perform(h);
    double elapsed = now_us() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    if (res != CURLE_OK || status != 200) {
        fprintf(stderr, "floor_logs: GET %s: %s (HTTP %ld)%s\n", path,
                errbuf[0] ? errbuf : curl_easy_strerror(res), status,
                d.bad ? ": the body is not log frames" : "");
        rc = 1;
    } else if (d.hdr_len || d.remaining) {
        fprintf(stderr, "floor_logs: GET %s: the body ends inside a frame\n", path);
        rc = 1;
    } else {
        printf("lines %llu\n", d.lines + (d.bytes && d.last != '\n'));
        printf("bytes %llu\n", d.bytes);
        printf("frames %llu\n", d.frames);
        printf("read_us %.1f\n", elapsed);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    free(url);
    return rc;
}
