/* event_scan — the fields of one engine event, read straight from its JSON
 * text without building a tree (see event_scan.h).
 *
 * A small recursive-descent reader over the bytes: it validates structure
 * as it goes (strings, numbers, literals, nesting), remembers the spans of
 * the few members it wants, and skips everything else. Nesting is bounded
 * so hostile input can't exhaust the stack. */
#include "event_scan.h"

#include <stddef.h>

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define EV_MAX_DEPTH 64

typedef struct ev_reader {
    const char *p, *end;
    int depth;
} ev_reader;

static void ev_ws(ev_reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int ev_expect(ev_reader *r, char c)
{
    ev_ws(r);
    if (r->p >= r->end || *r->p != c)
        return -1;
    r->p++;
    return 0;
}

/* The first '"' or '\\' in [p, end), or end. Strings are most of an event:
 * with SSE2 (every x86-64) sixteen bytes are looked at in a few
 * instructions, which beats two memchr calls on the short strings events
 * are made of. */
static const char *ev_quote_or_backslash(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* A string: fills s with the span between the quotes. */
static int ev_string(ev_reader *r, ev_str *s)
{
    ev_ws(r);
    if (r->p >= r->end || *r->p != '"')
        return -1;
    /* Run to the closing quote, stepping over escapes. (A raw control
     * character, which JSON does not allow in a string, is let through: it
     * harms nothing here.) */
    const char *p = r->p + 1, *end = r->end, *start = p;
    int escaped = 0;
    for (;;) {
        p = ev_quote_or_backslash(p, end);
        if (p >= end)
            return -1;
        if (*p == '"')
            break;
        escaped = 1;
        p += 2; /* past the escaped character, which may be a quote */
        if (p >= end)
            return -1;
    }
    if (s) {
        s->p = start;
        s->n = (size_t)(p - start);
        s->escaped = escaped;
    }
    r->p = p + 1;
    return 0;
}

/* A number; when `out` is given and the number is a plain integer, its
 * exact value. */
static int ev_number(ev_reader *r, int64_t *out, int *is_int)
{
    const char *p = r->p, *end = r->end, *start = p;
    int neg = 0, integral = 1;
    uint64_t v = 0;
    if (p < end && *p == '-')
        neg = 1, p++;
    const char *digits = p;
    /* up to 19 digits can't overflow: the common case, without a check per digit */
    const char *fast_end = end - p > 19 ? p + 19 : end;
    while (p < fast_end && (unsigned)(*p - '0') <= 9)
        v = v * 10 + (uint64_t)(*p++ - '0');
    while (p < end && (unsigned)(*p - '0') <= 9) {
        if (v <= (UINT64_MAX - 9) / 10)
            v = v * 10 + (uint64_t)(*p - '0');
        else
            integral = 0;
        p++;
    }
    if (p == digits)
        return -1;
    if (p < end && *p == '.') {
        integral = 0;
        const char *frac = ++p;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
        if (p == frac)
            return -1; /* "1." */
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integral = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || (unsigned)(*p - '0') > 9)
            return -1;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
    }
    r->p = p;
    if (out && integral && v <= (uint64_t)INT64_MAX)
        *out = neg ? -(int64_t)v : (int64_t)v;
    if (is_int)
        *is_int = integral && p > start;
    return 0;
}

static int ev_literal(ev_reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return -1;
    r->p += n;
    return 0;
}

static int ev_skip_value(ev_reader *r);

/* Walks an object, calling `member` for each key; `member` consumes the
 * value (or returns 1 to have it skipped). */
typedef int (*ev_member_fn)(ev_reader *r, ev_str key, void *ud);

static int ev_object(ev_reader *r, ev_member_fn member, void *ud)
{
    if (ev_expect(r, '{') != 0 || ++r->depth > EV_MAX_DEPTH)
        return -1;
    ev_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        ev_str key;
        if (ev_string(r, &key) != 0 || ev_expect(r, ':') != 0)
            return -1;
        int rc = member ? member(r, key, ud) : 1;
        if (rc < 0 || (rc > 0 && ev_skip_value(r) != 0))
            return -1;
        ev_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (ev_expect(r, '}') != 0)
            return -1;
        r->depth--;
        return 0;
    }
}

static int ev_array(ev_reader *r)
{
    if (ev_expect(r, '[') != 0 || ++r->depth > EV_MAX_DEPTH)
        return -1;
    ev_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        if (ev_skip_value(r) != 0)
            return -1;
        ev_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (ev_expect(r, ']') != 0)
            return -1;
        r->depth--;
        return 0;
    }
}

static int ev_skip_value(ev_reader *r)
{
    ev_ws(r);
    if (r->p >= r->end)
        return -1;
    switch (*r->p) {
    case '"': return ev_string(r, NULL);
    case '{': return ev_object(r, NULL, NULL);
    case '[': return ev_array(r);
    case 't': return ev_literal(r, "true");
    case 'f': return ev_literal(r, "false");
    case 'n': return ev_literal(r, "null");
    default: return ev_number(r, NULL, NULL);
    }
}

/* A string member's value; anything else is skipped, leaving s empty. */
static int ev_string_value(ev_reader *r, ev_str *s)
{
    ev_ws(r);
    if (r->p < r->end && *r->p == '"')
        return ev_string(r, s);
    return ev_skip_value(r);
}

static int ev_key_is(ev_str key, const char *lit)
{
    return !key.escaped && key.n == strlen(lit) && memcmp(key.p, lit, key.n) == 0;
}

static int ev_attr_member(ev_reader *r, ev_str key, void *ud)
{
    ev_scan *e = ud;
    ev_str v = {0};
    ev_ws(r);
    if (r->p >= r->end || *r->p != '"')
        return 1; /* labels are strings; anything else is skipped */
    if (ev_string(r, &v) != 0)
        return -1;
    if (e->nattrs < EV_MAX_ATTRS) {
        e->attrs[e->nattrs].key = key;
        e->attrs[e->nattrs].value = v;
        e->nattrs++;
    } else {
        e->attrs_dropped++;
    }
    return 0;
}

static int ev_actor_member(ev_reader *r, ev_str key, void *ud)
{
    ev_scan *e = ud;
    if (ev_key_is(key, "ID"))
        return ev_string_value(r, &e->id);
    if (ev_key_is(key, "Attributes")) {
        ev_ws(r);
        if (r->p < r->end && *r->p == '{')
            return ev_object(r, ev_attr_member, e);
        return 1;
    }
    return 1;
}

typedef struct ev_top {
    ev_scan *e;
    ev_str status, legacy_id;
    int64_t time_s;
} ev_top;

static int ev_int_value(ev_reader *r, int64_t *out)
{
    ev_ws(r);
    if (r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')))
        return ev_number(r, out, NULL);
    return ev_skip_value(r);
}

static int ev_top_member(ev_reader *r, ev_str key, void *ud)
{
    ev_top *t = ud;
    ev_scan *e = t->e;
    if (ev_key_is(key, "Type"))
        return ev_string_value(r, &e->type);
    if (ev_key_is(key, "Action"))
        return ev_string_value(r, &e->action);
    if (ev_key_is(key, "status"))
        return ev_string_value(r, &t->status);
    if (ev_key_is(key, "id"))
        return ev_string_value(r, &t->legacy_id);
    if (ev_key_is(key, "from"))
        return ev_string_value(r, &e->from);
    if (ev_key_is(key, "HealthStatus"))
        return ev_string_value(r, &e->health);
    if (ev_key_is(key, "timeNano"))
        return ev_int_value(r, &e->time_nano);
    if (ev_key_is(key, "time"))
        return ev_int_value(r, &t->time_s);
    if (ev_key_is(key, "Actor")) {
        ev_ws(r);
        if (r->p < r->end && *r->p == '{')
            return ev_object(r, ev_actor_member, e);
        return 1;
    }
    return 1;
}

int ev_scan_event(const char *p, size_t n, ev_scan *out)
{
    /* not the attribute slots: 3 KB, and only the first nattrs are read */
    memset(out, 0, offsetof(ev_scan, attrs));
    out->nattrs = out->attrs_dropped = 0;
    ev_reader r = {.p = p, .end = p + n};
    ev_top t = {.e = out};
    if (ev_object(&r, ev_top_member, &t) != 0)
        return -1;
    ev_ws(&r);
    if (r.p != r.end)
        return -1;
    if (!out->action.p)
        out->action = t.status;
    if (!out->id.p)
        out->id = t.legacy_id;
    if (out->time_nano == 0 && t.time_s > 0 && t.time_s < INT64_MAX / 1000000000)
        out->time_nano = t.time_s * 1000000000;
    return 0;
}

/* ---- decoded comparisons ---- */

static int ev_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one character at *i of s into buf (UTF-8); returns its length. */
static size_t ev_decode_one(ev_str s, size_t *i, char buf[4])
{
    char c = s.p[(*i)++];
    if (c != '\\' || *i >= s.n) {
        buf[0] = c;
        return 1;
    }
    c = s.p[(*i)++];
    switch (c) {
    case 'b': buf[0] = '\b'; return 1;
    case 'f': buf[0] = '\f'; return 1;
    case 'n': buf[0] = '\n'; return 1;
    case 'r': buf[0] = '\r'; return 1;
    case 't': buf[0] = '\t'; return 1;
    case 'u': {
        unsigned cp = 0;
        for (int k = 0; k < 4 && *i < s.n; k++) {
            int h = ev_hex(s.p[(*i)++]);
            cp = cp * 16 + (unsigned)(h < 0 ? 0 : h);
        }
        /* surrogate pairs are rare in events: each half becomes U+FFFD */
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        if (cp < 0x80) {
            buf[0] = (char)cp;
            return 1;
        }
        if (cp < 0x800) {
            buf[0] = (char)(0xC0 | (cp >> 6));
            buf[1] = (char)(0x80 | (cp & 0x3F));
            return 2;
        }
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    default: buf[0] = c; return 1; /* \" \\ \/ */
    }
}

size_t ev_str_copy(ev_str s, char *out, size_t outlen)
{
    size_t i = 0, len = 0;
    if (!s.p) {
        if (outlen)
            out[0] = '\0';
        return 0;
    }
    if (!s.escaped) {
        if (outlen) {
            size_t k = s.n < outlen - 1 ? s.n : outlen - 1;
            memcpy(out, s.p, k);
            out[k] = '\0';
        }
        return s.n;
    }
    while (i < s.n) {
        char buf[4];
        size_t k = ev_decode_one(s, &i, buf);
        for (size_t j = 0; j < k; j++, len++)
            if (len + 1 < outlen)
                out[len] = buf[j];
    }
    if (outlen)
        out[len < outlen ? len : outlen - 1] = '\0';
    return len;
}

static int ev_compare(ev_str s, const char *lit, int prefix)
{
    size_t litn = strlen(lit);
    if (!s.p)
        return 0;
    if (!s.escaped)
        return prefix ? s.n >= litn && memcmp(s.p, lit, litn) == 0 : s.n == litn && memcmp(s.p, lit, litn) == 0;
    size_t i = 0, pos = 0;
    while (i < s.n) {
        char buf[4];
        size_t k = ev_decode_one(s, &i, buf);
        if (pos + k > litn)
            return prefix && pos >= litn;
        if (memcmp(buf, lit + pos, k) != 0)
            return 0;
        pos += k;
        if (prefix && pos == litn)
            return 1;
    }
    return pos == litn;
}

int ev_str_eq(ev_str s, const char *lit)
{
    return ev_compare(s, lit, 0);
}

int ev_str_has_prefix(ev_str s, const char *prefix)
{
    return ev_compare(s, prefix, 1);
}

ev_str ev_scan_attr(const ev_scan *e, const char *key)
{
    for (int i = 0; i < e->nattrs; i++)
        if (ev_str_eq(e->attrs[i].key, key))
            return e->attrs[i].value;
    ev_str none = {0};
    return none;
}

size_t ev_scan_size(const ev_scan *e)
{
    /* nattrs and attrs_dropped follow the array: they are kept apart */
    return offsetof(ev_scan, attrs) + (size_t)e->nattrs * sizeof e->attrs[0];
}

void ev_str_rebase(ev_str *s, const char *from, const char *to)
{
    if (s->p)
        s->p = to + (s->p - from);
}

void ev_scan_rebase(ev_scan *e, int nattrs, const char *from, const char *to)
{
    ev_str_rebase(&e->type, from, to);
    ev_str_rebase(&e->action, from, to);
    ev_str_rebase(&e->id, from, to);
    ev_str_rebase(&e->from, from, to);
    ev_str_rebase(&e->health, from, to);
    for (int i = 0; i < nattrs; i++) {
        ev_str_rebase(&e->attrs[i].key, from, to);
        ev_str_rebase(&e->attrs[i].value, from, to);
    }
}
