/* metrics — Prometheus' text exposition format (version 0.0.4).
 *
 * Writers for C that renders its own families (stats_monitor.c renders a
 * family per container metric without building a Lua table), and
 * core.metrics_text for families described in Lua (moonpod's own
 * counters, a policy's). The HTTP side is http_server.c. */
#ifndef MOONPOD_METRICS_H
#define MOONPOD_METRICS_H

#include <lua.h>

#include "buf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge or untyped. */
void metrics_family(buf *b, const char *name, const char *type, const char *help);

/* One sample line: name{k="v",...} value. labels is k, v, k, v, ..., NULL;
 * values are escaped here. NaN and infinities are written as Prometheus
 * spells them. */
void metrics_sample(buf *b, const char *name, const char *const *labels, double value);

/* Is `name` a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*; no ':'
 * for labels)? */
int metrics_valid_name(const char *name, int label);

/* Adds metrics_text to the module table on top:
 *   metrics_text{ { name =, type =, help =, samples = { { labels = {k = v}, value = n }, ... } }, ... }
 *   -> text */
void metrics_register(lua_State *L);

#endif
