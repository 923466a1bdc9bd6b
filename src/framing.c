/* framing — incremental decoders over byte streams (see framing.h).
 *
 * None of these decoders is re-entrant: an emit callback must not feed the
 * decoder that called it, because the span it receives may live in the
 * decoder's own buffer. */
#include "framing.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* First allocation: engine events are a few hundred bytes, so most streams
 * never grow past it. */
#define FRAME_MIN_CAP 256
/* After a value this large is emitted its buffer is released, so one huge
 * inspect does not pin memory for the life of a long stream. */
#define FRAME_KEEP_CAP 65536

/* frame_json.skipping: what the bytes being dropped are. */
enum {
    FRAME_SKIP_NONE = 0,
    FRAME_SKIP_VALUE = 1,   /* rest of an oversized (or unallocatable) value */
    FRAME_SKIP_GARBAGE = 2  /* inside a run of garbage between values */
};

/* frame_mux.stream once a bad header was seen: the decoder stays refused. */
#define FRAME_MUX_BROKEN (-1)

/* Ensures room for `need` bytes. Doubling keeps a value that arrives one
 * byte per chunk linear in copies; `bound` caps the allocation itself. */
static int frame_reserve(char **buf, size_t *cap, size_t need, size_t bound)
{
    size_t ncap;
    char *nbuf;

    if (need <= *cap)
        return 0;
    if (need > bound)
        return -1;
    ncap = *cap ? *cap : FRAME_MIN_CAP;
    while (ncap < need)
        ncap = ncap > bound / 2 ? bound : ncap * 2;
    if (ncap > bound)
        ncap = bound;
    nbuf = realloc(*buf, ncap);
    if (!nbuf)
        return -1;
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

/* ---- concatenated JSON values ---- */

void frame_json_init(frame_json *f, size_t max_value)
{
    memset(f, 0, sizeof *f);
    f->max_value = max_value;
}

void frame_json_reset(frame_json *f)
{
    /* Bytes of a value being skipped were counted as they went by. */
    f->discarded += f->len;
    f->len = 0;
    f->depth = 0;
    f->in_string = 0;
    f->escaped = 0;
    f->skipping = FRAME_SKIP_NONE;
}

void frame_json_free(frame_json *f)
{
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
    f->cap = 0;
}

size_t frame_json_pending(const frame_json *f)
{
    return f->len;
}

int frame_json_idle(const frame_json *f)
{
    return f->len == 0 && f->depth == 0 && !f->in_string && f->skipping == FRAME_SKIP_NONE;
}

/* Advances the lexical state over p[0..n) and returns how many bytes belong
 * to the current value: n, or the count up to and including the close that
 * ends it (then *closed is set). Only nesting and strings matter here;
 * validating the text is the JSON parser's job. */
static size_t frame_json_scan(frame_json *f, const char *p, size_t n, int *closed)
{
    int in_string = f->in_string, escaped = f->escaped, depth = f->depth;
    size_t i = 0;

    *closed = 0;
    while (i < n) {
        if (in_string) {
            if (escaped) {
                escaped = 0;
                i++;
                continue;
            }
            /* Most of an event is inside strings: run to the next quote,
             * stopping at a backslash on the way. */
            const char *q = memchr(p + i, '"', n - i);
            size_t span = q ? (size_t)(q - (p + i)) : n - i;
            const char *b = memchr(p + i, '\\', span);
            if (b) {
                escaped = 1;
                i = (size_t)(b - p) + 1;
            } else if (q) {
                in_string = 0;
                i = (size_t)(q - p) + 1;
            } else {
                i = n;
            }
            continue;
        }
        unsigned char c = (unsigned char)p[i++];
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            /* Saturating: an endless run of openers while skipping must not
             * overflow; such a stream never resynchronises anyway. */
            if (depth < INT_MAX)
                depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            *closed = 1;
            break;
        }
    }
    f->in_string = (unsigned char)in_string;
    f->escaped = (unsigned char)escaped;
    f->depth = depth;
    return i;
}

static int frame_json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Consumes whitespace and garbage between values and returns the offset of
 * the next '{' or '[' (or n). A run of garbage is counted once even when it
 * spans chunks. */
static size_t frame_json_gap(frame_json *f, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '{' || c == '[') {
            f->skipping = FRAME_SKIP_NONE;
            return i;
        }
        if (frame_json_is_ws(c)) {
            f->skipping = FRAME_SKIP_NONE;
            continue;
        }
        if (f->skipping != FRAME_SKIP_GARBAGE) {
            f->garbage++;
            f->skipping = FRAME_SKIP_GARBAGE;
        }
        f->discarded++;
    }
    return n;
}

static int frame_json_closes(const char *s, size_t n)
{
    return n >= 2 && ((s[0] == '{' && s[n - 1] == '}') || (s[0] == '[' && s[n - 1] == ']'));
}

/* Drops the partial value and skips the rest of it. */
static void frame_json_drop(frame_json *f, size_t extra)
{
    f->discarded += f->len + extra;
    f->len = 0;
    f->skipping = FRAME_SKIP_VALUE;
}

/* The value ended with the last of p[0..k). Returns non-zero when the
 * callback asked to stop. */
static int frame_json_complete(frame_json *f, const char *p, size_t k, int *rc,
                               frame_emit_fn emit, void *ud)
{
    const char *s = p;
    size_t n = k;
    int stop;

    if (f->len > 0) {
        /* Started in an earlier chunk: assemble it. Otherwise the span is
         * handed out straight from the caller's chunk, without a copy. */
        if (frame_reserve(&f->buf, &f->cap, f->len + k, f->max_value) != 0) {
            f->discarded += f->len + k;
            f->len = 0;
            *rc = -1;
            return 0;
        }
        memcpy(f->buf + f->len, p, k);
        s = f->buf;
        n = f->len + k;
        f->len = 0;
    }
    if (frame_json_closes(s, n)) {
        f->values++;
        stop = emit(ud, 0, s, n) != 0;
    } else {
        /* "{...]": not a value, only something that looked like one. */
        f->garbage++;
        f->discarded += n;
        stop = 0;
    }
    if (f->cap > FRAME_KEEP_CAP) {
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
    }
    return stop;
}

/* Consumes bytes of the current value (p[0] is its opener when it starts
 * here) and sets *used. Returns non-zero when the callback asked to stop. */
static int frame_json_value(frame_json *f, const char *p, size_t n, size_t *used, int *rc,
                            frame_emit_fn emit, void *ud)
{
    size_t room, lim, k;
    int closed;

    if (f->skipping == FRAME_SKIP_VALUE) {
        k = frame_json_scan(f, p, n, &closed);
        *used = k;
        f->discarded += k;
        if (closed)
            f->skipping = FRAME_SKIP_NONE;
        return 0;
    }
    /* Scanning no further than the bound notices an oversized value
     * before any of its excess is stored. */
    room = f->max_value - f->len;
    lim = n < room ? n : room;
    k = frame_json_scan(f, p, lim, &closed);
    *used = k;
    if (closed)
        return frame_json_complete(f, p, k, rc, emit, ud);
    if (k < n) {
        f->overflows++;
        frame_json_drop(f, k);
        return 0;
    }
    if (frame_reserve(&f->buf, &f->cap, f->len + k, f->max_value) != 0) {
        frame_json_drop(f, k);
        *rc = -1;
        return 0;
    }
    memcpy(f->buf + f->len, p, k);
    f->len += k;
    return 0;
}

int frame_json_feed(frame_json *f, const char *p, size_t n, frame_emit_fn emit, void *ud)
{
    size_t i = 0, used;
    int rc = 0;

    while (i < n) {
        if (f->depth == 0 && f->skipping != FRAME_SKIP_VALUE) {
            i += frame_json_gap(f, p + i, n - i);
            if (i == n)
                break;
        }
        if (frame_json_value(f, p + i, n - i, &used, &rc, emit, ud)) {
            i += used;
            f->discarded += n - i;
            break;
        }
        i += used;
    }
    return rc;
}

/* ---- lines ---- */

void frame_lines_init(frame_lines *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    /* Pieces of zero bytes would never make progress. */
    f->max_line = max_line ? max_line : 1;
}

void frame_lines_free(frame_lines *f)
{
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
    f->cap = 0;
}

static int frame_lines_emit(frame_lines *f, int stream, const char *p, size_t n,
                            frame_emit_fn emit, void *ud)
{
    f->lines++;
    return emit(ud, stream, p, n) != 0;
}

static size_t frame_lines_strip_cr(const char *p, size_t n)
{
    return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* Hands over the first max_line bytes of an overlong line. A '\r' held
 * past the bound turned out not to end the line, so it starts the next
 * piece. */
static int frame_lines_cut(frame_lines *f, int stream, frame_emit_fn emit, void *ud)
{
    int stop;

    f->splits++;
    stop = frame_lines_emit(f, stream, f->buf, f->max_line, emit, ud);
    if (stop) {
        f->len = 0;
        return 1;
    }
    f->len -= f->max_line;
    if (f->len > 0)
        f->buf[0] = f->buf[f->max_line];
    return 0;
}

/* Appends bytes that contain no '\n'. The buffer holds at most max_line
 * bytes plus one '\r', which may yet turn out to be half of a CRLF.
 * Returns 0, 1 when the callback asked to stop, -1 out of memory. */
static int frame_lines_add(frame_lines *f, int stream, const char *p, size_t m,
                           frame_emit_fn emit, void *ud)
{
    size_t bound = f->max_line + 1, take;

    while (m > 0) {
        if (f->len < f->max_line) {
            take = f->max_line - f->len;
            if (take > m)
                take = m;
        } else if (f->len == f->max_line && p[0] == '\r') {
            take = 1;
        } else {
            if (frame_lines_cut(f, stream, emit, ud))
                return 1;
            continue;
        }
        if (frame_reserve(&f->buf, &f->cap, f->len + take, bound) != 0) {
            f->len = 0;
            return -1;
        }
        memcpy(f->buf + f->len, p, take);
        f->len += take;
        p += take;
        m -= take;
    }
    return 0;
}

/* The last segment of a line, whose '\n' follows p[m-1]. */
static int frame_lines_end(frame_lines *f, int stream, const char *p, size_t m,
                           frame_emit_fn emit, void *ud)
{
    size_t n;
    int rc;

    if (f->len == 0) {
        n = frame_lines_strip_cr(p, m);
        if (n <= f->max_line)
            return frame_lines_emit(f, stream, p, n, emit, ud);
    }
    rc = frame_lines_add(f, stream, p, m, emit, ud);
    if (rc != 0)
        return rc;
    n = frame_lines_strip_cr(f->buf, f->len);
    f->len = 0;
    return frame_lines_emit(f, stream, f->buf, n, emit, ud);
}

int frame_lines_feed(frame_lines *f, int stream, const char *p, size_t n, frame_emit_fn emit, void *ud)
{
    const char *nl;
    size_t m;
    int rc;

    while (n > 0) {
        nl = memchr(p, '\n', n);
        m = nl ? (size_t)(nl - p) : n;
        rc = nl ? frame_lines_end(f, stream, p, m, emit, ud)
                : frame_lines_add(f, stream, p, m, emit, ud);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        if (!nl)
            break;
        p += m + 1;
        n -= m + 1;
    }
    return 0;
}

int frame_lines_finish(frame_lines *f, int stream, frame_emit_fn emit, void *ud)
{
    size_t n = frame_lines_strip_cr(f->buf, f->len);

    /* A lone '\r' left at the end is the remnant of a line ending, not a
     * line. */
    f->len = 0;
    if (n > 0)
        frame_lines_emit(f, stream, f->buf, n, emit, ud);
    return 0;
}

/* ---- multiplexed log frames ---- */

/* Relays the caller's callback through the line assemblers and remembers a
 * request to stop, which frame_lines_feed cannot report. */
typedef struct frame_relay {
    frame_emit_fn emit;
    void *ud;
    int stopped;
} frame_relay;

static int frame_relay_emit(void *ud, int stream, const char *p, size_t n)
{
    frame_relay *r = ud;

    if (r->stopped)
        return 1;
    if (r->emit(r->ud, stream, p, n) != 0)
        r->stopped = 1;
    return r->stopped;
}

void frame_mux_init(frame_mux *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    frame_lines_init(&f->out, max_line);
    frame_lines_init(&f->err, max_line);
}

void frame_mux_free(frame_mux *f)
{
    frame_lines_free(&f->out);
    frame_lines_free(&f->err);
}

static int frame_mux_bad_byte(size_t pos, unsigned char c)
{
    if (pos == 0)
        return c > 2;
    return pos <= 3 && c != 0;
}

/* Consumes header bytes and returns how many. Each byte is checked as it
 * arrives so that a raw (Tty) stream is refused on its very first byte,
 * before anything else of it was consumed. */
static size_t frame_mux_header(frame_mux *f, const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n && f->hdr_len < sizeof f->hdr) {
        unsigned char c = p[i++];

        f->hdr[f->hdr_len] = c;
        if (frame_mux_bad_byte(f->hdr_len++, c)) {
            f->bad_headers++;
            f->stream = FRAME_MUX_BROKEN;
            return i;
        }
    }
    if (f->hdr_len == sizeof f->hdr) {
        f->stream = f->hdr[0];
        f->remaining = (uint32_t)f->hdr[4] << 24 | (uint32_t)f->hdr[5] << 16 |
                       (uint32_t)f->hdr[6] << 8 | (uint32_t)f->hdr[7];
        f->hdr_len = 0;
        f->frames++;
    }
    return i;
}

/* stdin frames (stream 0) are practically never sent; they share the
 * stdout assembler rather than costing a third buffer. */
static frame_lines *frame_mux_lines(frame_mux *f)
{
    return f->stream == 2 ? &f->err : &f->out;
}

void frame_mux_set_stamped(frame_mux *f, int on)
{
    f->stamped = on != 0;
}

/* A timestamp is at most "2006-01-02T15:04:05.999999999+07:00 ". */
#define FRAME_STAMP_MAX ((int)sizeof(((frame_mux *)0)->stamp))

static int frame_stamp_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == 'T' || c == ':' || c == '.' || c == 'Z' || c == '+';
}

static int frame_stamp_shape(const char *s, size_t n)
{
    return n >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':';
}

/* Reads the start of a frame that continues a line: an engine that splits
 * a long line repeats the timestamp on every piece (Podman does), one that
 * does not sends the text straight on. A candidate "TIMESTAMP " is held
 * until its space, then dropped; anything else is given back as text. */
static size_t frame_mux_skip_stamp(frame_mux *f, const unsigned char *u, size_t n, frame_relay *r, int *rc)
{
    size_t k = 0;
    int give_back = 0;

    while (k < n && k < f->remaining && f->in_stamp) {
        unsigned char c = u[k];
        if (c == ' ' && frame_stamp_shape(f->stamp, f->stamp_len)) {
            f->in_stamp = 0;
            k++;
        } else if (frame_stamp_char(c) && f->stamp_len < FRAME_STAMP_MAX - 1) {
            f->stamp[f->stamp_len++] = (char)c;
            k++;
        } else {
            give_back = 1;
            f->in_stamp = 0;
        }
    }
    f->remaining -= (uint32_t)k;
    if (f->in_stamp && f->remaining == 0)
        give_back = 1; /* the frame ended inside it */
    if (give_back) {
        f->in_stamp = 0;
        if (!r->stopped && frame_lines_feed(frame_mux_lines(f), f->stream, f->stamp, f->stamp_len,
                                            frame_relay_emit, r) < 0)
            *rc = -1;
    }
    return k;
}

int frame_mux_feed(frame_mux *f, const char *p, size_t n, frame_emit_fn emit, void *ud)
{
    frame_relay r = { emit, ud, 0 };
    const unsigned char *u = (const unsigned char *)p;
    size_t k;
    int rc = 0;

    if (f->stream == FRAME_MUX_BROKEN)
        return -2;
    while (n > 0) {
        if (f->remaining == 0) {
            k = frame_mux_header(f, u, n);
            if (f->stream == FRAME_MUX_BROKEN)
                return -2;
            /* a frame that starts in the middle of a line continues it */
            if (f->remaining > 0 && f->stamped && frame_mux_lines(f)->len > 0) {
                f->in_stamp = 1;
                f->stamp_len = 0;
            }
        } else if (f->in_stamp) {
            k = frame_mux_skip_stamp(f, u, n, &r, &rc);
        } else {
            k = n < f->remaining ? n : f->remaining;
            /* After a stop, payloads are still walked past (not decoded)
             * so the next call starts on a frame boundary. */
            if (!r.stopped && frame_lines_feed(frame_mux_lines(f), f->stream, (const char *)u, k,
                                               frame_relay_emit, &r) < 0)
                rc = -1;
            f->remaining -= (uint32_t)k;
        }
        u += k;
        n -= k;
    }
    return rc;
}

int frame_mux_finish(frame_mux *f, frame_emit_fn emit, void *ud)
{
    frame_relay r = { emit, ud, 0 };

    frame_lines_finish(&f->out, 1, frame_relay_emit, &r);
    frame_lines_finish(&f->err, 2, frame_relay_emit, &r);
    return 0;
}
