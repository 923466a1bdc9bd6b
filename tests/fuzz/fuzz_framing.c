/* libFuzzer target for src/framing.c.
 *
 * Input: [mode] [bound] [seed] then the stream. The stream goes through all
 * three decoders twice: in one chunk, and cut into chunks whose sizes come
 * from `seed`. Whatever the bytes, the two runs must emit the same messages
 * and end with the same counters (the decoders accept any chunking), and
 * every message must respect its decoder's bound and shape. Mode bits turn
 * on callbacks that ask to stop and frame_json_reset between chunks; those
 * runs can't be compared, so only the per-message checks apply. Otherwise
 * the output must also match simple whole-input reference decoders, which
 * catches a bug that every chunking shares. */
#include "framing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

enum { MODE_STOP = 1, MODE_RESET = 2 };

/* What one run emitted, as "<stream>:<len>:<bytes>" records. */
typedef struct record {
    char *buf;
    size_t len, cap;
    size_t bound;
    size_t bytes; /* payload bytes emitted */
    int kind;     /* 0 json, 1 lines, 2 mux */
    int stop;  /* ask to stop on every third message */
    unsigned calls;
} record;

static void record_bytes(record *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;

        while (cap < r->len + n)
            cap *= 2;
        r->buf = realloc(r->buf, cap);
        CHECK(r->buf != NULL);
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
}

/* A span is one complete value: its nesting first returns to zero at its
 * last byte, outside any string. Checked with a scanner of our own. */
static void check_json_span(const char *p, size_t n, size_t bound)
{
    size_t i;
    int depth = 0, in_string = 0, escaped = 0;

    CHECK(n >= 2 && n <= bound);
    CHECK((p[0] == '{' && p[n - 1] == '}') || (p[0] == '[' && p[n - 1] == ']'));
    for (i = 0; i < n; i++) {
        char c = p[i];

        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"')
            in_string = 1;
        else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        CHECK(depth > 0 || i == n - 1);
    }
    CHECK(depth == 0 && !in_string);
}

static int on_message(void *ud, int stream, const char *p, size_t n)
{
    record *r = ud;
    char head[32];
    int len;

    if (r->kind == 0) {
        CHECK(stream == 0);
        check_json_span(p, n, r->bound);
    } else {
        CHECK(stream >= 0 && stream <= 2);
        CHECK(n <= r->bound);
        CHECK(memchr(p, '\n', n) == NULL);
        if (r->kind == 1)
            CHECK(stream == 1);
    }
    len = snprintf(head, sizeof head, "%d:%zu:", stream, n);
    record_bytes(r, head, (size_t)len);
    record_bytes(r, p, n);
    r->bytes += n;
    r->calls++;
    return r->stop && r->calls % 3 == 0;
}

typedef struct outcome {
    record rec[3];
    uint64_t json[5]; /* values, overflows, garbage, discarded, pending */
    uint64_t lines[2];
    uint64_t mux[3];  /* frames, bad_headers, refused */
} outcome;

static size_t next_chunk(uint32_t *state, size_t max)
{
    *state = *state * 1664525u + 1013904223u;
    return 1 + (*state >> 16) % max;
}

static void run(const uint8_t *p, size_t n, uint8_t mode, size_t bound, uint32_t seed,
                int chunked, outcome *o)
{
    frame_json j;
    frame_lines l;
    frame_mux m;
    size_t at = 0, k, max_chunk = 1 + seed % 97;
    uint32_t state = seed;
    int i, refused = 0, rc;

    memset(o, 0, sizeof *o);
    for (i = 0; i < 3; i++) {
        o->rec[i].kind = i;
        /* frame_lines treats a bound of 0 as 1. */
        o->rec[i].bound = i == 0 || bound > 0 ? bound : 1;
        o->rec[i].stop = (mode & MODE_STOP) != 0;
    }
    frame_json_init(&j, bound);
    frame_lines_init(&l, bound);
    frame_mux_init(&m, bound);
    while (at < n) {
        k = chunked ? next_chunk(&state, max_chunk) : n;
        if (k > n - at)
            k = n - at;
        rc = frame_json_feed(&j, (const char *)p + at, k, on_message, &o->rec[0]);
        CHECK(rc == 0);
        CHECK(j.len <= bound && j.cap <= bound);
        rc = frame_lines_feed(&l, 1, (const char *)p + at, k, on_message, &o->rec[1]);
        CHECK(rc == 0);
        CHECK(l.len <= l.max_line + 1 && l.cap <= l.max_line + 1);
        rc = frame_mux_feed(&m, (const char *)p + at, k, on_message, &o->rec[2]);
        CHECK(rc == 0 || rc == -2);
        CHECK(!refused || rc == -2); /* once refused, always refused */
        refused = rc == -2;
        CHECK(m.out.cap <= m.out.max_line + 1 && m.err.cap <= m.err.max_line + 1);
        if ((mode & MODE_RESET) && chunked)
            frame_json_reset(&j);
        at += k;
    }
    /* Every byte is emitted, discarded, pending or whitespace, once. */
    CHECK(o->rec[0].bytes + j.discarded + frame_json_pending(&j) <= n);
    o->json[0] = j.values;
    o->json[1] = j.overflows;
    o->json[2] = j.garbage;
    o->json[3] = j.discarded;
    o->json[4] = frame_json_pending(&j);
    frame_lines_finish(&l, 1, on_message, &o->rec[1]);
    o->lines[0] = l.lines;
    o->lines[1] = l.splits;
    frame_mux_finish(&m, on_message, &o->rec[2]);
    o->mux[0] = m.frames;
    o->mux[1] = m.bad_headers;
    o->mux[2] = (uint64_t)refused;
    CHECK(m.bad_headers <= 1);
    frame_json_free(&j);
    frame_lines_free(&l);
    frame_mux_free(&m);
}

static void outcome_free(outcome *o)
{
    int i;

    for (i = 0; i < 3; i++)
        free(o->rec[i].buf);
}

static int same_record(const record *a, const record *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0);
}

/* ---- reference decoders: whole input at once, written for clarity, so a
 * bug shared by every chunking still shows up as a difference ---- */

static void ref_emit(record *r, int stream, const uint8_t *p, size_t n)
{
    char head[32];
    int len = snprintf(head, sizeof head, "%d:%zu:", stream, n);

    record_bytes(r, head, (size_t)len);
    record_bytes(r, p, n);
}

static int ref_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the value starting at p[0] (an opener) up to its matching
 * close, or 0 when the input ends first. */
static size_t ref_value_len(const uint8_t *p, size_t n)
{
    size_t i;
    int depth = 0, in_string = 0, escaped = 0;

    for (i = 0; i < n; i++) {
        uint8_t c = p[i];

        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

static void ref_json(const uint8_t *p, size_t n, size_t bound, record *r, uint64_t c[5])
{
    size_t i = 0, len;

    while (i < n) {
        if (ref_ws(p[i])) {
            i++;
        } else if (p[i] == '{' || p[i] == '[') {
            len = ref_value_len(p + i, n - i);
            if (len == 0) { /* unterminated: held, unless already too long */
                if (n - i > bound) {
                    c[1]++;
                    c[3] += n - i;
                } else {
                    c[4] = n - i;
                }
                return;
            }
            if (len > bound) {
                c[1]++;
                c[3] += len;
            } else if ((p[i] == '{') != (p[i + len - 1] == '}')) {
                c[2]++;
                c[3] += len;
            } else {
                c[0]++;
                ref_emit(r, 0, p + i, len);
            }
            i += len;
        } else {
            c[2]++;
            while (i < n && !ref_ws(p[i]) && p[i] != '{' && p[i] != '[') {
                c[3]++;
                i++;
            }
        }
    }
}

/* One line's content (terminator removed) in pieces of at most max. */
static void ref_pieces(const uint8_t *p, size_t n, size_t max, int stream, record *r, uint64_t c[2])
{
    while (n > max) {
        ref_emit(r, stream, p, max);
        c[0]++;
        c[1]++;
        p += max;
        n -= max;
    }
    ref_emit(r, stream, p, n);
    c[0]++;
}

static void ref_lines(const uint8_t *p, size_t n, size_t max, record *r, uint64_t c[2])
{
    const uint8_t *nl;
    size_t len;

    while ((nl = memchr(p, '\n', n)) != NULL) {
        len = (size_t)(nl - p);
        ref_pieces(p, len > 0 && p[len - 1] == '\r' ? len - 1 : len, max, 1, r, c);
        n -= len + 1;
        p = nl + 1;
    }
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > 0)
        ref_pieces(p, n, max, 1, r, c);
}

/* Walks frames over the whole input and hands each payload whole to a
 * fresh line splitter per stream (frame_lines is checked by ref_lines). */
static void ref_mux(const uint8_t *p, size_t n, size_t max, record *r, uint64_t c[3])
{
    frame_lines out, err;
    size_t i = 0, k, len;

    frame_lines_init(&out, max);
    frame_lines_init(&err, max);
    while (i < n) {
        for (k = 0; k < 8 && i + k < n; k++) {
            if ((k == 0 && p[i] > 2) || (k >= 1 && k <= 3 && p[i + k] != 0))
                break;
        }
        if (k < 8 && i + k < n) { /* a bad header: refused from here on */
            c[1] = 1;
            c[2] = 1;
            break;
        }
        if (k < 8)
            break;
        c[0]++;
        len = (size_t)p[i + 4] << 24 | (size_t)p[i + 5] << 16 | (size_t)p[i + 6] << 8 | p[i + 7];
        if (len > n - i - 8)
            len = n - i - 8;
        frame_lines_feed(p[i] == 2 ? &err : &out, p[i], (const char *)p + i + 8, len, on_message, r);
        i += 8 + len;
    }
    frame_lines_finish(&out, 1, on_message, r);
    frame_lines_finish(&err, 2, on_message, r);
    frame_lines_free(&out);
    frame_lines_free(&err);
}

static void check_against_reference(const uint8_t *p, size_t n, size_t bound, const outcome *o)
{
    record r[3];
    uint64_t cj[5] = { 0 }, cl[2] = { 0 }, cm[3] = { 0 };
    int i;

    memset(r, 0, sizeof r);
    for (i = 0; i < 3; i++) {
        r[i].kind = i;
        r[i].bound = o->rec[i].bound;
    }
    ref_json(p, n, bound, &r[0], cj);
    ref_lines(p, n, r[1].bound, &r[1], cl);
    ref_mux(p, n, r[2].bound, &r[2], cm);
    for (i = 0; i < 3; i++) {
        CHECK(same_record(&r[i], &o->rec[i]));
        free(r[i].buf);
    }
    CHECK(memcmp(cj, o->json, sizeof cj) == 0);
    CHECK(memcmp(cl, o->lines, sizeof cl) == 0);
    CHECK(memcmp(cm, o->mux, sizeof cm) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome whole, cut;
    uint8_t mode;
    size_t bound;
    uint32_t seed;
    int i;

    if (size < 3)
        return 0;
    mode = data[0];
    /* Small bounds most of the time, so overflow and splitting get
     * exercised; sometimes large enough for nothing to overflow. */
    bound = data[1] < 240 ? (size_t)data[1] % 64 : (size_t)1 << 16;
    seed = data[2];
    data += 3;
    size -= 3;

    run(data, size, mode, bound, seed, 0, &whole);
    run(data, size, mode, bound, seed, 1, &cut);
    if (!(mode & (MODE_STOP | MODE_RESET))) {
        for (i = 0; i < 3; i++)
            CHECK(same_record(&whole.rec[i], &cut.rec[i]));
        CHECK(memcmp(whole.json, cut.json, sizeof whole.json) == 0);
        CHECK(memcmp(whole.lines, cut.lines, sizeof whole.lines) == 0);
        CHECK(memcmp(whole.mux, cut.mux, sizeof whole.mux) == 0);
        check_against_reference(data, size, bound, &whole);
    }
    outcome_free(&whole);
    outcome_free(&cut);
    return 0;
}
