/* Unit tests for src/framing.c: every decoder is fed the same streams under
 * many chunkings (whole, byte by byte, every 2-way and 3-way split, pseudo-
 * random), and must emit exactly the same messages and counters each time. */
#include "framing.h"
#include "tap.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a sink that records what was emitted ---- */

typedef struct sink {
    char *buf; /* records "<stream>:<len>:<bytes>\n", so any bytes compare exactly */
    size_t len, cap;
    int calls;
    int stop_at; /* return non-zero from this call (1-based); 0: never */
} sink;

static void sink_append(sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;

        while (cap < s->len + n + 1)
            cap *= 2;
        s->buf = realloc(s->buf, cap);
        if (!s->buf) {
            perror("realloc");
            exit(2);
        }
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void sink_record(sink *s, int stream, const char *p, size_t n)
{
    char head[64];

    snprintf(head, sizeof head, "%d:%zu:", stream, n);
    sink_append(s, head, strlen(head));
    sink_append(s, p, n);
    sink_append(s, "\n", 1);
}

static int sink_emit(void *ud, int stream, const char *p, size_t n)
{
    sink *s = ud;

    sink_record(s, stream, p, n);
    s->calls++;
    return s->stop_at != 0 && s->calls == s->stop_at;
}

static void sink_clear(sink *s)
{
    s->len = 0;
    s->calls = 0;
    if (s->buf)
        s->buf[0] = '\0';
}

static void sink_free(sink *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Builds an expected output: expect(&want, 1, "a", 1, "b", -1). */
static void expect(sink *s, ...)
{
    va_list ap;
    int stream;

    va_start(ap, s);
    while ((stream = va_arg(ap, int)) >= 0) {
        const char *text = va_arg(ap, const char *);

        sink_record(s, stream, text, strlen(text));
    }
    va_end(ap);
}

/* ---- one interface over the three decoders ---- */

enum { K_JSON, K_LINES, K_MUX };

typedef struct dec {
    int kind;
    frame_json j;
    frame_lines l;
    frame_mux m;
    int rc_or; /* every non-zero feed result seen, or'ed (-1, -2 or both) */
} dec;

static void dec_init(dec *d, int kind, size_t bound)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    if (kind == K_JSON)
        frame_json_init(&d->j, bound);
    else if (kind == K_LINES)
        frame_lines_init(&d->l, bound);
    else
        frame_mux_init(&d->m, bound);
}

static void dec_free(dec *d)
{
    if (d->kind == K_JSON)
        frame_json_free(&d->j);
    else if (d->kind == K_LINES)
        frame_lines_free(&d->l);
    else
        frame_mux_free(&d->m);
}

static int dec_feed(dec *d, const char *p, size_t n, sink *s)
{
    int rc;

    if (d->kind == K_JSON)
        rc = frame_json_feed(&d->j, p, n, sink_emit, s);
    else if (d->kind == K_LINES)
        rc = frame_lines_feed(&d->l, 1, p, n, sink_emit, s);
    else
        rc = frame_mux_feed(&d->m, p, n, sink_emit, s);
    if (rc)
        d->rc_or |= rc;
    return rc;
}

static void dec_finish(dec *d, sink *s)
{
    if (d->kind == K_LINES)
        frame_lines_finish(&d->l, 1, sink_emit, s);
    else if (d->kind == K_MUX)
        frame_mux_finish(&d->m, sink_emit, s);
}

/* The counters a test pins down, per kind:
 *   json:  values, overflows, garbage, discarded, pending
 *   lines: lines, splits
 *   mux:   frames, bad_headers, lines (both streams), splits (both streams) */
#define NCOUNT 5
#define ANY (-1LL)

static void dec_counts(const dec *d, long long c[NCOUNT])
{
    int i;

    for (i = 0; i < NCOUNT; i++)
        c[i] = 0;
    if (d->kind == K_JSON) {
        c[0] = (long long)d->j.values;
        c[1] = (long long)d->j.overflows;
        c[2] = (long long)d->j.garbage;
        c[3] = (long long)d->j.discarded;
        c[4] = (long long)frame_json_pending(&d->j);
    } else if (d->kind == K_LINES) {
        c[0] = (long long)d->l.lines;
        c[1] = (long long)d->l.splits;
    } else {
        c[0] = (long long)d->m.frames;
        c[1] = (long long)d->m.bad_headers;
        c[2] = (long long)(d->m.out.lines + d->m.err.lines);
        c[3] = (long long)(d->m.out.splits + d->m.err.splits);
    }
}

/* ---- chunkings ---- */

typedef struct chunking {
    size_t cuts[64]; /* chunk boundaries, increasing, inside (0, n) */
    int ncuts;
    char desc[128];
} chunking;

/* Feeds data cut at the given boundaries, then finishes. */
static void run(dec *d, const char *data, size_t n, const chunking *ch, sink *s)
{
    size_t at = 0;
    int i;

    for (i = 0; i <= ch->ncuts; i++) {
        size_t end = i < ch->ncuts ? ch->cuts[i] : n;

        dec_feed(d, data + at, end - at, s);
        at = end;
    }
    dec_finish(d, s);
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

typedef struct expectation {
    const char *name;
    int kind;
    size_t bound;
    const char *data;
    size_t n;
    const sink *want;
    long long counts[NCOUNT]; /* ANY for don't care */
    int rc;                   /* the or of non-zero feed results expected */
} expectation;

/* Runs one chunking; on a mismatch prints what differed and returns 0. */
static int try_chunking(const expectation *e, const chunking *ch)
{
    dec d;
    sink s = { 0 };
    long long got[NCOUNT];
    int i, good = 1;

    dec_init(&d, e->kind, e->bound);
    run(&d, e->data, e->n, ch, &s);
    dec_counts(&d, got);
    if (s.len != e->want->len || (s.len && memcmp(s.buf, e->want->buf, s.len) != 0)) {
        tap_diag("chunking %s: output differs", ch->desc);
        tap_diag_mem("got ", s.buf ? s.buf : "", s.len);
        tap_diag_mem("want", e->want->buf ? e->want->buf : "", e->want->len);
        good = 0;
    }
    for (i = 0; i < NCOUNT; i++) {
        if (e->counts[i] != ANY && got[i] != e->counts[i]) {
            tap_diag("chunking %s: counter %d is %lld, want %lld", ch->desc, i, got[i], e->counts[i]);
            good = 0;
        }
    }
    if (d.rc_or != e->rc) {
        tap_diag("chunking %s: feed returned %d, want %d", ch->desc, d.rc_or, e->rc);
        good = 0;
    }
    dec_free(&d);
    sink_free(&s);
    return good;
}

static void check_whole(const expectation *e)
{
    chunking ch = { .ncuts = 0 };

    snprintf(ch.desc, sizeof ch.desc, "whole");
    ok(try_chunking(e, &ch), "%s: in one chunk", e->name);
}

/* Byte by byte needs more cuts than a chunking holds, so it feeds directly. */
static void check_bytewise(const expectation *e)
{
    dec d;
    sink s = { 0 };
    long long got[NCOUNT];
    size_t i;
    int k, good = 1;

    dec_init(&d, e->kind, e->bound);
    for (i = 0; i < e->n; i++)
        dec_feed(&d, e->data + i, 1, &s);
    dec_finish(&d, &s);
    dec_counts(&d, got);
    if (s.len != e->want->len || (s.len && memcmp(s.buf, e->want->buf, s.len) != 0)) {
        tap_diag_mem("got ", s.buf ? s.buf : "", s.len);
        tap_diag_mem("want", e->want->buf ? e->want->buf : "", e->want->len);
        good = 0;
    }
    for (k = 0; k < NCOUNT; k++) {
        if (e->counts[k] != ANY && got[k] != e->counts[k]) {
            tap_diag("byte by byte: counter %d is %lld, want %lld", k, got[k], e->counts[k]);
            good = 0;
        }
    }
    if (d.rc_or != e->rc) {
        tap_diag("byte by byte: feed returned %d, want %d", d.rc_or, e->rc);
        good = 0;
    }
    dec_free(&d);
    sink_free(&s);
    ok(good, "%s: byte by byte", e->name);
}

static void check_splits2(const expectation *e)
{
    chunking ch;
    size_t i;
    int good = 1;

    for (i = 1; good && i < e->n; i++) {
        ch.ncuts = 1;
        ch.cuts[0] = i;
        snprintf(ch.desc, sizeof ch.desc, "split at %zu", i);
        good = try_chunking(e, &ch);
    }
    ok(good, "%s: every 2-way split (%zu)", e->name, e->n ? e->n - 1 : 0);
}

static void check_splits3(const expectation *e)
{
    chunking ch;
    size_t i, j, count = 0;
    int good = 1;

    for (i = 1; good && i < e->n; i++) {
        for (j = i + 1; good && j < e->n; j++) {
            ch.ncuts = 2;
            ch.cuts[0] = i;
            ch.cuts[1] = j;
            snprintf(ch.desc, sizeof ch.desc, "split at %zu and %zu", i, j);
            good = try_chunking(e, &ch);
            count++;
        }
    }
    ok(good, "%s: every 3-way split (%zu)", e->name, count);
}

static void check_random(const expectation *e, int rounds)
{
    chunking ch;
    int r, good = 1;

    for (r = 0; good && r < rounds; r++) {
        size_t at = 0;

        ch.ncuts = 0;
        while (ch.ncuts < 64) {
            at += 1 + rng() % 7;
            if (at >= e->n)
                break;
            ch.cuts[ch.ncuts++] = at;
        }
        snprintf(ch.desc, sizeof ch.desc, "random round %d", r);
        good = try_chunking(e, &ch);
    }
    ok(good, "%s: %d random chunkings", e->name, rounds);
}

static void check_all(const expectation *e)
{
    check_whole(e);
    check_bytewise(e);
    check_splits2(e);
    if (e->n <= 160)
        check_splits3(e);
    check_random(e, 50);
}

#define DATA(s) (s), (sizeof(s) - 1)

/* What a sink recorded, against a literal in sink_record's format. */
#define is_sink(s, lit, ...) is_mem((s)->buf ? (s)->buf : "", (s)->len, lit, sizeof(lit) - 1, __VA_ARGS__)

/* ---- JSON ---- */

static void test_json_streams(void)
{
    sink want = { 0 };
    expectation e;
    /* Braces and brackets inside strings, escaped quotes, an escaped
     * backslash before a closing quote, CRLF, nothing and spaces between
     * values, nested arrays. */
    static const char stream[] =
        "{\"a\":1}\n"
        "{\"b\":[1,2,{\"c\":\"}]\"}]}\r\n"
        "[1,[2,[3,[]]]]"
        "{\"s\":\"x\\\"}{[\"}"
        "  {\"e\":\"\\\\\"}\r\n"
        "\t[]{}";

    expect(&want,
           0, "{\"a\":1}",
           0, "{\"b\":[1,2,{\"c\":\"}]\"}]}",
           0, "[1,[2,[3,[]]]]",
           0, "{\"s\":\"x\\\"}{[\"}",
           0, "{\"e\":\"\\\\\"}",
           0, "[]",
           0, "{}", -1);
    e = (expectation){ "json stream", K_JSON, 1 << 20, DATA(stream), &want, { 7, 0, 0, 0, 0 }, 0 };
    check_all(&e);
    sink_free(&want);
}

static void test_json_overflow(void)
{
    sink want = { 0 };
    expectation e;
    /* The 16-byte bound lets {"a":1} and the exactly-16-byte value through;
     * the big one (with a close inside a string and nesting, so skipping
     * must follow structure) and the 17-byte one are skipped whole. */
    static const char stream[] =
        "{\"a\":1}"
        "{\"big\":\"}}}]]]\",\"n\":[[1],{\"x\":2}]}\n"
        "{\"b\":2}"
        "{\"cccccccccc\":1}"   /* 16 bytes */
        "{\"ccccccccccc\":1}"  /* 17 bytes */
        "[3]";

    expect(&want, 0, "{\"a\":1}", 0, "{\"b\":2}", 0, "{\"cccccccccc\":1}", 0, "[3]", -1);
    e = (expectation){ "json overflow", K_JSON, 16, DATA(stream), &want,
                       { 4, 2, 0, (long long)strlen("{\"big\":\"}}}]]]\",\"n\":[[1],{\"x\":2}]}") + 17, 0 },
                       0 };
    check_all(&e);
    sink_free(&want);
}

static void test_json_garbage(void)
{
    sink want = { 0 };
    expectation e;
    /* Runs: "xx", "yy", "zz", "garbage", "}]", "\"str\"", "12" and the
     * mismatched value "{\"m\":1]" (a run of its own). */
    static const char stream[] =
        "xx {\"a\":1} yy zz\n[1]garbage{\"b\":2}\n}] \"str\" 12\n{\"m\":1][2]";

    expect(&want, 0, "{\"a\":1}", 0, "[1]", 0, "{\"b\":2}", 0, "[2]", -1);
    e = (expectation){ "json garbage", K_JSON, 1024, DATA(stream), &want,
                       { 4, 0, 8, 2 + 2 + 2 + 7 + 2 + 5 + 2 + 7, 0 }, 0 };
    check_all(&e);
    sink_free(&want);
}

static void test_json_truncation(void)
{
    static const char value[] = "{\"a\":[1,2,{\"b\":\"}\"}]}";
    size_t n = sizeof value - 1, i;
    int good = 1;

    /* Every prefix of a value is held, not emitted, and reported pending. */
    for (i = 1; i < n; i++) {
        frame_json f;
        sink s = { 0 };

        frame_json_init(&f, 1024);
        frame_json_feed(&f, "\n ", 2, sink_emit, &s);
        frame_json_feed(&f, value, i, sink_emit, &s);
        if (s.calls != 0 || frame_json_pending(&f) != i) {
            tap_diag("prefix %zu: calls %d pending %zu", i, s.calls, frame_json_pending(&f));
            good = 0;
        }
        frame_json_feed(&f, value + i, n - i, sink_emit, &s);
        if (s.calls != 1 || frame_json_pending(&f) != 0) {
            tap_diag("prefix %zu then rest: calls %d pending %zu", i, s.calls, frame_json_pending(&f));
            good = 0;
        }
        frame_json_free(&f);
        sink_free(&s);
    }
    ok(good, "json: truncation at every byte is reported by frame_json_pending");
}

/* frame_json_idle: true only between values with nothing held or skipped. */
static void test_json_idle(void)
{
    frame_json f;
    sink s = { 0 };
    int good = 1;

    frame_json_init(&f, 8);
    good &= frame_json_idle(&f);
    frame_json_feed(&f, "{\"a\":", 5, sink_emit, &s);
    good &= !frame_json_idle(&f);                 /* a partial value */
    frame_json_feed(&f, "1}\n", 3, sink_emit, &s);
    good &= frame_json_idle(&f) && s.calls == 1;
    frame_json_feed(&f, "junk", 4, sink_emit, &s);
    good &= !frame_json_idle(&f);                 /* inside a run of garbage */
    frame_json_feed(&f, "\n", 1, sink_emit, &s);
    good &= frame_json_idle(&f);
    frame_json_feed(&f, "{\"long\":\"", 9, sink_emit, &s);
    good &= !frame_json_idle(&f);                 /* skipping an oversized value */
    frame_json_feed(&f, "x\"}\n", 4, sink_emit, &s);
    good &= frame_json_idle(&f) && s.calls == 1;
    frame_json_free(&f);
    sink_free(&s);
    ok(good, "json: frame_json_idle only between values, with nothing held or skipped");
}

static void test_json_stop_reset(void)
{
    frame_json f;
    sink s = { 0 };
    int rc;

    frame_json_init(&f, 64);
    s.stop_at = 1;
    rc = frame_json_feed(&f, DATA("{\"a\":1}{\"b\":2}\n"), sink_emit, &s);
    is_int(rc, 0, "json stop: feed returns 0");
    is_int(s.calls, 1, "json stop: one value emitted");
    is_int(f.discarded, 8, "json stop: the rest of the call is discarded");
    rc = frame_json_feed(&f, DATA("{\"c\":3}"), sink_emit, &s);
    is_int(s.calls, 2, "json stop: the decoder stays usable");
    is_sink(&s, "0:7:{\"a\":1}\n0:7:{\"c\":3}\n", "json stop: spans");

    frame_json_feed(&f, DATA("{\"d\":[1,"), sink_emit, &s);
    is_int(frame_json_pending(&f), 8, "json reset: partial value pending");
    frame_json_reset(&f);
    is_int(frame_json_pending(&f), 0, "json reset: nothing pending after reset");
    is_int(f.discarded, 16, "json reset: the partial value counts as discarded");
    frame_json_feed(&f, DATA("2]}{\"e\":5}"), sink_emit, &s);
    is_int(s.calls, 3, "json reset: the rest of the old value is garbage, the next one is read");
    is_int(f.garbage, 1, "json reset: one garbage run");
    is_int(f.values, 3, "json reset: values counter kept");
    frame_json_free(&f);
    sink_free(&s);
}

static void test_json_big(void)
{
    frame_json f;
    sink s = { 0 };
    size_t n = 300000, i;
    char *v = malloc(n);
    int good = 1;

    /* A value larger than the buffer the decoder keeps between values,
     * fed in uneven chunks, followed by a small one. */
    v[0] = '[';
    for (i = 1; i + 1 < n; i++)
        v[i] = (i % 2) ? '1' : ',';
    v[n - 2] = '1';
    v[n - 1] = ']';
    frame_json_init(&f, 1 << 20);
    for (i = 0; i < n; i += 997) {
        size_t k = n - i < 997 ? n - i : 997;

        if (frame_json_feed(&f, v + i, k, sink_emit, &s) != 0)
            good = 0;
    }
    frame_json_feed(&f, DATA("{\"x\":1}"), sink_emit, &s);
    ok(good && s.calls == 2, "json big: two values");
    ok(f.cap <= (1 << 20), "json big: buffer within the bound (cap %zu)", f.cap);
    ok(s.len > n && memcmp(s.buf + strlen("0:300000:"), v, n) == 0, "json big: 300000-byte span intact");
    frame_json_free(&f);
    sink_free(&s);

    /* The same value over a bound it exceeds: skipped, counted, and the
     * buffer never grew past the bound. */
    frame_json_init(&f, 1000);
    for (i = 0; i < n; i += 997) {
        size_t k = n - i < 997 ? n - i : 997;

        frame_json_feed(&f, v + i, k, sink_emit, &s);
        if (f.cap > 1000)
            good = 0;
    }
    frame_json_feed(&f, DATA("{\"x\":1}"), sink_emit, &s);
    ok(good, "json big: cap never past a 1000-byte bound");
    is_int(f.overflows, 1, "json big: one overflow");
    is_int(f.discarded, n, "json big: all its bytes discarded");
    is_int(f.values, 1, "json big: the value after it is read");
    frame_json_free(&f);

    /* A bound of 0 refuses everything without looping or crashing. */
    frame_json_init(&f, 0);
    frame_json_feed(&f, DATA("{}[]{\"a\":1}"), sink_emit, &s);
    is_int(f.overflows, 3, "json bound 0: every value overflows");
    is_int(f.depth, 0, "json bound 0: structure still tracked");
    frame_json_free(&f);
    sink_free(&s);
    free(v);
}

/* ---- lines ---- */

static void test_lines(void)
{
    sink want = { 0 };
    expectation e;
    static const char plain[] = "a\nbb\r\n\nccc\r\rd\n\r\ntail";
    /* max_line 3: a CR exactly at the bound waits to see whether it is
     * half of a CRLF. */
    static const char longs[] = "abcdefg\nab\r\nabc\r\nabcd\r\n\r\nabc\rx\nxyz\r";

    expect(&want, 1, "a", 1, "bb", 1, "", 1, "ccc\r\rd", 1, "", 1, "tail", -1);
    e = (expectation){ "lines", K_LINES, 64, DATA(plain), &want, { 6, 0, 0, 0, 0 }, 0 };
    check_all(&e);
    sink_clear(&want);

    expect(&want, 1, "abc", 1, "def", 1, "g", 1, "ab", 1, "abc", 1, "abc", 1, "d", 1, "",
           1, "abc", 1, "\rx", 1, "xyz", -1);
    e = (expectation){ "lines max 3", K_LINES, 3, DATA(longs), &want, { 11, 4, 0, 0, 0 }, 0 };
    check_all(&e);
    sink_clear(&want);

    expect(&want, 1, "a", 1, "b", 1, "c", 1, "", 1, "d", 1, "\r", 1, "\r", 1, "\r", 1, "e", -1);
    e = (expectation){ "lines max 1", K_LINES, 1, DATA("abc\n\r\nd\r\r\re\r"), &want, { 9, 6, 0, 0, 0 }, 0 };
    check_all(&e);
    sink_free(&want);
}

static void test_lines_stop(void)
{
    frame_lines f;
    sink s = { 0 };

    frame_lines_init(&f, 100);
    s.stop_at = 1;
    frame_lines_feed(&f, 1, DATA("one\ntwo\nthr"), sink_emit, &s);
    is_int(s.calls, 1, "lines stop: one line emitted");
    frame_lines_feed(&f, 1, DATA("four\n"), sink_emit, &s);
    frame_lines_finish(&f, 1, sink_emit, &s);
    frame_lines_finish(&f, 1, sink_emit, &s);
    is_sink(&s, "1:3:one\n1:4:four\n", "lines stop: rest of the call dropped, usable after");
    frame_lines_free(&f);
    sink_free(&s);
}

/* ---- multiplexed log frames ---- */

static size_t mux_frame(char *out, int stream, const char *payload, size_t n)
{
    out[0] = (char)stream;
    out[1] = out[2] = out[3] = 0;
    out[4] = (char)(n >> 24);
    out[5] = (char)(n >> 16);
    out[6] = (char)(n >> 8);
    out[7] = (char)n;
    memcpy(out + 8, payload, n);
    return 8 + n;
}

static void test_mux(void)
{
    sink want = { 0 };
    expectation e;
    char stream[256];
    size_t n = 0;

    /* Lines cut across frames on both streams, interleaved: each stream's
     * partial line must continue with its own next frame. */
    n += mux_frame(stream + n, 1, DATA("hello\nwor"));
    n += mux_frame(stream + n, 2, DATA("err1\ne"));
    n += mux_frame(stream + n, 1, DATA(""));
    n += mux_frame(stream + n, 1, DATA("ld\n"));
    n += mux_frame(stream + n, 2, DATA("rr2"));
    n += mux_frame(stream + n, 1, DATA("x\r\ny\n"));
    n += mux_frame(stream + n, 2, DATA(""));
    n += mux_frame(stream + n, 2, DATA("\nlast"));
    n += mux_frame(stream + n, 0, DATA("in\n"));
    n += mux_frame(stream + n, 1, DATA("tail"));

    expect(&want, 1, "hello", 2, "err1", 1, "world", 1, "x", 1, "y", 2, "err2", 0, "in",
           1, "tail", 2, "last", -1);
    e = (expectation){ "mux", K_MUX, 1024, stream, n, &want, { 10, 0, 9, 0, 0 }, 0 };
    check_all(&e);
    sink_clear(&want);

    /* Long lines split per stream. */
    n = 0;
    n += mux_frame(stream + n, 1, DATA("abcdef"));
    n += mux_frame(stream + n, 2, DATA("12345\n"));
    n += mux_frame(stream + n, 1, DATA("gh\n"));
    expect(&want, 1, "abcd", 2, "1234", 2, "5", 1, "efgh", -1);
    e = (expectation){ "mux max 4", K_MUX, 4, stream, n, &want, { 3, 0, 4, 2, 0 }, 0 };
    check_all(&e);
    sink_free(&want);
}

/* A long line the engine split over frames, each with its timestamp: the
 * line keeps its first stamp, the others go, whatever the chunking. */
static void test_mux_stamped(void)
{
    char stream[1024];
    size_t n = 0;
    n += mux_frame(stream + n, 1, DATA("2026-11-28T15:58:24Z some log"));
    n += mux_frame(stream + n, 2, DATA("2026-11-28T15:58:24Z err\n"));
    n += mux_frame(stream + n, 1, DATA("2026-11-28T15:58:24.123456789Z  line of moderate length\n"));
    n += mux_frame(stream + n, 1, DATA("2026-11-28T15:58:25Z next\n"));
    /* continuations an engine sent without a timestamp stay text */
    n += mux_frame(stream + n, 1, DATA("2026-11-28T15:58:26Z cut "));
    n += mux_frame(stream + n, 1, DATA("2026-11 here "));
    n += mux_frame(stream + n, 1, DATA("12"));
    n += mux_frame(stream + n, 1, DATA(" end\n"));
    for (size_t step = 1; step <= n; step++) {
        frame_mux f;
        sink s = { 0 };
        frame_mux_init(&f, 1024);
        frame_mux_set_stamped(&f, 1);
        for (size_t i = 0; i < n; i += step)
            frame_mux_feed(&f, stream + i, i + step <= n ? step : n - i, sink_emit, &s);
        frame_mux_finish(&f, sink_emit, &s);
        static const char want[] = "2:24:2026-11-28T15:58:24Z err\n"
                                   "1:53:2026-11-28T15:58:24Z some log line of moderate length\n"
                                   "1:25:2026-11-28T15:58:25Z next\n"
                                   "1:44:2026-11-28T15:58:26Z cut 2026-11 here 12 end\n";
        int good = s.buf && s.len == sizeof want - 1 && memcmp(s.buf, want, s.len) == 0;
        if (!good || step == 1 || step == n)
            ok(good, "mux stamped, chunks of %zu: a split line is whole", step);
        if (!good)
            tap_diag_mem("got", s.buf ? s.buf : "", s.len);
        frame_mux_free(&f);
        sink_free(&s);
        if (!good)
            break;
    }
}

static void test_mux_bad(void)
{
    frame_mux f;
    sink s = { 0 };
    char stream[64];
    size_t n;
    int rc;

    frame_mux_init(&f, 100);
    rc = frame_mux_feed(&f, DATA("hello world\n"), sink_emit, &s);
    is_int(rc, -2, "mux raw text: bad header");
    is_int(f.bad_headers, 1, "mux raw text: counted");
    is_int(f.hdr_len, 1, "mux raw text: refused at the first byte");
    rc = frame_mux_feed(&f, DATA("more\n"), sink_emit, &s);
    is_int(rc, -2, "mux raw text: stays refused");
    is_int(s.calls, 0, "mux raw text: nothing emitted");
    frame_mux_free(&f);

    /* Non-zero padding, arriving one byte at a time. */
    frame_mux_init(&f, 100);
    rc = frame_mux_feed(&f, "\x01", 1, sink_emit, &s);
    is_int(rc, 0, "mux padding: stream byte alone is fine");
    rc = frame_mux_feed(&f, "\x00", 1, sink_emit, &s);
    is_int(rc, 0, "mux padding: zero padding is fine");
    rc = frame_mux_feed(&f, "\x07", 1, sink_emit, &s);
    is_int(rc, -2, "mux padding: non-zero padding is a bad header");
    frame_mux_free(&f);

    /* A good frame, then garbage where the next header should be. */
    frame_mux_init(&f, 100);
    n = mux_frame(stream, 1, DATA("ok\n"));
    memcpy(stream + n, "\x03\x00\x00\x00\x00\x00\x00\x01x", 9);
    rc = frame_mux_feed(&f, stream, n + 9, sink_emit, &s);
    is_int(rc, -2, "mux corrupt: bad header after a good frame");
    is_int(f.frames, 1, "mux corrupt: one good frame");
    is_sink(&s, "1:2:ok\n", "mux corrupt: the good frame's line was emitted");
    frame_mux_free(&f);
    sink_free(&s);
}

static void test_mux_stop(void)
{
    frame_mux f;
    sink s = { 0 };
    char stream[128];
    size_t n = 0;
    int rc;

    n += mux_frame(stream + n, 1, DATA("a\nb\n"));
    n += mux_frame(stream + n, 2, DATA("c\n"));
    n += mux_frame(stream + n, 1, DATA("d"));
    frame_mux_init(&f, 100);
    s.stop_at = 1;
    rc = frame_mux_feed(&f, stream, n, sink_emit, &s);
    is_int(rc, 0, "mux stop: feed returns 0");
    is_int(f.frames, 3, "mux stop: the frames after the stop are walked past");
    n = mux_frame(stream, 2, DATA("e\n"));
    rc = frame_mux_feed(&f, stream, n, sink_emit, &s);
    is_int(rc, 0, "mux stop: next call starts on a frame boundary");
    frame_mux_finish(&f, sink_emit, &s);
    is_sink(&s, "1:1:a\n2:1:e\n", "mux stop: output");
    frame_mux_free(&f);
    sink_free(&s);
}

int main(void)
{
    test_json_streams();
    test_json_overflow();
    test_json_garbage();
    test_json_truncation();
    test_json_idle();
    test_json_stop_reset();
    test_json_big();
    test_lines();
    test_lines_stop();
    test_mux();
    test_mux_stamped();
    test_mux_bad();
    test_mux_stop();
    return tap_done();
}
