/* event_source — an engine's event stream, kept open for a listener (see
 * event_source.h).
 *
 * The curl side (evsrc_on_data, evsrc_on_end and the reconnect timer) runs
 * in loop callbacks and never touches Lua; the Lua side takes queued items
 * with source:next(), waiting when there are none. */
#include "event_source.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_impl.h"
#include "error.h"
#include "event_file.h"
#include "event_file_format.h"
#include "event_scan.h"
#include "framing.h"
#include "log.h"
#include "loop.h"
#include "models.h"
#include "task.h"

#define EVSRC_MT "moonpod.event_source"
#define EVSRC_MAX_VALUE ((size_t)1 << 20)
#define EVSRC_MAX_DELAY 300.0         /* seconds: backoff stops growing here */
#define EVSRC_STABLE_SECS 10.0        /* a connection this old counts as healthy */
/* A reconnect asks again from a little before the newest event: engines
 * write events slightly out of timeNano order (Podman's writers race for
 * its events file), and those late ones must not be lost. What comes back
 * twice is recognised among the most recent events delivered. */
#define EVSRC_REPLAY_MARGIN_NS 2000000000LL
#define EVSRC_RECENT 1024
#define EVSRC_STALE_NS (10LL * 1000000000LL) /* older than the newest by this: a re-send */
/* A full buffer holds the stream (the engine and the kernel buffer meanwhile)
 * for this long before the oldest events are dropped: well under the
 * 100 ms after which Docker skips a subscriber that does not read. */
#define EVSRC_GRACE_MS 50
#define EVSRC_HEALTH_SLOTS 1024
#define EVSRC_FILE_PENDING 64
#define EVSRC_FILE_PENDING_MAX 16384 /* bytes: a longer event is left to the stream */
/* Events read ahead of the handlers before the stream waits for them to
 * take some, for at most EVSRC_TURN_MS */
#define EVSRC_TURN_EVENTS 256
#define EVSRC_TURN_MS 2

enum { ITEM_EVENT, ITEM_RECONNECTED, ITEM_FAILED };

typedef struct evsrc_item evsrc_item;
/* An event keeps the scan of its text (the used part of an ev_scan) so
 * that it is not scanned again when handed to Lua; the text follows. */
struct evsrc_item {
    evsrc_item *next;
    int kind;
    int matched;
    int nattrs;
    size_t len, scan_size, cap;
    event_view view;             /* of an event: what the filters read, kept for Lua */
    max_align_t data[];
};

/* Items are about a kilobyte each, just past what malloc serves from its
 * per-thread cache: a few freed ones are kept for the next events. */
#define EVSRC_SPARE_ITEMS 64
#define EVSRC_ITEM_ROUND 64
static evsrc_item *evsrc_spare;
static int evsrc_nspare;

#define EVSRC_ALIGN(n) (((n) + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t))

static char *evsrc_item_text(evsrc_item *it)
{
    return (char *)it->data + EVSRC_ALIGN(it->scan_size);
}

typedef struct evsrc_filter {
    char **types, **actions, **label_keys, **label_values, **ids;
    size_t ntypes, nactions, nlabels, nids;
    char *name_prefix;
} evsrc_filter;

/* An event of the events file not yet known to be this engine's. */
typedef struct evsrc_pending {
    uint64_t key;
    char *text;                  /* in the API's form, or NULL */
    size_t len;
} evsrc_pending;

typedef struct evsrc_health {
    uint64_t id_hash;
    char state[16];
} evsrc_health;

typedef struct evsrc {
    task_wait wait;
    int waiting;
    engine *e;
    engine_op *eop;
    engine_reply end;
    frame_json fj;
    uv_timer_t *timer;           /* reconnecting */
    uv_timer_t *grace;           /* how long a full buffer may hold the stream */
    uv_timer_t *turn;            /* ends a hold for the loop's next turn */
    evsrc_filter filter;
    size_t max_items;
    int auto_reconnect, max_attempts, deliver_all;
    double delay;
    char runtime[16];
    /* state */
    int stopped, failed, attempts, reconnecting;
    int paused;                  /* the buffer is full: the transfer waits */
    int overflowing;             /* it waited too long: the oldest go */
    int turning;                 /* held until the loop's next turn */
    uint64_t queued;             /* events queued, ever */
    uint64_t turn_queued;        /* `queued` when the handlers last took some */
    double connected_at;         /* monotonic seconds of the current connection */
    int64_t since_nano;          /* where the stream (re)starts */
    int64_t last_nano;           /* timeNano of the newest event delivered */
    int64_t replay_until;        /* after a reconnect: events up to here may be repeats */
    uint64_t recent[EVSRC_RECENT]; /* hashes of the latest events, a ring */
    size_t recent_pos;
    evsrc_health health[EVSRC_HEALTH_SLOTS];
    evsrc_item *head, *tail;
    size_t count;
    /* counters */
    uint64_t received, delivered, dropped, filtered, health_repeats, replay_skipped, decode_errors, reconnects,
        pauses;
    /* Podman's events file, followed next to the API stream (event_file.h):
     * its events are taken only once the API has sent one of them too
     * (`file_confirmed`), so a file of another Podman is never believed;
     * till then the latest wait in `file_pending`, a ring. */
    evfile *file;
    int file_confirmed;
    evsrc_pending file_pending[EVSRC_FILE_PENDING];
    size_t file_pending_pos;
    buf file_event;              /* a line of the file in the API's form */
    uint64_t file_first, file_late, file_bad;
    /* Sharing (moonpod serve): a shared stream (`is_shared`) reads the
     * engine once and hands each event to the queues of its subscribers;
     * a subscriber (`upstream` set) has a filter and a queue of its own and
     * no connection. Each queue drops its own oldest events when full, so a
     * subscriber that doesn't read holds up no one else: a shared stream is
     * never held (its own queue stays empty). */
    int is_shared;
    struct evsrc *upstream;
    struct evsrc *subs, *sub_next;
    struct evsrc *shared_next;
    lua_State *owner;            /* main thread of the state the source lives in */
} evsrc;

static evsrc *evsrc_shared_list; /* every shared stream of the process */
static event_source_drop_fn evsrc_drop_fn;

void event_source_on_drop(event_source_drop_fn fn)
{
    evsrc_drop_fn = fn;
}

/* A subscriber lost an event: its state's owner hears of it. */
static void evsrc_dropped(evsrc *s)
{
    s->dropped++;
    if (s->upstream && evsrc_drop_fn)
        evsrc_drop_fn(s->owner);
}

static void evsrc_connect(evsrc *s);

/* ---- small helpers ---- */

/* FNV-1a over eight bytes at a time: ids are 64 characters, hashed for
 * every event. */
static uint64_t evsrc_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* What tells an event from another in a replay: its time, container and
 * action (with Docker's detail) — cheaper than hashing the whole text. */
static uint64_t evsrc_key(const ev_scan *e)
{
    uint64_t h = evsrc_hash(e->id.p ? e->id.p : "", e->id.n);
    h ^= evsrc_hash(e->action.p ? e->action.p : "", e->action.n) * 31;
    h ^= (uint64_t)e->time_nano * 0x9E3779B97F4A7C15ull;
    /* bit 1 set: 0 marks an empty slot; bit 0 is left for the ring to
     * mark an event that came from the events file */
    return (h | 2) & ~(uint64_t)1;
}

static double evsrc_now_mono(void)
{
    return (double)uv_hrtime() / 1e9;
}

static int evsrc_in(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static void evsrc_item_free(evsrc_item *it)
{
    if (evsrc_nspare < EVSRC_SPARE_ITEMS && it->cap <= 4096) {
        it->next = evsrc_spare;
        evsrc_spare = it;
        evsrc_nspare++;
        return;
    }
    free(it);
}

static evsrc_item *evsrc_item_alloc(size_t size)
{
    size = (size + EVSRC_ITEM_ROUND - 1) / EVSRC_ITEM_ROUND * EVSRC_ITEM_ROUND;
    for (evsrc_item **pp = &evsrc_spare; *pp; pp = &(*pp)->next) {
        evsrc_item *it = *pp;
        if (it->cap >= size) {
            *pp = it->next;
            evsrc_nspare--;
            return it;
        }
    }
    evsrc_item *it = malloc(size);
    if (it)
        it->cap = size;
    return it;
}

/* The item's view points into its own copy of the text. */
static void evsrc_view_rebase(event_view *v, const ev_scan *scan, const char *from, const char *to)
{
    ev_str_rebase(&v->id, from, to);
    ev_str_rebase(&v->name, from, to);
    ev_str_rebase(&v->image, from, to);
    v->scan = scan;
}

/* ---- the queue ---- */

/* Takes the head item off the queue. */
static evsrc_item *evsrc_unlink_head(evsrc *s)
{
    evsrc_item *it = s->head;
    s->head = it->next;
    if (!s->head)
        s->tail = NULL;
    s->count--;
    return it;
}

static void evsrc_push(evsrc *s, evsrc_item *it)
{
    /* Over max_items by at most what one read held (the stream is held
     * from there); the oldest go only once the hold has lasted too long.
     * A subscriber of a shared stream drops at once: holding the stream for
     * it would hold every other subscriber too. */
    if (it->kind == ITEM_EVENT && (s->overflowing || s->upstream)) {
        while (s->count >= s->max_items && s->head && s->head->kind == ITEM_EVENT) {
            evsrc_item_free(evsrc_unlink_head(s));
            evsrc_dropped(s);
        }
    }
    if (it->kind == ITEM_EVENT)
        s->queued++;
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->count++;
    if (s->waiting)
        task_wake(&s->wait);
}

static evsrc_item *evsrc_item_new(int kind, const char *text, size_t len, const ev_scan *scan,
                                  const event_view *view)
{
    size_t scan_size = scan ? ev_scan_size(scan) : 0;
    evsrc_item *it = evsrc_item_alloc(sizeof *it + EVSRC_ALIGN(scan_size) + len + 1);
    if (!it)
        return NULL;
    it->kind = kind;
    it->matched = 0;
    it->len = len;
    it->scan_size = scan_size;
    it->nattrs = scan ? scan->nattrs : 0;
    char *t = evsrc_item_text(it);
    if (len)
        memcpy(t, text, len);
    t[len] = '\0';
    if (scan) {
        memcpy(it->data, scan, scan_size);
        ev_scan_rebase((ev_scan *)(void *)it->data, it->nattrs, text, t);
        it->view = *view;
        evsrc_view_rebase(&it->view, (const ev_scan *)(const void *)it->data, text, t);
    }
    return it;
}

static void evsrc_control(evsrc *s, int kind, const char *text)
{
    if (s->is_shared) {
        for (evsrc *sub = s->subs; sub; sub = sub->sub_next) {
            if (kind == ITEM_FAILED)
                sub->failed = 1;
            evsrc_control(sub, kind, text);
        }
        return;
    }
    evsrc_item *it = evsrc_item_new(kind, text, strlen(text), NULL, NULL);
    if (it)
        evsrc_push(s, it);
}

/* ---- filtering, in C, on the normalised view ---- */

static int evsrc_matches(const evsrc *s, const event_view *v)
{
    const evsrc_filter *f = &s->filter;
    if (f->ntypes && !evsrc_in(f->types, f->ntypes, v->type))
        return 0;
    if (f->nactions && !evsrc_in(f->actions, f->nactions, v->action))
        return 0;
    if (f->name_prefix && !ev_str_has_prefix(v->name, f->name_prefix))
        return 0;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!model_event_has_label(v, f->label_keys[i], f->label_values[i]))
            return 0;
    if (f->nids) {
        size_t i;
        for (i = 0; i < f->nids; i++)
            if (ev_str_has_prefix(v->id, f->ids[i]) || ev_str_eq(v->name, f->ids[i]))
                break;
        if (i == f->nids)
            return 0;
    }
    return 1;
}

/* Only a change of health is an event. Docker sends nothing else; Podman
 * 4.3 sends one per check, carrying the state from before that check, so
 * its events are left to the listener, which reads the state itself. */
static int evsrc_health_repeat(evsrc *s, const event_view *v)
{
    if (s->e->runtime == RUNTIME_PODMAN || !v->id.p)
        return 0;
    /* A (re)started container's health starts over (Docker sends no
     * "starting"): its next state is news even if it is the old one. */
    int started = strcmp(v->action, "start") == 0;
    if (!started && (strcmp(v->action, "health_status") != 0 || !v->health[0]))
        return 0;
    uint64_t h = evsrc_hash(v->id.p, v->id.n) | 1;
    size_t slot = h % EVSRC_HEALTH_SLOTS;
    for (size_t probe = 0; probe < 8; probe++, slot = (slot + 1) % EVSRC_HEALTH_SLOTS) {
        evsrc_health *e = &s->health[slot];
        if (started) {
            if (e->id_hash == h)
                e->state[0] = '\0';
            if (e->id_hash == h || e->id_hash == 0)
                return 0;
            continue;
        }
        if (e->id_hash == h) {
            if (strcmp(e->state, v->health) == 0)
                return 1;
            snprintf(e->state, sizeof e->state, "%s", v->health);
            return 0;
        }
        if (e->id_hash == 0) {
            e->id_hash = h;
            snprintf(e->state, sizeof e->state, "%s", v->health);
            return 0;
        }
    }
    /* a crowded neighbourhood: forget it rather than grow */
    if (!started)
        memset(s->health, 0, sizeof s->health);
    return 0;
}

enum { EVSRC_SEEN = 1, EVSRC_SEEN_IN_FILE = 2 };

/* Is this event one delivered already? Engines write in order, so only an
 * event no newer than the newest one delivered can be. Podman's file
 * logger, when it rotates its events log, reads it again from the top on a
 * live stream and sends events from long ago: one much older than the
 * newest, and than the clock (a clock set back must not blind the stream),
 * is such a re-send. After a reconnect the engine replays from just before
 * the newest event: those are looked up among the last EVSRC_RECENT. */
static int evsrc_seen(const evsrc *s, int64_t t, uint64_t key)
{
    if (t == 0 || t > s->last_nano)
        return 0;
    if (s->last_nano - t > EVSRC_STALE_NS && (int64_t)(loop_wall_now() * 1e9) - t > EVSRC_STALE_NS)
        return EVSRC_SEEN;
    /* with an events file, every event comes twice: look each one up */
    if (!s->file && (s->replay_until == 0 || t > s->replay_until))
        return 0;
    for (size_t i = 0; i < EVSRC_RECENT; i++)
        if ((s->recent[i] & ~(uint64_t)1) == key)
            return s->recent[i] & 1 ? EVSRC_SEEN_IN_FILE : EVSRC_SEEN;
    return 0;
}

static void evsrc_remember(evsrc *s, int64_t t, uint64_t key, int from_file)
{
    s->recent[s->recent_pos] = key | (from_file ? 1 : 0);
    s->recent_pos = (s->recent_pos + 1) % EVSRC_RECENT;
    if (t > s->last_nano)
        s->last_nano = t;
}

/* Filters an event read once and queues a copy of it for s. */
static void evsrc_offer(evsrc *s, const char *p, size_t n, const ev_scan *scan, const event_view *v)
{
    int matched = evsrc_matches(s, v);
    if (!matched && !(s->deliver_all && strcmp(v->type, "container") == 0)) {
        s->filtered++;
        return;
    }
    evsrc_item *it = evsrc_item_new(ITEM_EVENT, p, n, scan, v);
    if (!it) {
        evsrc_dropped(s);
        return;
    }
    it->matched = matched;
    evsrc_push(s, it);
}

static void evsrc_on_event(evsrc *s, const char *p, size_t n, const ev_scan *scan, int from_file);

static void evsrc_pending_clear(evsrc *s)
{
    for (size_t i = 0; i < EVSRC_FILE_PENDING; i++) {
        free(s->file_pending[i].text);
        s->file_pending[i] = (evsrc_pending){0, NULL, 0};
    }
}

/* An event of the API stream that the events file had first proves the
 * file is this engine's. The file's events after that one, which the
 * stream has yet to send, go now, in the file's order: later ones from the
 * file must not overtake them. */
static void evsrc_file_check(evsrc *s, uint64_t key)
{
    size_t at = 0;
    while (at < EVSRC_FILE_PENDING && s->file_pending[at].key != key)
        at++;
    if (at == EVSRC_FILE_PENDING)
        return;
    s->file_confirmed = 1;
    log_debug("events of %s: following %s as well", s->e->ep.display, evfile_path(s->file));
    for (size_t i = (at + 1) % EVSRC_FILE_PENDING; i != s->file_pending_pos; i = (i + 1) % EVSRC_FILE_PENDING) {
        evsrc_pending *pe = &s->file_pending[i];
        ev_scan scan;
        if (pe->text && ev_scan_event(pe->text, pe->len, &scan) == 0)
            evsrc_on_event(s, pe->text, pe->len, &scan, 1);
    }
    evsrc_pending_clear(s);
}

/* Keeps an event of a file not yet confirmed. */
static void evsrc_file_hold(evsrc *s, uint64_t key, const char *p, size_t n)
{
    evsrc_pending *pe = &s->file_pending[s->file_pending_pos];
    free(pe->text);
    pe->key = key;
    pe->text = n <= EVSRC_FILE_PENDING_MAX ? malloc(n) : NULL;
    pe->len = pe->text ? n : 0;
    if (pe->text)
        memcpy(pe->text, p, n);
    s->file_pending_pos = (s->file_pending_pos + 1) % EVSRC_FILE_PENDING;
}

/* One event read from the stream (or the events file) and scanned:
 * unless it was had already, filtered and queued. */
static void evsrc_accept(evsrc *s, const char *p, size_t n, const ev_scan *scan, uint64_t key, int from_file)
{
    event_view v;
    int seen = evsrc_seen(s, scan->time_nano, key);
    if (seen) {
        if (from_file)
            s->file_late++;
        else if (seen == EVSRC_SEEN)
            s->replay_skipped++;
        return;
    }
    evsrc_remember(s, scan->time_nano, key, from_file);
    if (from_file)
        s->file_first++;
    else
        s->attempts = 0; /* the connection works */
    model_event_view(scan, &v);
    if (evsrc_health_repeat(s, &v)) {
        s->health_repeats++;
        return;
    }
    if (!s->is_shared) {
        evsrc_offer(s, p, n, scan, &v);
        return;
    }
    for (evsrc *sub = s->subs; sub; sub = sub->sub_next)
        evsrc_offer(sub, p, n, scan, &v);
}

static void evsrc_on_event(evsrc *s, const char *p, size_t n, const ev_scan *scan, int from_file)
{
    uint64_t key = evsrc_key(scan);
    evsrc_accept(s, p, n, scan, key, from_file);
    if (!from_file && s->file && !s->file_confirmed)
        evsrc_file_check(s, key);
}

/* A value the framer found. */
static int evsrc_on_value(void *ud, int fd, const char *p, size_t n)
{
    evsrc *s = ud;
    ev_scan scan;
    (void)fd;
    s->received++;
    if (ev_scan_event(p, n, &scan) != 0)
        s->decode_errors++;
    else
        evsrc_on_event(s, p, n, &scan, 0);
    return 0;
}

static int evsrc_is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* A whole line that is exactly one event, scanned where it lies. */
static int evsrc_line_event(evsrc *s, const char *p, size_t n)
{
    ev_scan scan;
    while (n > 0 && evsrc_is_space(p[n - 1]))
        n--;
    while (n > 0 && evsrc_is_space(*p))
        p++, n--;
    if (n == 0)
        return 1; /* a blank line: nothing to read */
    if (*p != '{' || n > s->fj.max_value || ev_scan_event(p, n, &scan) != 0)
        return 0;
    s->received++;
    evsrc_on_event(s, p, n, &scan, 0);
    return 1;
}

/* Both engines write one event per line, so a line that comes whole is
 * scanned straight from the chunk: the scan checks that it is exactly one
 * JSON value. The framer, which walks every byte to find where values end,
 * takes only the rest: a line cut by the chunk's end, and whatever a line
 * scan refuses (values back to back, garbage, an overlong value), which it
 * splits and counts as it always did. */
static int evsrc_feed(evsrc *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (p + i)) + 1;
        int idle = frame_json_idle(&s->fj);
        if (!idle || !evsrc_line_event(s, p + i, len)) {
            if (frame_json_feed(&s->fj, p + i, len, evsrc_on_value, s) == -1)
                return -1;
        }
        i += len;
    }
    return i < n ? frame_json_feed(&s->fj, p + i, n - i, evsrc_on_value, s) : 0;
}

/* ---- Podman's events file ---- */

/* A line of the events file, in the API's form, takes the path of an event
 * from the stream. While the buffer is full it is left to the stream,
 * which holds and drops by its own rules (and replays it after a
 * reconnect: it was not remembered). */
static void evsrc_on_file_line(void *ud, const char *p, size_t n)
{
    evsrc *s = ud;
    ev_scan scan;
    buf_clear(&s->file_event);
    if (evfmt_convert(p, n, &s->file_event) != 0 || s->file_event.oom ||
        ev_scan_event(s->file_event.p, s->file_event.len, &scan) != 0) {
        s->file_bad++;
        return;
    }
    if (!s->file_confirmed) {
        evsrc_file_hold(s, evsrc_key(&scan), s->file_event.p, s->file_event.len);
        return;
    }
    if (!s->is_shared && s->count >= s->max_items)
        return;
    evsrc_on_event(s, s->file_event.p, s->file_event.len, &scan, 1);
}

/* Follows Podman's events file next to the stream: the file named by
 * `events_file`, else, for a Podman on this machine, the one its
 * containers.conf names; `events_file = false` turns it off. */
static void evsrc_file_start(lua_State *L, int cfg, evsrc *s)
{
    char path[4096], err[512];
    int t = lua_getfield(L, cfg, "events_file");
    if (t == LUA_TSTRING)
        snprintf(path, sizeof path, "%s", lua_tostring(L, -1));
    int off = t == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (t != LUA_TSTRING && t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "event source: events_file must be a path or false");
    if (off)
        return;
    if (t != LUA_TSTRING) {
        int local = s->e->ep.transport == TRANSPORT_UNIX || s->e->ep.transport == TRANSPORT_CLI;
        if (s->e->runtime != RUNTIME_PODMAN || !local || evfile_podman_path(path, sizeof path) != 0)
            return;
    }
    buf_init(&s->file_event);
    s->file = evfile_follow(path, evsrc_on_file_line, s, err, sizeof err);
    if (!s->file)
        log_debug("events of %s: not following the events file: %s", s->e->ep.display, err);
}

static void evsrc_on_grace(uv_timer_t *t)
{
    evsrc *s = t->data;
    if (!s->paused)
        return;
    s->paused = 0;
    s->overflowing = 1;
    engine_resume(s->eop);
}

/* Ends a hold for the handlers: they took events, or a few milliseconds
 * went by (a handler that waits must not hold the stream). */
static void evsrc_end_turn(evsrc *s)
{
    s->turn_queued = s->queued;
    if (!s->turning)
        return;
    s->turning = 0;
    uv_timer_stop(s->turn);
    if (!s->paused && s->eop)
        engine_resume(s->eop); /* may deliver more items right now */
}

static void evsrc_on_turn(uv_timer_t *t)
{
    evsrc_end_turn(t->data);
}

static int evsrc_on_data(const char *p, size_t n, void *ud)
{
    evsrc *s = ud;
    if (s->count >= s->max_items && !s->overflowing) {
        if (!s->paused) {
            s->paused = 1;
            s->pauses++;
            uv_timer_start(s->grace, evsrc_on_grace, EVSRC_GRACE_MS, 0);
        }
        return HTTP_DATA_PAUSE;
    }
    /* An engine that sends faster than the handlers take would have the
     * reader run ahead by a whole buffer, each event long out of the cache
     * by the time a handler gets it: once a share is queued (events the
     * filters drop don't count), the stream waits for the handlers to take
     * some, or for EVSRC_TURN_MS. */
    if (!s->is_shared && s->queued - s->turn_queued >= EVSRC_TURN_EVENTS) {
        if (!s->turning) {
            s->turning = 1;
            uv_timer_start(s->turn, evsrc_on_turn, EVSRC_TURN_MS, 0);
        }
        return HTTP_DATA_PAUSE;
    }
    return evsrc_feed(s, p, n) == -1 ? HTTP_DATA_ABORT : HTTP_DATA_OK;
}

/* The handlers took items: a stream held for them goes on; once half the
 * buffer is free, a stream held by a full one does, and dropping stops. */
static void evsrc_made_room(evsrc *s)
{
    if (s->turning)
        evsrc_end_turn(s);
    if (s->count > s->max_items / 2)
        return;
    s->overflowing = 0;
    if (s->paused) {
        s->paused = 0;
        uv_timer_stop(s->grace);
        engine_resume(s->eop); /* may deliver more items right now */
    }
}

/* ---- reconnecting ---- */

static void evsrc_on_timer(uv_timer_t *t)
{
    evsrc *s = t->data;
    if (!s->stopped)
        evsrc_connect(s);
}

static void evsrc_fail(evsrc *s, const char *why)
{
    s->failed = 1;
    evsrc_control(s, ITEM_FAILED, why);
}

static void evsrc_schedule_reconnect(evsrc *s, const char *why)
{
    if (!s->auto_reconnect || (s->max_attempts >= 0 && s->attempts >= s->max_attempts)) {
        char msg[700], how[96];
        if (s->auto_reconnect)
            snprintf(how, sizeof how, "%d reconnection attempt%s failed", s->attempts, s->attempts == 1 ? "" : "s");
        else
            snprintf(how, sizeof how, "auto_reconnect is off");
        snprintf(msg, sizeof msg, "the event stream ended and %s: %s", how, why);
        evsrc_fail(s, msg);
        return;
    }
    /* delay × 2^attempt, capped, × a jitter of ±25%: many listeners of one
     * engine must not all come back at the same instant */
    double d = s->delay * pow(2.0, s->attempts);
    if (d > EVSRC_MAX_DELAY)
        d = EVSRC_MAX_DELAY;
    d *= 0.75 + 0.5 * ((double)rand() / RAND_MAX);
    s->attempts++;
    s->reconnecting = 1;
    log_debug("event stream of %s ended (%s); reconnecting in %.2f s (attempt %d)", s->e->ep.display, why, d,
              s->attempts);
    uv_timer_start(s->timer, evsrc_on_timer, (uint64_t)(d * 1000), 0);
}

static void evsrc_on_end(void *ud)
{
    evsrc *s = ud;
    s->eop = NULL;
    s->paused = s->overflowing = s->turning = 0;
    if (s->grace)
        uv_timer_stop(s->grace);
    if (s->turn)
        uv_timer_stop(s->turn);
    frame_json_reset(&s->fj);
    if (s->stopped)
        return;
    char why[600];
    snprintf(why, sizeof why, "%s", s->end.kind != ERR_NONE ? s->end.message : "the engine closed it");
    int permanent = s->end.status >= 400 && s->end.status < 500;
    engine_reply_clear(&s->end);
    if (evsrc_now_mono() - s->connected_at >= EVSRC_STABLE_SECS)
        s->attempts = 0;
    if (permanent)
        evsrc_fail(s, why);
    else
        evsrc_schedule_reconnect(s, why);
}

/* "since" for this engine: Docker reads seconds.nanoseconds, Podman 4.3
 * reads RFC 3339 reliably. */
static void evsrc_since(const evsrc *s, int64_t nano, char *out, size_t len)
{
    int64_t secs = nano / 1000000000, frac = nano % 1000000000;
    if (s->e->runtime == RUNTIME_DOCKER) {
        snprintf(out, len, "%lld.%09lld", (long long)secs, (long long)frac);
        return;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char day[32];
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%09lldZ", day, (long long)frac);
}

static void evsrc_connect(evsrc *s)
{
    char path[256], since[64];
    int64_t from = s->since_nano;
    if (s->last_nano) {
        from = s->last_nano - EVSRC_REPLAY_MARGIN_NS;
        s->replay_until = s->last_nano;
    }
    evsrc_since(s, from, since, sizeof since);
    snprintf(path, sizeof path, "%s%ssince=%s", "/events?", s->e->runtime == RUNTIME_PODMAN ? "stream=true&" : "",
             since);
    engine_request rq = {
        .method = "GET",
        .path = path,
        .flags = ENGINE_STREAM,
        .on_data = evsrc_on_data,
        .data_ud = s,
    };
    s->connected_at = evsrc_now_mono();
    s->eop = engine_call(s->e, &rq, &s->end, evsrc_on_end, s);
    if (!s->eop) {
        char why[600];
        snprintf(why, sizeof why, "%s", s->end.message);
        engine_reply_clear(&s->end);
        evsrc_schedule_reconnect(s, why);
        return;
    }
    if (s->reconnecting) {
        s->reconnecting = 0;
        s->reconnects++;
        char info[64];
        /* Podman replays from its events file; Docker from a ring of 256
         * events in memory, lost when it restarts */
        snprintf(info, sizeof info, "%s", s->e->runtime == RUNTIME_PODMAN ? "complete" : "partial");
        evsrc_control(s, ITEM_RECONNECTED, info);
    }
}

/* ---- lifetime ---- */

static void evsrc_filter_free(evsrc_filter *f)
{
    char **lists[] = {f->types, f->actions, f->label_keys, f->label_values, f->ids};
    size_t counts[] = {f->ntypes, f->nactions, f->nlabels, f->nlabels, f->nids};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (size_t i = 0; lists[l] && i < counts[l]; i++)
            free(lists[l][i]);
        free(lists[l]);
    }
    free(f->name_prefix);
    memset(f, 0, sizeof *f);
}

/* Takes s out of the sharing: a subscriber leaves its stream; a shared
 * stream that closes tells its subscribers, which end as a failed one. */
static void evsrc_unshare(evsrc *s)
{
    if (s->upstream) {
        evsrc **pp = &s->upstream->subs;
        while (*pp && *pp != s)
            pp = &(*pp)->sub_next;
        if (*pp)
            *pp = s->sub_next;
        s->upstream = NULL;
    }
    if (!s->is_shared)
        return;
    evsrc **pp = &evsrc_shared_list;
    while (*pp && *pp != s)
        pp = &(*pp)->shared_next;
    if (*pp)
        *pp = s->shared_next;
    evsrc_control(s, ITEM_FAILED, "the shared event stream was closed");
    for (evsrc *sub = s->subs; sub; sub = sub->sub_next)
        sub->upstream = NULL;
    s->subs = NULL;
    s->is_shared = 0;
}

static void evsrc_stop(evsrc *s)
{
    if (s->stopped)
        return;
    s->stopped = 1;
    evsrc_unshare(s);
    engine_cancel(s->eop);
    s->eop = NULL;
    evfile_stop(s->file);
    s->file = NULL;
    buf_free(&s->file_event);
    evsrc_pending_clear(s);
    uv_timer_t **timers[] = {&s->timer, &s->grace, &s->turn};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        if (*timers[i])
            loop_close_free((uv_handle_t *)*timers[i]);
        *timers[i] = NULL;
    }
    while (s->head)
        evsrc_item_free(evsrc_unlink_head(s));
    frame_json_free(&s->fj);
    engine_reply_clear(&s->end);
    evsrc_filter_free(&s->filter);
    if (s->waiting)
        task_wake(&s->wait);
}

/* ---- Lua ---- */

static evsrc *evsrc_check(lua_State *L)
{
    return luaL_checkudata(L, 1, EVSRC_MT);
}

static int evsrc_next(lua_State *L, evsrc *s);
static int evsrc_take(lua_State *L, evsrc *s);

enum { EVSRC_IN_NEXT, EVSRC_IN_TAKE };

/* A task that waited for an item goes on with what it was doing. */
static int evsrc_resume_k(lua_State *L, int status, lua_KContext in)
{
    (void)status;
    evsrc *s = evsrc_check(L);
    s->waiting = 0;
    return in == EVSRC_IN_TAKE ? evsrc_take(L, s) : evsrc_next(L, s);
}

static void evsrc_wait_cancel(task_wait *w)
{
    ((evsrc *)w)->waiting = 0;
}

/* Takes the head item, an event, off the queue and pushes its model;
 * returns whether it matched the filters. The model is built from the scan
 * kept with the item, its spans moved from the item's copy of the text to
 * the Lua string. Everything is copied off the item, and the item freed,
 * before anything that may raise. Leaves the text and the model. */
static int evsrc_pop_event(lua_State *L, evsrc *s, const model_event_ctx *ctx)
{
    ev_scan scan;
    event_view v;
    luaL_checkstack(L, 8, "event source");
    evsrc_item *it = s->head;
    const char *text = lua_pushlstring(L, evsrc_item_text(it), it->len);
    int text_idx = lua_gettop(L);
    evsrc_unlink_head(s);
    int matched = it->matched;
    memcpy(&scan, it->data, it->scan_size);
    scan.nattrs = it->nattrs;
    scan.attrs_dropped = 0;
    ev_scan_rebase(&scan, scan.nattrs, evsrc_item_text(it), text);
    v = it->view;
    evsrc_view_rebase(&v, &scan, evsrc_item_text(it), text);
    evsrc_item_free(it);
    evsrc_made_room(s);
    if (ctx)
        model_push_event_ctx(L, ctx, &v, text_idx);
    else
        model_push_event_view(L, &v, text_idx, s->runtime);
    s->delivered++;
    return matched; /* the text stays on the stack, under the model */
}

/* Pushes the head item; returns the number of results. */
static int evsrc_push_head(lua_State *L, evsrc *s)
{
    evsrc_item *it = s->head;
    if (it->kind == ITEM_EVENT) {
        lua_pushliteral(L, "event");
        int matched = evsrc_pop_event(L, s, NULL);
        lua_remove(L, -2);
        lua_pushboolean(L, matched);
        return 3;
    }
    luaL_checkstack(L, 4, "event source");
    lua_pushlstring(L, evsrc_item_text(it), it->len);
    evsrc_unlink_head(s);
    int kind = it->kind;
    evsrc_item_free(it);
    evsrc_made_room(s);
    if (kind == ITEM_RECONNECTED) {
        lua_pushliteral(L, "reconnected");
        lua_insert(L, -2);
        return 2;
    }
    lua_pushliteral(L, "failed");
    error_push(L, "connection", 0, lua_tostring(L, -2));
    return 2;
}

/* The queue is empty: nil when nothing more will come, else the task
 * waits, and tries again (`in` next or take) once an item is queued. */
static int evsrc_wait(lua_State *L, evsrc *s, lua_KContext in)
{
    if (s->stopped || s->failed) {
        lua_pushnil(L);
        return 1;
    }
    if (s->waiting)
        return luaL_error(L, "another task is already reading this event source");
    task_check_wait(L, "event source");
    s->waiting = 1;
    s->wait.cancel = evsrc_wait_cancel;
    return task_yield(L, &s->wait, evsrc_resume_k, in);
}

static int evsrc_next(lua_State *L, evsrc *s)
{
    return s->head ? evsrc_push_head(L, s) : evsrc_wait(L, s, EVSRC_IN_NEXT);
}

/* source:next() -> "event", ContainerEvent, matched
 *                | "reconnected", "complete" | "partial"   (what the engine can replay)
 *                | "failed", err                          (it gave up)
 *                | nil                                    (stopped) */
static int evsrc_l_next(lua_State *L)
{
    lua_settop(L, 1);
    return evsrc_next(L, evsrc_check(L));
}

/* Up to this many events per take: a run of them costs one call from Lua
 * instead of one each. The events of a take are out of the queue while the
 * handlers work through them, so the buffer holds up to a sixteenth more
 * than its size. */
static size_t evsrc_take_max(const evsrc *s)
{
    size_t n = s->max_items / 16;
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

static int evsrc_take(lua_State *L, evsrc *s)
{
    if (!s->head)
        return evsrc_wait(L, s, EVSRC_IN_TAKE);
    if (s->head->kind != ITEM_EVENT)
        return evsrc_push_head(L, s);
    size_t max = evsrc_take_max(s);
    lua_Integer n = 0;
    model_event_ctx ctx;
    model_event_ctx_push(L, &ctx, s->runtime);
    while ((size_t)n < max && s->head && s->head->kind == ITEM_EVENT) {
        n++;
        int matched = evsrc_pop_event(L, s, &ctx);
        lua_rawseti(L, 2, n);
        lua_pop(L, 1); /* the text */
        lua_pushboolean(L, matched);
        lua_rawseti(L, 3, n);
    }
    lua_settop(L, ctx.base - 1);
    /* what a longer take left must not be kept alive by the lists */
    for (lua_Integer i = n + 1; lua_rawgeti(L, 2, i) != LUA_TNIL; i++) {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawseti(L, 2, i);
    }
    lua_pop(L, 1);
    lua_pushinteger(L, n);
    return 1;
}

/* source:take(events, matched) -> n           (events[1..n], matched[1..n]: a run of queued events)
 *                             | "reconnected", "complete" | "partial"
 *                             | "failed", err
 *                             | nil                                     (stopped)
 * as source:next(), for a run of events at once; waits while there are none. */
static int evsrc_l_take(lua_State *L)
{
    lua_settop(L, 3);
    evsrc *s = evsrc_check(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    return evsrc_take(L, s);
}

/* source:stop(): closes the stream at once. */
static int evsrc_l_stop(lua_State *L)
{
    evsrc_stop(evsrc_check(L));
    return 0;
}

/* source:share(): makes this stream the one that every later
 * event_source of the same engine reads from, in any Lua state of the
 * process, instead of opening its own (moonpod serve). Its own filter is
 * not applied: each subscriber filters for itself. */
static int evsrc_l_share(lua_State *L)
{
    evsrc *s = evsrc_check(L);
    luaL_argcheck(L, !s->stopped && !s->upstream, 1, "only an open stream of its own can be shared");
    if (!s->is_shared) {
        s->is_shared = 1;
        s->shared_next = evsrc_shared_list;
        evsrc_shared_list = s;
    }
    return 0;
}

/* The shared stream of c's engine, if there is one: the same runtime at
 * the same address. */
static evsrc *evsrc_find_shared(const client *c)
{
    for (evsrc *s = evsrc_shared_list; s; s = s->shared_next)
        if (s->e->runtime == c->eng.runtime && s->e->ep.display && c->eng.ep.display &&
            strcmp(s->e->ep.display, c->eng.ep.display) == 0)
            return s;
    return NULL;
}

static void evsrc_set(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* source:stats() -> counters of what the stream brought and what became of it */
static int evsrc_l_stats(lua_State *L)
{
    evsrc *s = evsrc_check(L);
    const evsrc *up = s->upstream ? s->upstream : s; /* what the connection saw */
    lua_createtable(L, 0, 16);
    evsrc_set(L, "received", up->received);
    evsrc_set(L, "delivered", s->delivered);
    evsrc_set(L, "dropped", s->dropped);
    evsrc_set(L, "filtered", s->filtered);
    evsrc_set(L, "health_repeats", up->health_repeats);
    evsrc_set(L, "replay_skipped", up->replay_skipped);
    evsrc_set(L, "pauses", up->pauses);
    evsrc_set(L, "decode_errors", up->decode_errors + up->fj.garbage + up->fj.overflows);
    evsrc_set(L, "reconnects", up->reconnects);
    evsrc_set(L, "buffered", s->count);
    lua_pushboolean(L, up->eop != NULL);
    lua_setfield(L, -2, "connected");
    lua_pushboolean(L, s->upstream != NULL);
    lua_setfield(L, -2, "shared");
    if (up->last_nano) {
        lua_pushnumber(L, (lua_Number)up->last_nano / 1e9);
        lua_setfield(L, -2, "last_event_at");
    }
    if (up->file && up->file_confirmed) {
        lua_pushstring(L, evfile_path(up->file));
        lua_setfield(L, -2, "events_file");
    }
    evsrc_set(L, "file_first", up->file_first);
    evsrc_set(L, "file_late", up->file_late);
    evsrc_set(L, "file_errors", up->file_bad + (up->file ? evfile_get_counts(up->file).overlong : 0));
    return 1;
}

static int evsrc_l_gc(lua_State *L)
{
    evsrc_stop(evsrc_check(L));
    return 0;
}

/* ---- configuration ---- */

static char **evsrc_strings(lua_State *L, int cfg, const char *key, size_t *n)
{
    *n = 0;
    int t = lua_getfield(L, cfg, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t == LUA_TSTRING) {
        char **one = calloc(1, sizeof *one);
        if (one && (one[0] = strdup(lua_tostring(L, -1))))
            *n = 1;
        lua_pop(L, 1);
        return one;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "event source: %s must be a string or a list of strings", key);
    size_t len = lua_rawlen(L, -1);
    char **list = calloc(len ? len : 1, sizeof *list);
    for (size_t i = 0; list && i < len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        if (lua_type(L, -1) == LUA_TSTRING && (list[*n] = strdup(lua_tostring(L, -1))))
            (*n)++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return list;
}

static void evsrc_labels(lua_State *L, int cfg, evsrc_filter *f)
{
    if (lua_getfield(L, cfg, "labels") != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    size_t cap = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        cap++;
        lua_pop(L, 1);
    }
    f->label_keys = calloc(cap ? cap : 1, sizeof *f->label_keys);
    f->label_values = calloc(cap ? cap : 1, sizeof *f->label_values);
    lua_pushnil(L);
    while (f->label_keys && f->label_values && lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            f->label_keys[f->nlabels] = strdup(lua_tostring(L, -2));
            f->label_values[f->nlabels] = lua_type(L, -1) == LUA_TSTRING ? strdup(lua_tostring(L, -1)) : NULL;
            f->nlabels++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static lua_Number evsrc_num(lua_State *L, int cfg, const char *key, lua_Number dflt)
{
    lua_getfield(L, cfg, key);
    lua_Number v = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    return v;
}

static int evsrc_bool(lua_State *L, int cfg, const char *key, int dflt)
{
    int t = lua_getfield(L, cfg, key);
    int v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static void evsrc_configure(lua_State *L, int cfg, evsrc *s)
{
    evsrc_filter *f = &s->filter;
    f->types = evsrc_strings(L, cfg, "types", &f->ntypes);
    f->actions = evsrc_strings(L, cfg, "actions", &f->nactions);
    f->ids = evsrc_strings(L, cfg, "ids", &f->nids);
    evsrc_labels(L, cfg, f);
    if (lua_getfield(L, cfg, "name_prefix") == LUA_TSTRING)
        f->name_prefix = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_Number size = evsrc_num(L, cfg, "buffer_size", 1000);
    lua_Number delay = evsrc_num(L, cfg, "reconnect_delay", 5.0);
    lua_Number attempts = evsrc_num(L, cfg, "max_reconnect_attempts", 10);
    lua_Number since = evsrc_num(L, cfg, "since", loop_wall_now());
    luaL_argcheck(L, size >= 1 && size <= 1e7, 2, "buffer_size must be between 1 and 10000000");
    luaL_argcheck(L, delay >= 0 && delay <= 3600, 2, "reconnect_delay must be between 0 and 3600 seconds");
    s->max_items = (size_t)size;
    s->delay = delay;
    s->max_attempts = attempts < 0 ? -1 : (int)attempts;
    s->auto_reconnect = evsrc_bool(L, cfg, "auto_reconnect", 1);
    s->deliver_all = evsrc_bool(L, cfg, "deliver_all", 0);
    s->since_nano = (int64_t)(since * 1e9);
}

/* event_source(client, config) -> source: see event_source.h */
static int evsrc_l_new(lua_State *L)
{
    client *c = client_check(L);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    else {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    evsrc *s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, EVSRC_MT); /* from here __gc releases whatever was set up */
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* keeps the client (and its engine) alive */
    frame_json_init(&s->fj, EVSRC_MAX_VALUE);
    evsrc_configure(L, 2, s);
    s->e = &c->eng;
    snprintf(s->runtime, sizeof s->runtime, "%s", engine_runtime_name(c->eng.runtime));
    /* A stream asked to start in the past can't be served by a shared one. */
    int own_since = lua_getfield(L, 2, "since") != LUA_TNIL;
    lua_pop(L, 1);
    evsrc *up = own_since ? NULL : evsrc_find_shared(c);
    if (up) {
        s->owner = task_main_thread(L);
        s->upstream = up;
        s->sub_next = up->subs;
        up->subs = s;
        return 1;
    }
    s->timer = loop_timer_new(s);
    s->grace = loop_timer_new(s);
    s->turn = loop_timer_new(s);
    if (!s->timer || !s->grace || !s->turn)
        return luaL_error(L, "out of memory"); /* __gc closes what was made */
    evsrc_file_start(L, 2, s);
    evsrc_connect(s);
    return 1;
}

void event_source_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", evsrc_l_next},
        {"take", evsrc_l_take},
        {"stop", evsrc_l_stop},
        {"stats", evsrc_l_stats},
        {"share", evsrc_l_share},
        {NULL, NULL},
    };
    luaL_newmetatable(L, EVSRC_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, evsrc_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, evsrc_l_stop);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, evsrc_l_new);
    lua_setfield(L, -2, "event_source");
}
