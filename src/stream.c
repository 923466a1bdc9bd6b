/* stream — an engine response read as it comes (see stream.h).
 *
 * Two sides meet here. The curl side (stream_on_data, stream_on_end) runs
 * inside curl's callbacks: it frames and decodes bytes into queued items and
 * wakes the reader, never touching Lua. The Lua side (the iterator) takes
 * items and turns them into models, waiting when there are none. */
#include "stream.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "framing.h"
#include "models.h"
#include "task.h"

#define STREAM_MT "moonpod.stream"
/* A JSON value (one event, one stats sample) larger than this is skipped. */
#define STREAM_MAX_VALUE ((size_t)4 << 20)
/* Longer log lines come in pieces. */
#define STREAM_MAX_LINE ((size_t)64 << 10)

typedef struct stream_item stream_item;
struct stream_item {
    stream_item *next;
    cJSON *json;
    int fd;          /* log lines: 1 stdout, 2 stderr */
    double ts;       /* log lines: the engine's timestamp, 0 when none */
    size_t len;
    char text[];
};

struct stream {
    task_wait wait;          /* the reader, while it waits for an item */
    int waiting;
    engine_op *eop;          /* the transfer, until it ends or is cancelled */
    engine_reply end;        /* how the transfer ended */
    int ended, closed, paused, error_raised;
    stream_spec spec;
    stream_item *head, *tail;
    size_t count, bytes;
    uint64_t received, dropped, decode_errors, bytes_in;
    frame_json fj;
    frame_mux fm;
    frame_lines fl;
    int raw_lines;           /* a log stream that turned out not to be framed */
    void *scratch;
    engine_errkind fail_kind;/* what the decoders found wrong (stream_fail), or ERR_NONE */
    char fail_message[256];
    char who[160];           /* the engine's endpoint, for messages */
};

/* ---- the queue ---- */

static void stream_item_free(stream_item *it)
{
    cJSON_Delete(it->json);
    free(it);
}

static stream_item *stream_pop(stream *s)
{
    stream_item *it = s->head;
    if (!it)
        return NULL;
    s->head = it->next;
    if (!s->head)
        s->tail = NULL;
    s->count--;
    s->bytes -= it->len;
    return it;
}

static int stream_full(const stream *s)
{
    return s->count >= s->spec.max_items || (s->spec.max_bytes && s->bytes >= s->spec.max_bytes);
}

static void stream_push_item(stream *s, stream_item *it)
{
    while (s->spec.policy == STREAM_DROP_OLDEST && stream_full(s) && s->head) {
        stream_item_free(stream_pop(s));
        s->dropped++;
    }
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->count++;
    s->bytes += it->len;
    s->received++;
    if (s->waiting)
        task_wake(&s->wait);
}

void stream_queue_json(stream *s, cJSON *value)
{
    stream_item *it = calloc(1, sizeof *it);
    if (!it) {
        cJSON_Delete(value);
        s->dropped++;
        return;
    }
    it->json = value;
    stream_push_item(s, it);
}

static void stream_free_queue(stream *s)
{
    stream_item *it;
    while ((it = stream_pop(s)))
        stream_item_free(it);
}

/* ---- decoding (inside curl's callbacks) ---- */

static stream_item *stream_text_item(const char *p, size_t n)
{
    stream_item *it = malloc(sizeof *it + n + 1);
    if (!it)
        return NULL;
    memset(it, 0, sizeof *it);
    it->len = n;
    memcpy(it->text, p, n);
    it->text[n] = '\0';
    return it;
}

static int stream_on_json(void *ud, int fd, const char *p, size_t n)
{
    stream *s = ud;
    (void)fd;
    if (s->spec.push_text) {
        if (s->spec.keep_text && !s->spec.keep_text(s, p, n))
            return 0;
        stream_item *it = stream_text_item(p, n);
        if (it)
            stream_push_item(s, it);
        else
            s->dropped++;
        return 0;
    }
    cJSON *value = cJSON_ParseWithLength(p, n);
    if (!value) {
        s->decode_errors++;
        return 0;
    }
    if (s->spec.split)
        s->spec.split(s, value);
    else
        stream_queue_json(s, value);
    return 0;
}

/* "2026-11-28T15:40:24.199417712Z text": the engine's timestamp, asked for
 * on every log request so that each line has one. */
static size_t stream_log_timestamp(const char *p, size_t n, double *ts)
{
    const char *sp = memchr(p, ' ', n < 64 ? n : 64);
    char stamp[64];
    if (!sp)
        return 0;
    memcpy(stamp, p, (size_t)(sp - p));
    stamp[sp - p] = '\0';
    if (model_parse_time(stamp, ts) != 0)
        return 0;
    return (size_t)(sp - p) + 1;
}

static int stream_on_line(void *ud, int fd, const char *p, size_t n)
{
    stream *s = ud;
    double ts = 0;
    size_t skip = stream_log_timestamp(p, n, &ts);
    if (s->spec.keep_timestamps)
        skip = 0;
    stream_item *it = stream_text_item(p + skip, n - skip);
    if (!it) {
        s->dropped++;
        return 0;
    }
    it->fd = fd == 2 ? 2 : 1;
    it->ts = ts;
    stream_push_item(s, it);
    return 0;
}

static int stream_decode_logs(stream *s, const char *p, size_t n)
{
    if (s->raw_lines)
        return frame_lines_feed(&s->fl, 1, p, n, stream_on_line, s);
    int rc = frame_mux_feed(&s->fm, p, n, stream_on_line, s);
    if (rc == -2 && s->fm.frames == 0 && s->bytes_in == 0) {
        /* not multiplexed from the first byte: a TTY container's raw output */
        s->raw_lines = 1;
        return frame_lines_feed(&s->fl, 1, p, n, stream_on_line, s);
    }
    if (rc == -2)
        s->decode_errors++;
    return rc;
}

static int stream_on_data(const char *p, size_t n, void *ud)
{
    stream *s = ud;
    if (s->spec.policy == STREAM_PAUSE && stream_full(s)) {
        s->paused = 1;
        return HTTP_DATA_PAUSE;
    }
    int rc = s->spec.framing == STREAM_JSON ? frame_json_feed(&s->fj, p, n, stream_on_json, s)
                                            : stream_decode_logs(s, p, n);
    s->bytes_in += n;
    return rc == -1 || s->fail_kind != ERR_NONE ? HTTP_DATA_ABORT : HTTP_DATA_OK;
}

void stream_fail(stream *s, engine_errkind kind, const char *message)
{
    if (s->fail_kind != ERR_NONE)
        return; /* the first reason is the one that counts */
    s->fail_kind = kind;
    snprintf(s->fail_message, sizeof s->fail_message, "%s", message);
}

/* Flushes what the log decoders hold at the end of the transfer; returns
 * 1 when a frame was begun and not finished. The text of a cut frame is
 * dropped: half a line handed out as a whole one would be a lie. */
static int stream_finish_logs(stream *s)
{
    if (s->raw_lines) {
        /* no framing to be cut: an unterminated last line is just output */
        frame_lines_finish(&s->fl, 1, stream_on_line, s);
        return 0;
    }
    int cut = s->fm.hdr_len > 0 || s->fm.remaining > 0;
    if (s->fm.remaining > 0)
        (s->fm.stream == 2 ? &s->fm.err : &s->fm.out)->len = 0;
    frame_mux_finish(&s->fm, stream_on_line, s);
    return cut;
}

/* A value or frame begun and not finished when the transfer ends is a
 * protocol error, whether the engine ended the response there or the
 * connection broke: the stream itself is malformed. A timeout stays a
 * timeout; a break with nothing pending stays a connection error. */
static void stream_note_cut(stream *s)
{
    engine_errkind was = s->end.kind;
    if (was != ERR_NONE && was != ERR_CONNECTION)
        return;
    s->end.kind = ERR_PROTOCOL;
    snprintf(s->end.message, sizeof s->end.message, "the stream from %s was cut in the middle of a %s (%s)", s->who,
             s->spec.framing == STREAM_JSON ? "JSON value" : "log frame",
             was == ERR_NONE ? "the engine ended its response there" : "the connection closed before it was complete");
}

/* The transfer is over: flush what the decoders hold, say why it ended
 * when that was not the engine's doing. */
static void stream_on_end(void *ud)
{
    stream *s = ud;
    s->eop = NULL;
    s->ended = 1;
    int cut = s->spec.framing == STREAM_JSON ? frame_json_pending(&s->fj) > 0 : stream_finish_logs(s);
    if (s->fail_kind != ERR_NONE) {
        /* the decoders stopped the transfer: their reason, not curl's */
        s->end.kind = s->fail_kind;
        s->end.status = 0; /* the HTTP status said all was well */
        snprintf(s->end.message, sizeof s->end.message, "%s", s->fail_message);
    } else if (cut) {
        stream_note_cut(s);
    }
    if (s->waiting)
        task_wake(&s->wait);
}

/* ---- the Lua side ---- */

static stream *stream_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, STREAM_MT);
}

static void stream_close(stream *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    engine_cancel(s->eop);
    s->eop = NULL;
    stream_free_queue(s);
    frame_json_free(&s->fj);
    frame_mux_free(&s->fm);
    frame_lines_free(&s->fl);
    engine_reply_clear(&s->end);
    free(s->scratch);
    s->scratch = NULL;
    if (s->waiting)
        task_wake(&s->wait);
}

static void stream_wait_cancel(task_wait *w)
{
    ((stream *)w)->waiting = 0;
}

static void stream_push_log(lua_State *L, stream_item *it)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, it->fd == 2 ? "stderr" : "stdout");
    lua_setfield(L, -2, "stream");
    lua_pushlstring(L, it->text, it->len);
    lua_setfield(L, -2, "text");
    if (it->ts > 0) {
        lua_pushnumber(L, it->ts);
        lua_setfield(L, -2, "timestamp");
    }
}

/* Pushes a text item's model (protected: the item is freed either way). */
static int stream_push_text_p(lua_State *L)
{
    stream *s = lua_touserdata(L, 1);
    stream_item *it = lua_touserdata(L, 2);
    if (!s->spec.push_text(L, s, it->text, it->len))
        lua_pushnil(L);
    return 1;
}

/* Pushes the head item as a model; returns 0 when the model skips it. */
static int stream_push_head(lua_State *L, stream *s)
{
    stream_item *it = stream_pop(s);
    int pushed = 1;
    if (it->json) {
        cJSON *value = it->json; /* the model owns it from here */
        free(it);
        pushed = s->spec.push(L, s, value);
    } else if (s->spec.framing == STREAM_JSON) {
        lua_pushcfunction(L, stream_push_text_p);
        lua_pushlightuserdata(L, s);
        lua_pushlightuserdata(L, it);
        int rc = lua_pcall(L, 2, 1, 0);
        free(it);
        if (rc != LUA_OK)
            lua_error(L);
        pushed = !lua_isnil(L, -1);
        if (!pushed) {
            lua_pop(L, 1);
            s->decode_errors++; /* balanced JSON, but not what the model reads */
        }
    } else {
        stream_push_log(L, it);
        free(it);
    }
    if (s->paused && s->count <= s->spec.max_items / 2 &&
        (!s->spec.max_bytes || s->bytes <= s->spec.max_bytes / 2)) {
        s->paused = 0;
        engine_resume(s->eop); /* may deliver more items right now */
    }
    return pushed;
}

static int stream_next(lua_State *L, stream *s);

static int stream_next_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    stream *s = stream_check(L, 1);
    s->waiting = 0;
    return stream_next(L, s);
}

static int stream_next(lua_State *L, stream *s)
{
    for (;;) {
        if (s->closed) {
            lua_pushnil(L);
            return 1;
        }
        if (s->head) {
            if (stream_push_head(L, s))
                return 1;
            continue;
        }
        if (s->ended) {
            if (s->end.kind != ERR_NONE && !s->error_raised) {
                s->error_raised = 1;
                error_push_reply(L, &s->end);
                return lua_error(L);
            }
            lua_pushnil(L);
            return 1;
        }
        if (s->waiting)
            return luaL_error(L, "another task is already reading this stream");
        task_check_wait(L, "stream");
        s->waiting = 1;
        s->wait.cancel = stream_wait_cancel;
        return task_yield(L, &s->wait, stream_next_k, 0);
    }
}

/* stream() / stream:next() -> the next item, waiting for it; nil at the
 * end. Raises the error that ended the stream, once. */
static int stream_l_next(lua_State *L)
{
    lua_settop(L, 1);
    return stream_next(L, stream_check(L, 1));
}

/* stream:close(): cancels the transfer and releases the connection now. */
static int stream_l_close(lua_State *L)
{
    stream_close(stream_check(L, 1));
    return 0;
}

/* stream:stats() -> { received, dropped, queued, decode_errors, bytes, paused, ended } */
static int stream_l_stats(lua_State *L)
{
    stream *s = stream_check(L, 1);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, (lua_Integer)s->received);
    lua_setfield(L, -2, "received");
    lua_pushinteger(L, (lua_Integer)s->dropped);
    lua_setfield(L, -2, "dropped");
    lua_pushinteger(L, (lua_Integer)s->count);
    lua_setfield(L, -2, "queued");
    lua_pushinteger(L, (lua_Integer)(s->decode_errors + s->fj.garbage + s->fj.overflows + s->fm.bad_headers));
    lua_setfield(L, -2, "decode_errors");
    lua_pushinteger(L, (lua_Integer)s->bytes_in);
    lua_setfield(L, -2, "bytes");
    lua_pushboolean(L, s->paused);
    lua_setfield(L, -2, "paused");
    lua_pushboolean(L, s->ended || s->closed);
    lua_setfield(L, -2, "ended");
    return 1;
}

static int stream_l_gc(lua_State *L)
{
    stream_close(stream_check(L, 1));
    return 0;
}

static int stream_l_tostring(lua_State *L)
{
    stream *s = stream_check(L, 1);
    lua_pushfstring(L, "moonpod stream (%s, %d queued)", s->closed ? "closed" : s->ended ? "ended" : "open",
                    (int)s->count);
    return 1;
}

void stream_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", stream_l_next},
        {"close", stream_l_close},
        {"stats", stream_l_stats},
        {NULL, NULL},
    };
    luaL_newmetatable(L, STREAM_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, stream_l_next);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, stream_l_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, stream_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, stream_l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

stream *stream_open(lua_State *L, int owner_idx, engine *e, const engine_request *rq, const stream_spec *spec)
{
    owner_idx = lua_absindex(L, owner_idx);
    stream *s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    s->spec = *spec;
    if (s->spec.max_items == 0)
        s->spec.max_items = 1024;
    frame_json_init(&s->fj, STREAM_MAX_VALUE);
    frame_mux_init(&s->fm, STREAM_MAX_LINE);
    frame_mux_set_stamped(&s->fm, spec->framing == STREAM_LOG_MUX);
    frame_lines_init(&s->fl, STREAM_MAX_LINE);
    luaL_setmetatable(L, STREAM_MT);
    lua_pushvalue(L, owner_idx);
    lua_setiuservalue(L, -2, 1);
    snprintf(s->who, sizeof s->who, "%s", e->ep.display ? e->ep.display : "the engine");
    engine_request r = *rq;
    r.flags |= ENGINE_STREAM;
    r.on_data = stream_on_data;
    r.data_ud = s;
    s->eop = engine_call(e, &r, &s->end, stream_on_end, s);
    if (!s->eop) {
        error_push_reply(L, &s->end);
        stream_close(s);
        lua_error(L);
    }
    task_opened(L, -1); /* a REPL chunk's streams close when it is interrupted */
    return s;
}

void *stream_scratch(stream *s, size_t size)
{
    if (!s->scratch)
        s->scratch = calloc(1, size);
    return s->scratch;
}

const stream_spec *stream_get_spec(const stream *s)
{
    return &s->spec;
}

int stream_push_for(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, idx);
    return 4;
}

/* ---- reading a whole stream into a list ---- */

static int stream_collect_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: ... stream(at ctx) list */
static int stream_collect_loop(lua_State *L, int sidx)
{
    stream *s = stream_check(L, sidx);
    int list = sidx + 1;
    for (;;) {
        while (s->head) {
            if (stream_push_head(L, s))
                lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
        }
        if (s->ended || s->closed) {
            if (s->end.kind != ERR_NONE) {
                error_push_reply(L, &s->end);
                return lua_error(L);
            }
            lua_settop(L, list);
            return 1;
        }
        task_check_wait(L, "stream");
        s->waiting = 1;
        s->wait.cancel = stream_wait_cancel;
        return task_yield(L, &s->wait, stream_collect_k, sidx);
    }
}

static int stream_collect_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = stream_check(L, (int)ctx);
    s->waiting = 0;
    return stream_collect_loop(L, (int)ctx);
}

int stream_collect(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_settop(L, idx);
    lua_newtable(L);
    return stream_collect_loop(L, idx);
}
