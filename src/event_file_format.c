/* event_file_format — Podman's events log line → the API's event (see .h). */
#include "event_file_format.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVFMT_MAX_ATTRS 256

static int evfmt_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int evfmt_parse_time(const char *s, int64_t *nano)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (evfmt_digits(s, 4, &Y) || evfmt_digits(s + 5, 2, &M) || evfmt_digits(s + 8, 2, &D) ||
        evfmt_digits(s + 11, 2, &h) || evfmt_digits(s + 14, 2, &m) || evfmt_digits(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    int nd = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (int i = nd; i < 9; i++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || evfmt_digits(p + 1, 2, &oh) || evfmt_digits(p + 4, 2, &om))
            return -1;
        offset = (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    } else if (!((*p == 'Z' || *p == 'z') && p[1] == '\0')) {
        return -1;
    }
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - offset;
    *nano = t * 1000000000LL + frac;
    return 0;
}

static const char *evfmt_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : "";
}

typedef struct evfmt_attr {
    const char *key, *value;
    int order; /* later ones win over earlier ones of the same key */
} evfmt_attr;

static int evfmt_attr_cmp(const void *a, const void *b)
{
    const evfmt_attr *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->order - y->order;
}

/* The actor's attributes as Podman's API gives them: the event's own
 * (labels) overridden by image, name, exit code and pod, sorted by key as
 * Go writes a map. */
static cJSON *evfmt_attributes(const cJSON *ev, const char *exit_code)
{
    evfmt_attr a[EVFMT_MAX_ATTRS + 4];
    int n = 0;
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(ev, "Attributes");
    const cJSON *it;
    cJSON_ArrayForEach(it, own)
    {
        if (n < EVFMT_MAX_ATTRS && cJSON_IsString(it) && it->string) {
            a[n] = (evfmt_attr){it->string, it->valuestring, n};
            n++;
        }
    }
    const char *fixed[][2] = {{"containerExitCode", exit_code},
                              {"image", evfmt_str(ev, "Image")},
                              {"name", evfmt_str(ev, "Name")},
                              {"podId", evfmt_str(ev, "PodID")}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++, n++)
        a[n] = (evfmt_attr){fixed[i][0], fixed[i][1], n};
    qsort(a, (size_t)n, sizeof a[0], evfmt_attr_cmp);
    cJSON *attrs = cJSON_CreateObject();
    for (int i = 0; attrs && i < n; i++)
        if (i + 1 == n || strcmp(a[i].key, a[i + 1].key) != 0)
            cJSON_AddStringToObject(attrs, a[i].key, a[i].value);
    return attrs;
}

static cJSON *evfmt_build(const cJSON *ev, int64_t nano)
{
    const char *id = evfmt_str(ev, "ID"), *image = evfmt_str(ev, "Image");
    const char *status = evfmt_str(ev, "Status"), *health = evfmt_str(ev, "health_status");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(ev, "ContainerExitCode");
    char exit_code[24], secs[24], nanos[24];
    snprintf(exit_code, sizeof exit_code, "%lld", cJSON_IsNumber(code) ? (long long)code->valuedouble : 0LL);
    snprintf(secs, sizeof secs, "%lld", (long long)(nano / 1000000000LL));
    snprintf(nanos, sizeof nanos, "%lld", (long long)nano);
    cJSON *out = cJSON_CreateObject(), *actor = cJSON_CreateObject();
    if (!out || !actor) {
        cJSON_Delete(out);
        cJSON_Delete(actor);
        return NULL;
    }
    cJSON_AddStringToObject(out, "status", status);
    if (*id)
        cJSON_AddStringToObject(out, "id", id);
    if (*image)
        cJSON_AddStringToObject(out, "from", image);
    cJSON_AddStringToObject(out, "Type", evfmt_str(ev, "Type"));
    cJSON_AddStringToObject(out, "Action", status);
    cJSON_AddStringToObject(actor, "ID", id);
    cJSON_AddItemToObject(actor, "Attributes", evfmt_attributes(ev, exit_code));
    cJSON_AddItemToObject(out, "Actor", actor);
    cJSON_AddStringToObject(out, "scope", "local");
    /* a double can't hold timeNano: written as the exact digits */
    cJSON_AddItemToObject(out, "time", cJSON_CreateRaw(secs));
    cJSON_AddItemToObject(out, "timeNano", cJSON_CreateRaw(nanos));
    if (*health)
        cJSON_AddStringToObject(out, "HealthStatus", health);
    return out;
}

int evfmt_convert(const char *p, size_t n, buf *out)
{
    cJSON *ev = cJSON_ParseWithLength(p, n);
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(ev, "Time");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "Type");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(ev, "Status");
    int64_t nano;
    if (!cJSON_IsObject(ev) || !cJSON_IsString(tm) || !cJSON_IsString(type) || !cJSON_IsString(status) ||
        evfmt_parse_time(tm->valuestring, &nano) != 0) {
        cJSON_Delete(ev);
        return -1;
    }
    cJSON *api = evfmt_build(ev, nano);
    char *text = api ? cJSON_PrintUnformatted(api) : NULL;
    cJSON_Delete(api);
    cJSON_Delete(ev);
    if (!text)
        return -1;
    buf_puts(out, text);
    cJSON_free(text);
    return 0;
}
