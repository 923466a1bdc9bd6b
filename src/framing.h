/* framing — incremental decoders over byte streams.
 *
 * Engines send streams whose messages do not line up with HTTP chunks: JSON
 * values back to back (newline, CRLF or nothing between them, one value over
 * many chunks, many values in one chunk), Docker's 8-byte multiplexed log
 * frames, and raw lines. These decoders accept any chunking, keep a bounded
 * buffer, and count what they had to discard. Pure functions over bytes: no
 * I/O, no Lua, no allocation beyond their own buffer. The fuzz targets live
 * here. */
#ifndef MOONPOD_FRAMING_H
#define MOONPOD_FRAMING_H

#include <stddef.h>
#include <stdint.h>

/* Called for each complete message. Returning non-zero stops the current
 * feed call early (the remaining bytes of that call are dropped and counted
 * in `discarded`); the decoder stays usable. */
typedef int (*frame_emit_fn)(void *ud, int stream, const char *p, size_t n);

/* ---- concatenated JSON values ---- */

typedef struct frame_json {
    char *buf;              /* bytes of the value being assembled */
    size_t len, cap;
    size_t max_value;       /* bound on one value; larger ones are skipped whole */
    int depth;              /* nesting depth of {} and [] outside strings */
    unsigned char in_string, escaped, skipping;
    uint64_t values;        /* values emitted */
    uint64_t overflows;     /* values skipped because they exceeded max_value */
    uint64_t garbage;       /* runs of bytes outside any value that are not whitespace */
    uint64_t discarded;     /* bytes dropped (garbage, overflow, stop) */
} frame_json;

void frame_json_init(frame_json *f, size_t max_value);
void frame_json_reset(frame_json *f);      /* forget a partial value, keep counters */
void frame_json_free(frame_json *f);
/* Top-level values must be objects or arrays; the emitted span is exactly
 * the value's text (from '{' or '[' to its matching close), `stream` is 0.
 * Returns 0, or -1 when out of memory (the partial value is dropped). */
int frame_json_feed(frame_json *f, const char *p, size_t n, frame_emit_fn emit, void *ud);
/* Bytes of an incomplete value held at end of stream: non-zero means the
 * stream was truncated mid-value. */
size_t frame_json_pending(const frame_json *f);
/* Between two values, with nothing held: bytes fed now start afresh. A
 * caller that finds whole values itself may hand them out directly. */
int frame_json_idle(const frame_json *f);

/* ---- lines ---- */

typedef struct frame_lines {
    char *buf;
    size_t len, cap;
    size_t max_line;        /* a longer line is emitted in pieces of max_line */
    uint64_t lines, splits;
} frame_lines;

void frame_lines_init(frame_lines *f, size_t max_line);
void frame_lines_free(frame_lines *f);
/* Emits each line without its "\n" (and without a "\r" before it) with the
 * given stream number. */
int frame_lines_feed(frame_lines *f, int stream, const char *p, size_t n, frame_emit_fn emit, void *ud);
/* Emits a final unterminated line, if any. */
int frame_lines_finish(frame_lines *f, int stream, frame_emit_fn emit, void *ud);

/* ---- Docker/Podman multiplexed log frames ----
 * header: [stream (0 stdin, 1 stdout, 2 stderr), 0, 0, 0, u32 big-endian length]
 * then the payload. Payloads are split into lines (per stream, so an
 * interleaved stdout/stderr pair never merges), each emitted with its stream. */

typedef struct frame_mux {
    unsigned char hdr[8];
    size_t hdr_len;
    uint32_t remaining;     /* payload bytes still to come in the current frame */
    int stream;
    frame_lines out, err;   /* per-stream line assembly */
    uint64_t frames;
    uint64_t bad_headers;   /* headers with a stream byte > 2 or non-zero padding */
    unsigned char stamped;  /* payloads begin with "TIMESTAMP " (logs asked with timestamps) */
    unsigned char in_stamp; /* reading what may be a continuation frame's timestamp */
    unsigned char stamp_len;
    char stamp[40];         /* its bytes so far, given back if it is not one */
} frame_mux;

void frame_mux_init(frame_mux *f, size_t max_line);
void frame_mux_free(frame_mux *f);
/* Returns 0, -1 when out of memory, or -2 after a bad header: the stream is
 * not multiplexed (a caller may then fall back to frame_lines). */
int frame_mux_feed(frame_mux *f, const char *p, size_t n, frame_emit_fn emit, void *ud);
/* Each frame's payload starts with the engine's "TIMESTAMP ". An engine
 * splits a long line over several frames, each with its own timestamp:
 * the first stays at the start of the line, the others are dropped so the
 * line's text comes out whole. */
void frame_mux_set_stamped(frame_mux *f, int on);
int frame_mux_finish(frame_mux *f, frame_emit_fn emit, void *ud);

#endif
