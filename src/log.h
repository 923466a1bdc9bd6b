/* log — what moonpod tells the operator, on stderr.
 *
 * One line per message; JSON lines when MOONPOD_LOG_FORMAT=json, so a
 * service's log can be shipped as is. Debug messages (why an endpoint was
 * chosen, why one was skipped) only with MOONPOD_DEBUG=1. */
#ifndef MOONPOD_LOG_H
#define MOONPOD_LOG_H

#include <lua.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Reads MOONPOD_LOG_FORMAT and MOONPOD_DEBUG. */
void log_configure(void);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) do { if (log_debug_enabled()) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
int log_debug_enabled(void);

/* An error that ended a task: `text` may span lines (a traceback). `who` is
 * the task's name, or NULL for the main chunk (reported like lua.c does). */
void log_error_text(const char *who, const char *text);

/* Sends every message to fn(text, len, ud) instead of stderr (the REPL
 * prints them above the line being edited); NULL restores stderr. */
typedef void (*log_sink_fn)(const char *text, size_t len, void *ud);
void log_set_sink(log_sink_fn fn, void *ud);

/* Pushes the moonpod.log table: info/warn/error/debug(fmt, ...). */
int log_open(lua_State *L);

#endif
