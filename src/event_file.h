/* event_file — follows Podman's events log file as Podman writes it.
 *
 * Podman's API serves its event stream by re-reading this file on a timer
 * (every 250 ms in Podman 4): an API client hears of an event 125 ms late
 * on average, and a policy that restarts a dead container acts that much
 * later. When the file is on this machine and readable, watching its
 * directory with inotify hands each new line over as soon as it is
 * written. event_source uses it next to the API stream, never instead of
 * it: see event_source.c for how the two are merged and how a file that
 * belongs to another Podman is told apart.
 *
 * Reads go through libuv's thread pool; nothing blocks the loop. When
 * Podman rotates the log (it renames a copy holding the newer half over
 * it), the rest of the old file is read, then the new one from its start:
 * the repeats this gives are for the caller to recognise. */
#ifndef MOONPOD_EVENT_FILE_H
#define MOONPOD_EVENT_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct evfile evfile;

/* One whole line of the file, without its newline. */
typedef void (*evfile_line_fn)(void *ud, const char *p, size_t n);

/* Starts following the file at `path` from its current end (all of it if
 * it doesn't exist yet). Returns NULL with a message in err when its
 * directory can't be watched. */
evfile *evfile_follow(const char *path, evfile_line_fn fn, void *ud, char *err, size_t errlen);

/* Stops at once: fn is not called again. Memory is released once an
 * in-flight read has come back. */
void evfile_stop(evfile *f);

const char *evfile_path(const evfile *f);

typedef struct evfile_counts {
    uint64_t lines;      /* whole lines handed over */
    uint64_t overlong;   /* lines past EVFILE_MAX_LINE, skipped */
    uint64_t rotations;  /* the file was replaced or truncated */
    uint64_t errors;     /* reads that failed (the follower stops) */
} evfile_counts;
evfile_counts evfile_get_counts(const evfile *f);

/* Where this machine's Podman writes its events file, as Podman itself
 * decides it: `events_logfile_path`, else `tmp_dir`/events/events.log,
 * from the [engine] table of containers.conf ($CONTAINERS_CONF alone when
 * set; else the system's files, then the user's), else the default tmp_dir
 * (/run/libpod for root, $XDG_RUNTIME_DIR/libpod/tmp otherwise). Returns
 * 0, or -1 when there is no way to tell. */
int evfile_podman_path(char *out, size_t len);

#define EVFILE_MAX_LINE ((size_t)1 << 20)

#endif
