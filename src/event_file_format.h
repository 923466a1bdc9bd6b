/* event_file_format — one line of Podman's events log file, rewritten as
 * the event its API would send for it.
 *
 * Podman writes each event to its log file as the libpod Event struct
 * ({"ID", "Name", "Status", "Time": RFC 3339, "Attributes": labels, ...});
 * its API sends the same event in Docker's shape ({"Type", "Action",
 * "Actor": {"ID", "Attributes"}, "timeNano", ...}). Rewriting the line
 * the way the API does lets an event read from the file take exactly the
 * path, and give exactly the model and `raw`, of one read from the API —
 * and be recognised when the API sends it again. */
#ifndef MOONPOD_EVENT_FILE_FORMAT_H
#define MOONPOD_EVENT_FILE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends to out the API form of the log line p[0..n) (no newline).
 * Returns 0, or -1 when the line is not a libpod event (out unchanged). */
int evfmt_convert(const char *p, size_t n, buf *out);

/* Reads an RFC 3339 time with up to nine fractional digits and a "Z" or
 * ±hh:mm offset; returns 0 and the Unix time in ns, or -1. */
int evfmt_parse_time(const char *s, int64_t *nano);

#endif
