/* tap — the smallest TAP producer the unit tests need.
 *
 *   ok(cond, "name %d", i)           one test point
 *   is_int(got, want, "name")        compares integers, shows both on failure
 *   is_mem(p, n, q, m, "name")       compares byte strings
 *   return tap_done();               prints the plan; the exit status is 1 if
 *                                    any test point failed
 *
 * The plan comes last so a test may loop over data without counting first. */
#ifndef MOONPOD_TAP_H
#define MOONPOD_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failures;

static inline int tap_vpoint(int pass, const char *file, int line, const char *fmt, va_list ap)
{
    tap_count++;
    if (!pass)
        tap_failures++;
    printf("%sok %d - ", pass ? "" : "not ", tap_count);
    vprintf(fmt, ap);
    printf("\n");
    if (!pass)
        printf("# failed at %s:%d\n", file, line);
    fflush(stdout);
    return pass;
}

__attribute__((format(printf, 4, 5)))
static inline int tap_point(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = tap_vpoint(pass, file, line, fmt, ap);
    va_end(ap);
    return r;
}

/* A diagnostic line; newlines in the text are replaced so it stays one line. */
__attribute__((format(printf, 1, 2)))
static inline void tap_diag(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    size_t i;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (i = 0; line[i]; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    printf("# %s\n", line);
}

/* Prints a byte string readably inside a diagnostic. */
static inline void tap_diag_mem(const char *label, const char *p, size_t n)
{
    char line[512];
    size_t i, o = 0;

    for (i = 0; i < n && o + 8 < sizeof line; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c >= 32 && c < 127 && c != '\\')
            line[o++] = (char)c;
        else
            o += (size_t)snprintf(line + o, sizeof line - o, "\\x%02x", c);
    }
    line[o] = '\0';
    tap_diag("%s: \"%s\"%s (%zu bytes)", label, line, i < n ? "..." : "", n);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    if (tap_failures)
        printf("# %d of %d failed\n", tap_failures, tap_count);
    return tap_failures ? 1 : 0;
}

#define ok(cond, ...) tap_point((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                          \
    do {                                                                                \
        long long tap_got_ = (long long)(got), tap_want_ = (long long)(want);           \
        if (!tap_point(tap_got_ == tap_want_, __FILE__, __LINE__, __VA_ARGS__))         \
            tap_diag("got %lld, want %lld (%s)", tap_got_, tap_want_, #got);            \
    } while (0)

#define is_mem(p, n, q, m, ...)                                                         \
    do {                                                                                \
        const char *tap_p_ = (p), *tap_q_ = (q);                                        \
        size_t tap_n_ = (n), tap_m_ = (m);                                              \
        if (!tap_point(tap_n_ == tap_m_ && (tap_n_ == 0 || memcmp(tap_p_, tap_q_, tap_n_) == 0), \
                       __FILE__, __LINE__, __VA_ARGS__)) {                              \
            tap_diag_mem("got ", tap_p_, tap_n_);                                       \
            tap_diag_mem("want", tap_q_, tap_m_);                                       \
        }                                                                               \
    } while (0)

#define is_str(got, want, ...)                                                          \
    do {                                                                                \
        const char *tap_s_ = (got), *tap_t_ = (want);                                   \
        is_mem(tap_s_ ? tap_s_ : "(null)", tap_s_ ? strlen(tap_s_) : 6, tap_t_, strlen(tap_t_), __VA_ARGS__); \
    } while (0)

#endif
