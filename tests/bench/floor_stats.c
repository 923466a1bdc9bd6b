/* floor_stats — the least a client can do to take one-shot stats of many
 * containers at once: libcurl's multi interface, every request in flight
 * together, cJSON on each body. moonpod's concurrent get_container_stats is
 * measured against it.
 *
 *   floor_stats SOCKET LIST_PATH each STATS_PATH   (Docker)
 *   floor_stats SOCKET LIST_PATH all  STATS_PATH   (Podman)
 *
 * LIST_PATH lists the containers to sample (a JSON array of objects with
 * "Id"); it is asked first and not timed. Then, timed:
 *   each: one request per container, all concurrent, STATS_PATH with "{id}"
 *         replaced by the container's id (Docker has no multi-container
 *         stats endpoint);
 *   all:  one request, STATS_PATH followed by "&containers=ID" for every
 *         container (Podman's libpod endpoint samples many in one answer).
 * Prints the number of samples, "mem_bytes <sum of memory usage>" and
 * "fetch_us <µs>" for the timed part (requests and parsing). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len, cap;
} body;

typedef struct {
    CURL *h;
    body b;
    char *url;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

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
            return 0;
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

static char *url_for(const char *path)
{
    /* The host part is ignored over a unix socket. */
    size_t n = strlen("http://localhost") + strlen(path) + 1;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "http://localhost%s", path);
    return url;
}

static void xfer_setup(xfer *x, const char *sock, char *url)
{
    x->url = url;
    x->h = curl_easy_init();
    if (!x->h || !url) {
        fprintf(stderr, "floor_stats: out of memory\n");
        exit(1);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, &x->b);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
}

static void xfer_free(xfer *x)
{
    curl_easy_cleanup(x->h);
    free(x->b.data);
    free(x->url);
}

/* Runs every transfer of `m` to the end; 0 when all answered 200. */
static int run_multi(CURLM *m)
{
    int running = 1, rc = 0;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            return -1;
        if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
            return -1;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        xfer *x;
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (msg->data.result != CURLE_OK || status != 200) {
            fprintf(stderr, "floor_stats: GET %s: %s (HTTP %ld)\n", x->url,
                    x->errbuf[0] ? x->errbuf : curl_easy_strerror(msg->data.result), status);
            rc = -1;
        }
    }
    return rc;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Replaces the first "{id}" of tmpl with id. */
static char *fill(const char *tmpl, const char *id)
{
    const char *at = strstr(tmpl, "{id}");
    if (!at)
        return NULL;
    size_t n = strlen(tmpl) - 4 + strlen(id) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s%s%s", (int)(at - tmpl), tmpl, id, at + 4);
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[3], "each") != 0 && strcmp(argv[3], "all") != 0)) {
        fprintf(stderr, "usage: %s SOCKET LIST_PATH each|all STATS_PATH\n", argv[0]);
        return 2;
    }
    const char *sock = argv[1], *list_path = argv[2], *stats_path = argv[4];
    int each = strcmp(argv[3], "each") == 0;
    if (each && !strstr(stats_path, "{id}")) {
        fprintf(stderr, "floor_stats: STATS_PATH for 'each' needs {id}\n");
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURLM *m = curl_multi_init();
    if (!m)
        return 1;

    /* The list, untimed: what every program does after connecting. */
    xfer list = {0};
    xfer_setup(&list, sock, url_for(list_path));
    curl_multi_add_handle(m, list.h);
    if (run_multi(m) != 0)
        return 1;
    curl_multi_remove_handle(m, list.h);
    cJSON *arr = cJSON_ParseWithLength(list.b.data ? list.b.data : "", list.b.len);
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "floor_stats: GET %s: not a JSON array\n", list_path);
        return 1;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0) {
        fprintf(stderr, "floor_stats: no containers to sample\n");
        return 1;
    }
    const char **ids = calloc((size_t)n, sizeof *ids);
    int i = 0;
    for (cJSON *c = arr->child; c; c = c->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "Id");
        if (!cJSON_IsString(id)) {
            fprintf(stderr, "floor_stats: a listed container has no Id\n");
            return 1;
        }
        ids[i++] = id->valuestring;
    }

    int nx = each ? n : 1;
    xfer *xs = calloc((size_t)nx, sizeof *xs);
    if (!ids || !xs)
        return 1;
    /* URLs are built before the clock starts: the timed part is the
     * requests and the parsing, as in the other programs. */
    if (each) {
        for (i = 0; i < n; i++) {
            char *path = fill(stats_path, ids[i]);
            if (!path)
                return 1;
            xfer_setup(&xs[i], sock, url_for(path));
            free(path);
        }
    } else {
        size_t len = strlen(stats_path) + 1;
        for (i = 0; i < n; i++)
            len += strlen("&containers=") + strlen(ids[i]);
        char *path = malloc(len);
        if (!path)
            return 1;
        strcpy(path, stats_path);
        for (i = 0; i < n; i++) {
            strcat(path, "&containers=");
            strcat(path, ids[i]);
        }
        xfer_setup(&xs[0], sock, url_for(path));
        free(path);
    }

    double t0 = now_us();
    for (i = 0; i < nx; i++)
        curl_multi_add_handle(m, xs[i].h);
    if (run_multi(m) != 0)
        return 1;
    int samples = 0;
    double mem = 0;
    for (i = 0; i < nx; i++) {
        cJSON *doc = cJSON_ParseWithLength(xs[i].b.data ? xs[i].b.data : "", xs[i].b.len);
        if (!cJSON_IsObject(doc)) {
            fprintf(stderr, "floor_stats: GET %s: not a JSON object\n", xs[i].url);
            return 1;
        }
        if (each) {
            mem += num(cJSON_GetObjectItemCaseSensitive(doc, "memory_stats"), "usage");
            samples++;
        } else {
            /* Podman 4.3 may answer with more entries than it was asked
             * for (other containers, repeats): each asked one counts once */
            const cJSON *list_ = cJSON_GetObjectItemCaseSensitive(doc, "Stats");
            char *seen = calloc((size_t)n, 1);
            for (const cJSON *s = cJSON_IsArray(list_) ? list_->child : NULL; s; s = s->next) {
                const cJSON *cid = cJSON_GetObjectItemCaseSensitive(s, "ContainerID");
                for (int k = 0; seen && cJSON_IsString(cid) && k < n; k++) {
                    if (!seen[k] && strcmp(ids[k], cid->valuestring) == 0) {
                        seen[k] = 1;
                        mem += num(s, "MemUsage");
                        samples++;
                        break;
                    }
                }
            }
            free(seen);
        }
        cJSON_Delete(doc);
    }
    double elapsed = now_us() - t0;

    printf("%d\n", samples);
    printf("mem_bytes %.0f\n", mem);
    printf("fetch_us %.1f\n", elapsed);
    for (i = 0; i < nx; i++) {
        curl_multi_remove_handle(m, xs[i].h);
        xfer_free(&xs[i]);
    }
    xfer_free(&list);
    free(xs);
    free(ids);
    cJSON_Delete(arr);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
