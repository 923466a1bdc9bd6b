/* event_scan — the fields of one engine event, read straight from its JSON
 * text without building a tree.
 *
 * An event listener sees every event an engine emits, and most are
 * filtered out. Parsing each into a cJSON tree first would cost more than
 * everything else together, so this one pass over the bytes picks out what
 * filtering and the event model need — type, action, ids, times (timeNano
 * exactly, as an integer: a double can't hold it) and the actor's
 * attributes — as spans of the original text. No allocation, no copy. */
#ifndef MOONPOD_EVENT_SCAN_H
#define MOONPOD_EVENT_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* A JSON string's contents as it appears in the text, without the quotes.
 * `escaped` says it holds backslash escapes: compare with ev_str_eq or
 * unescape with ev_str_copy rather than reading the bytes. */
typedef struct ev_str {
    const char *p;
    size_t n;
    int escaped;
} ev_str;

typedef struct ev_attr {
    ev_str key, value;
} ev_attr;

#define EV_MAX_ATTRS 64

typedef struct ev_scan {
    ev_str type;            /* "Type" */
    ev_str action;          /* "Action", else the legacy "status" */
    ev_str id;              /* "Actor"."ID", else the legacy "id" */
    ev_str from;            /* legacy "from": the image */
    ev_str health;          /* Podman's top-level "HealthStatus", if any */
    int64_t time_nano;      /* "timeNano", else "time" × 10^9; 0 when absent */
    ev_attr attrs[EV_MAX_ATTRS]; /* "Actor"."Attributes", string values only */
    int nattrs;
    int attrs_dropped;      /* attributes past EV_MAX_ATTRS */
} ev_scan;

/* Scans one event object. Returns 0, or -1 when the text is not a JSON
 * object (or is malformed). */
int ev_scan_event(const char *p, size_t n, ev_scan *out);

/* Does the string equal the NUL-terminated `lit`, escapes decoded? */
int ev_str_eq(ev_str s, const char *lit);
/* Does the string start with `prefix`, escapes decoded? */
int ev_str_has_prefix(ev_str s, const char *prefix);

/* Writes the decoded string (NUL-terminated, cut to fit) into out; returns
 * the decoded length (which may exceed outlen - 1). */
size_t ev_str_copy(ev_str s, char *out, size_t outlen);

/* The attribute's value, or a zero ev_str (p == NULL). */
ev_str ev_scan_attr(const ev_scan *e, const char *key);

/* Moves a span found in the text at `from` to the same place in a copy at `to`. */
void ev_str_rebase(ev_str *s, const char *from, const char *to);
/* A scan can be kept with a copy of its text instead of scanning again:
 * ev_scan_size is what of *e is in use (a prefix of the struct, to copy),
 * ev_scan_rebase moves the spans of such a copy, with its first nattrs
 * attributes, from the text at `from` to the same text at `to`. */
size_t ev_scan_size(const ev_scan *e);
void ev_scan_rebase(ev_scan *e, int nattrs, const char *from, const char *to);

#endif
