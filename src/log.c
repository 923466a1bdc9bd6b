/* log — what moonpod tells the operator, on stderr. */
#include "log.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"

static struct {
    int json;
    int debug;
    log_sink_fn sink;
    void *sink_ud;
} log_cfg;

void log_set_sink(log_sink_fn fn, void *ud)
{
    log_cfg.sink = fn;
    log_cfg.sink_ud = ud;
}

/* Where a message is written: stderr, or a memory stream handed to the
 * sink by log_done (the REPL shows it above the line being edited). */
static FILE *log_begin(char **buf, size_t *len)
{
    if (log_cfg.sink) {
        FILE *m = open_memstream(buf, len);
        if (m)
            return m;
    }
    return stderr;
}

static void log_done(FILE *out, char **buf, size_t *len)
{
    if (out == stderr) {
        fflush(out);
        return;
    }
    fclose(out);
    if (log_cfg.sink)
        log_cfg.sink(*buf, *len, log_cfg.sink_ud);
    free(*buf);
}

static const char *const log_names[] = {"debug", "info", "warn", "error"};
static const char *const log_labels[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_configure(void)
{
    const char *fmt = getenv("MOONPOD_LOG_FORMAT");
    const char *dbg = getenv("MOONPOD_DEBUG");
    log_cfg.json = fmt && strcmp(fmt, "json") == 0;
    log_cfg.debug = dbg && *dbg && strcmp(dbg, "0") != 0;
}

int log_debug_enabled(void)
{
    return log_cfg.debug;
}

static void log_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void log_emit(log_level level, const char *who, const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = log_begin(&buf, &len);
    if (log_cfg.json) {
        fprintf(out, "{\"ts\":%.6f,\"level\":\"%s\",", loop_wall_now(), log_names[level]);
        if (who) {
            fputs("\"task\":", out);
            log_json_string(out, who);
            fputc(',', out);
        }
        fputs("\"msg\":", out);
        log_json_string(out, text);
        fputs("}\n", out);
    } else {
        double now = loop_wall_now();
        time_t secs = (time_t)now;
        struct tm tm;
        char stamp[32];
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(out, "%s.%03dZ %-5s %s%s%s\n", stamp, (int)((now - (double)secs) * 1000),
                log_labels[level], who ? who : "", who ? ": " : "", text);
    }
    log_done(out, &buf, &len);
}

void log_msg(log_level level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_emit(level, NULL, buf);
}

void log_error_text(const char *who, const char *text)
{
    if (log_cfg.json) {
        log_emit(LOG_ERROR, who, text);
        return;
    }
    /* Like lua.c: the message and its traceback, as they are. */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = log_begin(&buf, &len);
    if (who)
        fprintf(out, "moonpod: %s: %s\n", who, text);
    else
        fprintf(out, "moonpod: %s\n", text);
    log_done(out, &buf, &len);
}

static int log_l_at(lua_State *L, log_level level)
{
    int n = lua_gettop(L);
    const char *text;
    if (n <= 1) {
        text = luaL_tolstring(L, 1, NULL);
    } else {
        /* string.format(fmt, ...) */
        lua_getglobal(L, "string");
        lua_getfield(L, -1, "format");
        lua_insert(L, 1);
        lua_pop(L, 1);
        lua_call(L, n, 1);
        text = lua_tostring(L, -1);
    }
    if (level != LOG_DEBUG || log_cfg.debug)
        log_emit(level, NULL, text ? text : "");
    return 0;
}

/* moonpod.log.info(fmt, ...) — one line on stderr, formatted with string.format */
static int log_l_info(lua_State *L) { return log_l_at(L, LOG_INFO); }
/* moonpod.log.warn(fmt, ...) */
static int log_l_warn(lua_State *L) { return log_l_at(L, LOG_WARN); }
/* moonpod.log.error(fmt, ...) */
static int log_l_error(lua_State *L) { return log_l_at(L, LOG_ERROR); }
/* moonpod.log.debug(fmt, ...) — only with MOONPOD_DEBUG=1 */
static int log_l_debug(lua_State *L) { return log_l_at(L, LOG_DEBUG); }

int log_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"info", log_l_info},
        {"warn", log_l_warn},
        {"error", log_l_error},
        {"debug", log_l_debug},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
