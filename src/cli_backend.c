/* cli_backend — API requests carried out by the podman or docker CLI (see
 * cli_backend.h).
 *
 * Three parts: reading the request (path, query, create body) into an argv;
 * running it (collected for a plain request, streamed for logs, stats and
 * events, with flow control); and giving the output the API's shape. An
 * operation frees itself when it has reported, or when it is cancelled;
 * its child is then killed and reaped in the background (child.h). */
#include "cli_backend.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "buf.h"
#include "child.h"
#include "framing.h"
#include "log.h"
#include "loop.h"
#include "models.h"

#define CLI_MAX_ARGS 8192
#define CLI_MAX_GLOBAL_ARGS 64
/* bounds on what a CLI may print: an answer (and its complaints), one line of a stream */
#define CLI_MAX_STDOUT HTTP_DEFAULT_MAX_BODY
#define CLI_MAX_LINE ((size_t)4 << 20)
#define CLI_LOG_LINE ((size_t)64 << 10)
#define CLI_ERR_TAIL 4096
/* after the CLI exits, how long its outputs may take to end */
#define CLI_EOF_GRACE_MS 2000
/* The docker CLI redraws its stats twice a second from samples the engine
 * takes once a second; its first redraws show no sample yet, then the
 * engine's first one, whose CPU is the average since the container
 * started. A container whose samples never change (stopped, idle) is
 * given this long to show a second one. */
#define CLI_DOCKER_STATS_SETTLE_MS 2500
#define CLI_DOCKER_STATS_EVERY_MS 900

struct cli_backend {
    engine_runtime rt;
    char *program;          /* full path */
    char **global;          /* global flags, before the command */
    char display[16];
};

typedef enum {
    CLI_PING, CLI_VERSION, CLI_INFO, CLI_PODS, CLI_LIST, CLI_LIST_INSPECT, CLI_INSPECT, CLI_ACTION,
    CLI_WAIT, CLI_CREATE, CLI_LOGS, CLI_STATS_ONCE, CLI_STATS_STREAM, CLI_EVENTS,
} cli_kind;

typedef struct cli_argv {
    char **v;
    size_t n, cap;
    int bad;                /* out of memory or too many */
} cli_argv;

struct cli_op {
    cli_backend *b;
    cli_kind kind;
    engine_reply *reply;
    void (*done)(void *ud);
    void *ud;
    child *child;
    long timeout_ms;
    char what[200];         /* "podman ps --all ...", for messages */
    /* streams */
    int stream;
    http_data_fn on_data;
    void *data_ud;
    int want_out, want_err; /* logs: which of the container's outputs */
    frame_lines out_lines, err_lines;
    buf pending;            /* what on_data refused (HTTP_DATA_PAUSE), to give again */
    int paused, aborted, ended;
    child_status st;
    char err_tail[CLI_ERR_TAIL]; /* what the CLI itself said on stderr */
    size_t err_len;
    uint64_t started_ms, last_emit_ms;
    uint64_t first_sample, first_sample_ms; /* docker stats: the engine's first sample, when seen */
    int seen_sample;
    uv_timer_t *later;      /* reports an end that came while paused */
};

/* ---- the backend ---- */

cli_backend *cli_backend_new(engine_runtime rt, const char *program)
{
    cli_backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->rt = rt;
    b->program = strdup(program);
    snprintf(b->display, sizeof b->display, "cli:%s", engine_runtime_name(rt));
    const char *docker_host = getenv("MOONPOD_DOCKER_HOST");
    if (rt == RUNTIME_PODMAN) {
        b->global = child_words(getenv("MOONPOD_PODMAN_ARGS"), CLI_MAX_GLOBAL_ARGS);
    } else if ((b->global = calloc(3, sizeof *b->global)) && docker_host && *docker_host) {
        b->global[0] = strdup("--host");
        b->global[1] = strdup(docker_host);
        if (!b->global[0] || !b->global[1]) {
            child_words_free(b->global);
            b->global = NULL;
        }
    }
    if (!b->program || !b->global) {
        cli_backend_free(b);
        return NULL;
    }
    return b;
}

void cli_backend_free(cli_backend *b)
{
    if (!b)
        return;
    free(b->program);
    child_words_free(b->global);
    free(b);
}

const char *cli_backend_display(const cli_backend *b)
{
    return b->display;
}

static const char *cli_name(const cli_op *op)
{
    return engine_runtime_name(op->b->rt);
}

static void cli_fail(engine_reply *r, engine_errkind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cli_fail(engine_reply *r, engine_errkind kind, const char *fmt, ...)
{
    va_list ap;
    r->kind = kind;
    r->status = 0;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* ---- argv ---- */

static void cli_arg(cli_argv *a, const char *s)
{
    if (a->bad)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = cap <= CLI_MAX_ARGS ? realloc(a->v, cap * sizeof *v) : NULL;
        if (!v) {
            a->bad = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = strdup(s))) {
        a->bad = 1;
        return;
    }
    a->v[++a->n] = NULL;
}

static void cli_argf(cli_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cli_argf(cli_argv *a, const char *fmt, ...)
{
    char s[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof s)
        a->bad = 1;
    else
        cli_arg(a, s);
}

static void cli_argv_free(cli_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

static void cli_argv_base(const cli_backend *b, cli_argv *a)
{
    cli_arg(a, b->program);
    for (size_t i = 0; b->global[i]; i++)
        cli_arg(a, b->global[i]);
}

/* "podman ps --all ...", without the global flags: for messages. */
static void cli_describe(cli_op *op, const cli_argv *a)
{
    size_t skip = 1;
    while (op->b->global[skip - 1])
        skip++;
    int j = snprintf(op->what, sizeof op->what, "%s", cli_name(op));
    for (size_t i = skip; i < a->n && j > 0 && (size_t)j < sizeof op->what; i++)
        j += snprintf(op->what + j, sizeof op->what - (size_t)j, " %s", a->v[i]);
}

/* ---- reading the request ---- */

static int cli_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The first n bytes of s percent-decoded (and '+' as a space), or NULL. */
static char *cli_unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; out && i < n; i++) {
        int hi = s[i] == '%' && i + 2 < n ? cli_hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? cli_hexval(s[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    if (out)
        *o = '\0';
    return out;
}

/* The `nth` value (from 0) of query parameter `key`, decoded; NULL when
 * there is none. */
static char *cli_param_nth(const char *path, const char *key, int nth)
{
    const char *q = strchr(path, '?');
    size_t klen = strlen(key);
    for (const char *p = q ? q + 1 : ""; *p;) {
        size_t n = strcspn(p, "&");
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=' && nth-- == 0)
            return cli_unescape(p + klen + 1, n - klen - 1);
        p += n + (p[n] == '&');
    }
    return NULL;
}

static char *cli_param(const char *path, const char *key)
{
    return cli_param_nth(path, key, 0);
}

static int cli_param_is(const char *path, const char *key, const char *value)
{
    char *v = cli_param(path, key);
    int is = v && strcmp(v, value) == 0;
    free(v);
    return is;
}

/* Adds `flag value` when the query has key. */
static void cli_param_flag(cli_argv *a, const char *path, const char *key, const char *flag)
{
    char *v = cli_param(path, key);
    if (v && *v) {
        cli_arg(a, flag);
        cli_arg(a, v);
    }
    free(v);
}

/* filters={"label":["a=b"],"name":["x"]} as --filter label=a=b --filter name=x */
static int cli_filters(cli_argv *a, const char *path)
{
    char *text = cli_param(path, "filters");
    if (!text)
        return 0;
    cJSON *map = cJSON_Parse(text), *key, *v;
    free(text);
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(map);
        return -1;
    }
    cJSON_ArrayForEach(key, map) {
        cJSON_ArrayForEach(v, key) {
            if (cJSON_IsString(v)) {
                cli_arg(a, "--filter");
                cli_argf(a, "%s=%s", key->string, v->valuestring);
            }
        }
    }
    cJSON_Delete(map);
    return 0;
}

/* "/containers/<id>/<verb>?..." -> the decoded id and verb ("" for DELETE
 * /containers/<id>). Returns 0, or -1 when the path is not of that form. */
static int cli_container_path(const char *path, char **id, char verb[32])
{
    static const char pre[] = "/containers/";
    if (strncmp(path, pre, sizeof pre - 1) != 0)
        return -1;
    const char *p = path + sizeof pre - 1;
    size_t n = strcspn(p, "/?");
    if (n == 0)
        return -1;
    verb[0] = '\0';
    if (p[n] == '/') {
        size_t vn = strcspn(p + n + 1, "?");
        if (vn >= 32)
            return -1;
        memcpy(verb, p + n + 1, vn);
        verb[vn] = '\0';
    }
    *id = cli_unescape(p, n);
    return *id ? 0 : -1;
}

static int cli_path_is(const char *path, const char *what)
{
    size_t n = strlen(what);
    return strncmp(path, what, n) == 0 && (path[n] == '\0' || path[n] == '?');
}

/* ---- create: Docker's create body as flags ---- */

static const char *cli_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double cli_json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void cli_flag_str(cli_argv *a, const cJSON *o, const char *key, const char *flag)
{
    const char *v = cli_json_str(o, key);
    if (v && *v) {
        cli_arg(a, flag);
        cli_arg(a, v);
    }
}

static void cli_flag_list(cli_argv *a, const cJSON *list, const char *flag)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, list) {
        if (cJSON_IsString(v)) {
            cli_arg(a, flag);
            cli_arg(a, v->valuestring);
        }
    }
}

/* A duration in nanoseconds as the CLIs take it. */
static void cli_flag_duration(cli_argv *a, const cJSON *o, const char *key, const char *flag)
{
    double ns = cli_json_num(o, key);
    if (ns > 0) {
        cli_arg(a, flag);
        cli_argf(a, "%.0fms", ceil(ns / 1e6));
    }
}

/* The health check's test: ["CMD-SHELL", line] is a shell line for both
 * CLIs; ["CMD", argv...] is podman's JSON form, and a joined line for
 * docker, whose CLI only takes shell lines. */
static void cli_health(cli_argv *a, const cJSON *hc, engine_runtime rt)
{
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(hc, "Test");
    const cJSON *first = cJSON_GetArrayItem(test, 0);
    if (!cJSON_IsString(first))
        return;
    if (strcmp(first->valuestring, "NONE") == 0) {
        cli_arg(a, "--no-healthcheck");
        return;
    }
    cli_arg(a, "--health-cmd");
    if (strcmp(first->valuestring, "CMD-SHELL") == 0 || rt == RUNTIME_DOCKER) {
        buf line;
        buf_init(&line);
        for (const cJSON *v = first->next; v; v = v->next)
            if (cJSON_IsString(v))
                buf_printf(&line, "%s%s", line.len ? " " : "", v->valuestring);
        cli_arg(a, buf_str(&line) ? buf_str(&line) : "");
        buf_free(&line);
    } else {
        char *json = cJSON_PrintUnformatted(test);
        cli_arg(a, json ? json : "[]");
        free(json);
    }
    cli_flag_duration(a, hc, "Interval", "--health-interval");
    cli_flag_duration(a, hc, "Timeout", "--health-timeout");
    cli_flag_duration(a, hc, "StartPeriod", "--health-start-period");
    if (cli_json_num(hc, "Retries") > 0)
        cli_argf(a, "--health-retries=%.0f", cli_json_num(hc, "Retries"));
}

static void cli_host_config(cli_argv *a, const cJSON *host)
{
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(host, "RestartPolicy");
    const char *name = cli_json_str(rp, "Name");
    if (name && *name) {
        double n = cli_json_num(rp, "MaximumRetryCount");
        if (strcmp(name, "on-failure") == 0 && n > 0)
            cli_argf(a, "--restart=on-failure:%.0f", n);
        else
            cli_argf(a, "--restart=%s", name);
    }
    cli_flag_str(a, host, "NetworkMode", "--network");
    if (cli_json_num(host, "Memory") > 0)
        cli_argf(a, "--memory=%.0f", cli_json_num(host, "Memory"));
    if (cli_json_num(host, "NanoCpus") > 0)
        cli_argf(a, "--cpus=%.9g", cli_json_num(host, "NanoCpus") / 1e9);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(host, "AutoRemove")))
        cli_arg(a, "--rm");
}

/* Entrypoint: podman takes a JSON list; docker one program, so the rest of
 * the list goes before the command. Returns what goes before Cmd. */
static const cJSON *cli_entrypoint(cli_argv *a, const cJSON *ep, engine_runtime rt)
{
    const cJSON *first = cJSON_GetArrayItem(ep, 0);
    if (!cJSON_IsString(first))
        return NULL;
    cli_arg(a, "--entrypoint");
    if (rt == RUNTIME_DOCKER) {
        cli_arg(a, first->valuestring);
        return first->next;
    }
    char *json = cJSON_PrintUnformatted(ep);
    cli_arg(a, json ? json : "[]");
    free(json);
    return NULL;
}

static void cli_create_flags(cli_argv *a, const cJSON *body, const char *name, engine_runtime rt)
{
    const cJSON *v;
    if (name && *name) {
        cli_arg(a, "--name");
        cli_arg(a, name);
    }
    /* the API never pulls on create: a missing image is "not found" */
    cli_arg(a, "--pull=never");
    cli_flag_list(a, cJSON_GetObjectItemCaseSensitive(body, "Env"), "--env");
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(body, "Labels")) {
        if (cJSON_IsString(v)) {
            cli_arg(a, "--label");
            cli_argf(a, "%s=%s", v->string, v->valuestring);
        }
    }
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(body, "ExposedPorts")) {
        cli_arg(a, "--expose");
        cli_arg(a, v->string);
    }
    cli_flag_str(a, body, "WorkingDir", "--workdir");
    cli_flag_str(a, body, "User", "--user");
    cli_flag_str(a, body, "StopSignal", "--stop-signal");
    if (cJSON_GetObjectItemCaseSensitive(body, "StopTimeout"))
        cli_argf(a, "--stop-timeout=%.0f", cli_json_num(body, "StopTimeout"));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "Tty")))
        cli_arg(a, "--tty");
    if (cJSON_GetObjectItemCaseSensitive(body, "Healthcheck"))
        cli_health(a, cJSON_GetObjectItemCaseSensitive(body, "Healthcheck"), rt);
    cli_host_config(a, cJSON_GetObjectItemCaseSensitive(body, "HostConfig"));
}

static int cli_build_create(cli_op *op, cli_argv *a, const engine_request *rq)
{
    cJSON *body = rq->body ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
    const char *image = cli_json_str(body, "Image");
    if (!image) {
        cJSON_Delete(body);
        return -1;
    }
    char *name = cli_param(rq->path, "name");
    cli_arg(a, "create");
    cli_create_flags(a, body, name, op->b->rt);
    const cJSON *pre = cli_entrypoint(a, cJSON_GetObjectItemCaseSensitive(body, "Entrypoint"), op->b->rt);
    cli_arg(a, "--");
    cli_arg(a, image);
    for (const cJSON *v = pre; v; v = v->next)
        if (cJSON_IsString(v))
            cli_arg(a, v->valuestring);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(body, "Cmd")) {
        if (cJSON_IsString(v))
            cli_arg(a, v->valuestring);
    }
    free(name);
    cJSON_Delete(body);
    op->kind = CLI_CREATE;
    return 0;
}

/* ---- the other requests ---- */

static void cli_build_format(cli_argv *a, engine_runtime rt)
{
    cli_arg(a, "--format");
    cli_arg(a, rt == RUNTIME_PODMAN ? "json" : "{{json .}}");
}

static int cli_build_list(cli_op *op, cli_argv *a, const char *path)
{
    char *limit = cli_param(path, "limit");
    cli_arg(a, "ps");
    if (op->b->rt == RUNTIME_PODMAN)
        cli_build_format(a, RUNTIME_PODMAN);
    else
        cli_arg(a, "--quiet"), cli_arg(a, "--no-trunc");
    if (cli_param_is(path, "all", "true"))
        cli_arg(a, "--all");
    if (limit && atol(limit) > 0)
        cli_argf(a, "--last=%ld", atol(limit));
    free(limit);
    op->kind = CLI_LIST;
    return cli_filters(a, path);
}

static int cli_build_logs(cli_op *op, cli_argv *a, const char *path, const char *id)
{
    char *tail = cli_param(path, "tail");
    cli_arg(a, "logs");
    cli_arg(a, "--timestamps");
    if (cli_param_is(path, "follow", "true"))
        cli_arg(a, "--follow");
    if (tail && *tail)
        cli_argf(a, "--tail=%s", tail);
    free(tail);
    cli_param_flag(a, path, "since", "--since");
    cli_param_flag(a, path, "until", "--until");
    cli_arg(a, "--");
    cli_arg(a, id);
    op->want_out = !cli_param_is(path, "stdout", "false");
    op->want_err = !cli_param_is(path, "stderr", "false");
    op->kind = CLI_LOGS;
    return 0;
}

/* libpod's /containers/stats?containers=a&containers=b&stream=..&interval=n */
static int cli_build_podman_stats(cli_op *op, cli_argv *a, const char *path)
{
    char *id, *interval = cli_param(path, "interval");
    int stream = !cli_param_is(path, "stream", "false");
    cli_arg(a, "stats");
    cli_arg(a, "--format");
    cli_arg(a, "{{json .ContainerStats}}");
    if (!stream)
        cli_arg(a, "--no-stream");
    if (stream && interval && atoi(interval) > 0)
        cli_argf(a, "--interval=%d", atoi(interval));
    free(interval);
    cli_arg(a, "--");
    int n = 0;
    while ((id = cli_param_nth(path, "containers", n++))) {
        cli_arg(a, id);
        free(id);
    }
    op->kind = stream ? CLI_STATS_STREAM : CLI_STATS_ONCE;
    return n > 1 ? 0 : -1;
}

static int cli_build_docker_stats(cli_op *op, cli_argv *a, const char *path, const char *id)
{
    int stream = !cli_param_is(path, "stream", "false");
    cli_arg(a, "stats");
    cli_arg(a, "--no-trunc");
    cli_build_format(a, RUNTIME_DOCKER);
    if (!stream)
        cli_arg(a, "--no-stream");
    cli_arg(a, "--");
    cli_arg(a, id);
    op->kind = stream ? CLI_STATS_STREAM : CLI_STATS_ONCE;
    return 0;
}

static int cli_build_events(cli_op *op, cli_argv *a, const char *path)
{
    cli_arg(a, "events");
    cli_build_format(a, op->b->rt);
    if (op->b->rt == RUNTIME_PODMAN && cli_param_is(path, "stream", "false"))
        cli_arg(a, "--stream=false");
    cli_param_flag(a, path, "since", "--since");
    cli_param_flag(a, path, "until", "--until");
    op->kind = CLI_EVENTS;
    return cli_filters(a, path);
}

/* Docker's wait conditions: only "not-running" (what `wait` does on both
 * CLIs) can be asked of a CLI. */
static int cli_build_wait(cli_op *op, cli_argv *a, const char *path, const char *id)
{
    char *cond = cli_param(path, "condition");
    int ok = !cond || strcmp(cond, "not-running") == 0;
    free(cond);
    cli_arg(a, "wait");
    cli_arg(a, "--");
    cli_arg(a, id);
    op->kind = CLI_WAIT;
    return ok ? 0 : -1;
}

/* start, stop, restart, kill, pause, unpause and DELETE: no answer but
 * success or an error. */
static int cli_build_action(cli_op *op, cli_argv *a, const char *method, const char *path, const char *verb,
                            const char *id)
{
    /* libpod's stop says "timeout", everything else "t" */
    char *t = cli_param(path, strcmp(verb, "stop") == 0 && op->b->rt == RUNTIME_PODMAN ? "timeout" : "t");
    int rc = 0;
    op->kind = CLI_ACTION;
    if (strcmp(method, "DELETE") == 0 && !*verb) {
        cli_arg(a, "rm");
        if (cli_param_is(path, "force", "true"))
            cli_arg(a, "--force");
        if (cli_param_is(path, "v", "true"))
            cli_arg(a, "--volumes");
    } else if (strcmp(verb, "stop") == 0 || strcmp(verb, "restart") == 0) {
        cli_arg(a, verb);
        if (t) {
            /* -t: "--time" on podman and older docker, "--timeout" on newer docker */
            cli_arg(a, "-t");
            cli_argf(a, "%ld", atol(t));
        }
    } else if (strcmp(verb, "kill") == 0) {
        cli_arg(a, "kill");
        cli_param_flag(a, path, "signal", "--signal");
    } else if (strcmp(verb, "start") == 0 || strcmp(verb, "pause") == 0 || strcmp(verb, "unpause") == 0) {
        cli_arg(a, verb);
    } else {
        rc = -1;
    }
    free(t);
    cli_arg(a, "--");
    cli_arg(a, id);
    return rc;
}

static int cli_build_container(cli_op *op, cli_argv *a, const engine_request *rq)
{
    char *id = NULL, verb[32];
    const char *method = rq->method ? rq->method : "GET";
    if (cli_container_path(rq->path, &id, verb) != 0)
        return -1;
    int rc;
    if (strcmp(verb, "json") == 0) {
        cli_arg(a, "inspect");
        cli_arg(a, "--type");
        cli_arg(a, "container");
        cli_arg(a, "--");
        cli_arg(a, id);
        op->kind = CLI_INSPECT;
        rc = 0;
    } else if (strcmp(verb, "logs") == 0) {
        rc = cli_build_logs(op, a, rq->path, id);
    } else if (strcmp(verb, "stats") == 0) {
        rc = cli_build_docker_stats(op, a, rq->path, id);
    } else if (strcmp(verb, "wait") == 0) {
        rc = cli_build_wait(op, a, rq->path, id);
    } else {
        rc = cli_build_action(op, a, method, rq->path, verb, id);
    }
    free(id);
    return rc;
}

/* The argv for rq, after the program and its global flags. Returns 0, or
 * -1 when the CLI has no equivalent. */
static int cli_build(cli_op *op, cli_argv *a, const engine_request *rq)
{
    const char *path = rq->path;
    engine_runtime rt = op->b->rt;
    if (cli_path_is(path, "/_ping") || cli_path_is(path, "/version")) {
        cli_arg(a, "version");
        cli_build_format(a, rt);
        op->kind = cli_path_is(path, "/_ping") ? CLI_PING : CLI_VERSION;
        return 0;
    }
    if (cli_path_is(path, "/info")) {
        cli_arg(a, "info");
        cli_build_format(a, rt);
        op->kind = CLI_INFO;
        return 0;
    }
    if (cli_path_is(path, "/pods/json") && rt == RUNTIME_PODMAN) {
        cli_arg(a, "pod");
        cli_arg(a, "ps");
        cli_build_format(a, rt);
        op->kind = CLI_PODS;
        return cli_filters(a, path);
    }
    if (cli_path_is(path, "/events"))
        return cli_build_events(op, a, path);
    if (cli_path_is(path, "/containers/json"))
        return cli_build_list(op, a, path);
    if (cli_path_is(path, "/containers/create"))
        return cli_build_create(op, a, rq);
    if (cli_path_is(path, "/containers/stats") && rt == RUNTIME_PODMAN)
        return cli_build_podman_stats(op, a, path);
    return cli_build_container(op, a, rq);
}

/* ---- errors ---- */

/* What the CLI printed on stderr, its last lines joined with " / ", its
 * own "Error: " prefixes left out. */
static void cli_said(const char *text, size_t len, char *out, size_t outlen)
{
    char joined[1024];
    size_t j = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            n--;
        static const char *const noise[] = {"Error: ", "Error response from daemon: "};
        for (size_t k = 0; k < 2; k++) {
            size_t m = strlen(noise[k]);
            if (n > m && strncmp(p, noise[k], m) == 0)
                p += m, n -= m;
        }
        if (n > 0 && j < sizeof joined - 1) {
            if (j > sizeof joined / 2) /* keep the end: the last lines say most */
                j = 0;
            j += (size_t)snprintf(joined + j, sizeof joined - j, "%s%.*s", j ? " / " : "", (int)n, p);
            if (j >= sizeof joined)
                j = sizeof joined - 1;
        }
        p = nl ? nl + 1 : end;
    }
    joined[j] = '\0';
    snprintf(out, outlen, "%.*s", (int)(outlen - 1), joined);
}

/* Whether `text` contains `word` (lower case), ignoring case. */
static int cli_mentions(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, word, n) == 0)
            return 1;
    return 0;
}

static engine_errkind cli_error_kind(const char *said)
{
    static const struct { const char *text; engine_errkind kind; } map[] = {
        {"no such container", ERR_NOT_FOUND},
        {"no such object", ERR_NOT_FOUND},
        {"no such pod", ERR_NOT_FOUND},
        {"no such image", ERR_NOT_FOUND},
        {"image not known", ERR_NOT_FOUND},
        {"is already in use", ERR_CONFLICT},
        {"container state improper", ERR_CONFLICT},
        {"is not running", ERR_CONFLICT},
        {"cannot remove a running container", ERR_CONFLICT},
        {"container is running", ERR_CONFLICT},
        {"is not paused", ERR_CONFLICT},
        {"is already paused", ERR_CONFLICT},
        {"cannot connect to the docker daemon", ERR_CONNECTION},
        {"cannot connect to podman", ERR_CONNECTION},
        {"error during connect", ERR_CONNECTION},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (cli_mentions(said, map[i].text))
            return map[i].kind;
    return ERR_API;
}

/* The CLI failed: its words and the kind they mean. */
static void cli_map_failure(cli_op *op, const char *err, size_t err_len)
{
    char said[400];
    cli_said(err, err_len, said, sizeof said);
    if (op->st.timed_out) {
        cli_fail(op->reply, ERR_TIMEOUT, "%s did not finish in time (%.1f s)", op->what,
                 (double)op->timeout_ms / 1000.0);
    } else if (op->st.term_signal) {
        cli_fail(op->reply, ERR_CONNECTION, "%s was killed by signal %d%s%s", op->what, op->st.term_signal,
                 said[0] ? ": " : "", said);
    } else if (!said[0]) {
        cli_fail(op->reply, ERR_API, "%s exited with status %lld and said nothing", op->what,
                 (long long)op->st.exit_status);
    } else {
        cli_fail(op->reply, cli_error_kind(said), "%s (from the %s CLI)", said, cli_name(op));
    }
}

/* ---- shapes: what the CLI printed, as the API answers ---- */

static cJSON *cli_parse(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)*text))
        text++, len--;
    return len ? cJSON_ParseWithLength(text, len) : NULL;
}

static void cli_copy_str(cJSON *to, const char *key, const cJSON *from, const char *from_key)
{
    const char *v = cli_json_str(from, from_key);
    cJSON_AddStringToObject(to, key, v ? v : "");
}

/* podman version: {"Client": {...}} (and "Server" when remote), as
 * libpod's GET /version answers: Docker's shape with a "Podman Engine"
 * component. The Docker-compatible API version is not known here. */
static cJSON *cli_podman_version(const cJSON *doc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "Server");
    if (!cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(doc, "Client");
    const char *osarch = cli_json_str(v, "OsArch");
    const char *slash = osarch ? strchr(osarch, '/') : NULL;
    if (!cli_json_str(v, "Version"))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON *platform = cJSON_AddObjectToObject(out, "Platform");
    cJSON_AddStringToObject(platform, "Name", osarch ? osarch : "");
    cJSON *comp = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "Components"), comp);
    cJSON_AddStringToObject(comp, "Name", "Podman Engine");
    cli_copy_str(comp, "Version", v, "Version");
    cJSON *details = cJSON_AddObjectToObject(comp, "Details");
    cli_copy_str(details, "APIVersion", v, "APIVersion");
    cJSON_AddStringToObject(details, "Arch", slash ? slash + 1 : "");
    cli_copy_str(details, "BuildTime", v, "BuiltTime");
    cli_copy_str(details, "GitCommit", v, "GitCommit");
    cli_copy_str(details, "GoVersion", v, "GoVersion");
    cli_copy_str(details, "Os", v, "Os");
    cli_copy_str(out, "Version", v, "Version");
    cli_copy_str(out, "GoVersion", v, "GoVersion");
    cli_copy_str(out, "GitCommit", v, "GitCommit");
    cli_copy_str(out, "Os", v, "Os");
    cJSON_AddStringToObject(out, "Arch", slash ? slash + 1 : "");
    cli_copy_str(out, "BuildTime", v, "BuiltTime");
    return out;
}

/* docker version: {"Client": {...}, "Server": <GET /version's answer>} */
static cJSON *cli_docker_version(cJSON *doc)
{
    cJSON *server = cJSON_DetachItemFromObjectCaseSensitive(doc, "Server");
    if (cJSON_IsObject(server))
        return server;
    cJSON_Delete(server);
    return NULL;
}

/* "0.0.0.0:8080->80/tcp" style maps are not needed: an inspect's
 * NetworkSettings.Ports {"80/tcp": [{HostIp, HostPort}] | null} becomes a
 * Docker list's [{IP, PrivatePort, PublicPort, Type}]. */
static cJSON *cli_list_ports(const cJSON *map)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *p, *b;
    cJSON_ArrayForEach(p, map) {
        const char *slash = strchr(p->string, '/');
        long ctr = strtol(p->string, NULL, 10);
        int any = 0;
        cJSON_ArrayForEach(b, p) {
            cJSON *e = cJSON_CreateObject();
            const char *ip = cli_json_str(b, "HostIp"), *hp = cli_json_str(b, "HostPort");
            if (ip && *ip)
                cJSON_AddStringToObject(e, "IP", ip);
            cJSON_AddNumberToObject(e, "PrivatePort", (double)ctr);
            if (hp && *hp)
                cJSON_AddNumberToObject(e, "PublicPort", (double)strtol(hp, NULL, 10));
            cJSON_AddStringToObject(e, "Type", slash ? slash + 1 : "tcp");
            cJSON_AddItemToArray(list, e);
            any = 1;
        }
        if (!any) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "PrivatePort", (double)ctr);
            cJSON_AddStringToObject(e, "Type", slash ? slash + 1 : "tcp");
            cJSON_AddItemToArray(list, e);
        }
    }
    return list;
}

/* The human Status of a Docker list ("Up", "Exited (3)"): the CLI's inspect
 * has the facts, not the words, which moonpod does not read. */
static void cli_list_status(cJSON *item, const cJSON *state)
{
    const char *st = cli_json_str(state, "Status");
    char text[64];
    if (st && strcmp(st, "running") == 0)
        snprintf(text, sizeof text, "Up");
    else if (st && strcmp(st, "paused") == 0)
        snprintf(text, sizeof text, "Up (Paused)");
    else if (st && strcmp(st, "exited") == 0)
        snprintf(text, sizeof text, "Exited (%.0f)", cli_json_num(state, "ExitCode"));
    else
        snprintf(text, sizeof text, "%c%s", st && *st ? toupper((unsigned char)*st) : '?', st && *st ? st + 1 : "");
    cJSON_AddStringToObject(item, "State", st ? st : "");
    cJSON_AddStringToObject(item, "Status", text);
}

/* Docker's list shows the command as Path and Args joined. */
static void cli_list_command(cJSON *item, const cJSON *in)
{
    const char *path = cli_json_str(in, "Path");
    const cJSON *arg;
    buf cmd;
    buf_init(&cmd);
    buf_puts(&cmd, path ? path : "");
    cJSON_ArrayForEach(arg, cJSON_GetObjectItemCaseSensitive(in, "Args"))
        if (cJSON_IsString(arg))
            buf_printf(&cmd, " %s", arg->valuestring);
    cJSON_AddStringToObject(item, "Command", buf_str(&cmd) ? buf_str(&cmd) : "");
    buf_free(&cmd);
}

/* One `docker inspect` result as an element of Docker's container list. */
static cJSON *cli_docker_list_item(const cJSON *in)
{
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(in, "Config");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(in, "State");
    const cJSON *net = cJSON_GetObjectItemCaseSensitive(in, "NetworkSettings");
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(in, "HostConfig");
    const char *created = cli_json_str(in, "Created");
    cJSON *item = cJSON_CreateObject();
    double t = 0;
    const char *name = cli_json_str(in, "Name");
    cli_copy_str(item, "Id", in, "Id");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(item, "Names"), cJSON_CreateString(name ? name : ""));
    cli_copy_str(item, "Image", config, "Image");
    cli_copy_str(item, "ImageID", in, "Image");
    cli_list_command(item, in);
    if (created)
        model_parse_time(created, &t);
    cJSON_AddNumberToObject(item, "Created", floor(t));
    cJSON_AddItemToObject(item, "Ports", cli_list_ports(cJSON_GetObjectItemCaseSensitive(net, "Ports")));
    cJSON *labels = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(config, "Labels"), 1);
    cJSON_AddItemToObject(item, "Labels", labels ? labels : cJSON_CreateObject());
    cli_list_status(item, state);
    cJSON *hc = cJSON_AddObjectToObject(item, "HostConfig");
    cli_copy_str(hc, "NetworkMode", host, "NetworkMode");
    cJSON *ns = cJSON_AddObjectToObject(item, "NetworkSettings");
    cJSON *nets = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(net, "Networks"), 1);
    cJSON_AddItemToObject(ns, "Networks", nets ? nets : cJSON_CreateObject());
    cJSON *mounts = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(in, "Mounts"), 1);
    cJSON_AddItemToObject(item, "Mounts", mounts ? mounts : cJSON_CreateArray());
    return item;
}

static cJSON *cli_docker_list(const cJSON *inspected)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, inspected)
        if (cJSON_IsObject(c))
            cJSON_AddItemToArray(list, cli_docker_list_item(c));
    return list;
}

/* "1.5GiB", "600KiB", "12.3kB", "0B": the CLIs' human sizes, in bytes. */
static double cli_size(const char *s)
{
    static const struct { const char *unit; double scale; } units[] = {
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"PiB", 1125899906842624.0}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
        {"PB", 1e15}, {"B", 1.0},
    };
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strncmp(end, units[i].unit, strlen(units[i].unit)) == 0)
            return v * units[i].scale;
    return v;
}

/* "600KiB / 23.54GiB" -> the two sizes. */
static void cli_size_pair(const char *s, double *a, double *b)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    *a = s ? cli_size(s) : 0;
    *b = slash ? cli_size(slash + 1) : 0;
}

/* One line of `docker stats --format '{{json .}}'` (human words only:
 * Docker's counters are not available from its CLI) as an element of
 * libpod's Stats list, which models.h reads for either engine. */
static cJSON *cli_docker_stats(const cJSON *in)
{
    double mem, limit, rx, tx, rd, wr;
    const char *cpu = cli_json_str(in, "CPUPerc"), *pids = cli_json_str(in, "PIDs");
    if (!cli_json_str(in, "ID"))
        return NULL;
    cli_size_pair(cli_json_str(in, "MemUsage"), &mem, &limit);
    cli_size_pair(cli_json_str(in, "NetIO"), &rx, &tx);
    cli_size_pair(cli_json_str(in, "BlockIO"), &rd, &wr);
    cJSON *out = cJSON_CreateObject();
    cli_copy_str(out, "ContainerID", in, "ID");
    cli_copy_str(out, "Name", in, "Name");
    cJSON_AddNumberToObject(out, "CPU", cpu ? strtod(cpu, NULL) : 0);
    cJSON_AddNumberToObject(out, "SystemNano", floor(loop_wall_now() * 1e9));
    cJSON_AddNumberToObject(out, "MemUsage", floor(mem));
    cJSON_AddNumberToObject(out, "MemLimit", floor(limit));
    cJSON_AddNumberToObject(out, "MemPerc", limit > 0 ? mem / limit * 100.0 : 0);
    cJSON_AddNumberToObject(out, "NetInput", floor(rx));
    cJSON_AddNumberToObject(out, "NetOutput", floor(tx));
    cJSON_AddNumberToObject(out, "BlockInput", floor(rd));
    cJSON_AddNumberToObject(out, "BlockOutput", floor(wr));
    cJSON_AddNumberToObject(out, "PIDs", pids ? (double)strtol(pids, NULL, 10) : 0);
    return out;
}

/* libpod streams {"Error": null, "Stats": [samples]} */
static cJSON *cli_podman_stats_wrap(cJSON *samples)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNullToObject(out, "Error");
    cJSON_AddItemToObject(out, "Stats", samples);
    return out;
}

/* "2026-11-28T16:19:46.27975544Z" as whole seconds and nanoseconds,
 * exactly: timeNano does not fit a double. */
static int cli_event_time(const char *stamp, int64_t *secs, long *nanos)
{
    char whole[64];
    const char *dot = strchr(stamp, '.'), *p = dot ? dot + 1 : NULL;
    long ns = 0;
    int digits = 0;
    double t;
    for (; p && isdigit((unsigned char)*p); p++)
        if (digits < 9)
            ns = ns * 10 + (*p - '0'), digits++;
    for (; dot && digits < 9; digits++)
        ns *= 10;
    if (dot)
        snprintf(whole, sizeof whole, "%.*s%s", (int)(dot - stamp), stamp, p);
    else
        snprintf(whole, sizeof whole, "%s", stamp);
    if (model_parse_time(whole, &t) != 0)
        return -1;
    *secs = (int64_t)t;
    *nanos = ns;
    return 0;
}

/* One podman CLI event ({"ID","Image","Name","Status","Time","Type",
 * "Attributes",...}) as libpod's API sends it: Docker's shape, with the
 * name, image, exit code and pod among the actor's attributes. */
static cJSON *cli_podman_event(const cJSON *in)
{
    const char *id = cli_json_str(in, "ID"), *image = cli_json_str(in, "Image");
    const char *status = cli_json_str(in, "Status"), *stamp = cli_json_str(in, "Time");
    const char *health = cli_json_str(in, "health_status");
    int64_t secs;
    long nanos;
    char nano_text[32];
    if (!status || !stamp || cli_event_time(stamp, &secs, &nanos) != 0)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status);
    if (id && *id)
        cJSON_AddStringToObject(out, "id", id);
    if (image && *image)
        cJSON_AddStringToObject(out, "from", image);
    cli_copy_str(out, "Type", in, "Type");
    cJSON_AddStringToObject(out, "Action", status);
    cJSON *actor = cJSON_AddObjectToObject(out, "Actor");
    cJSON_AddStringToObject(actor, "ID", id ? id : "");
    cJSON *attrs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(in, "Attributes"), 1);
    if (!cJSON_IsObject(attrs)) {
        cJSON_Delete(attrs);
        attrs = cJSON_CreateObject();
    }
    char code[32];
    snprintf(code, sizeof code, "%.0f", cli_json_num(in, "ContainerExitCode"));
    cJSON_AddStringToObject(attrs, "containerExitCode", code);
    cJSON_AddStringToObject(attrs, "image", image ? image : "");
    cli_copy_str(attrs, "name", in, "Name");
    cli_copy_str(attrs, "podId", in, "PodID");
    if (health)
        cJSON_AddStringToObject(attrs, "health_status", health);
    cJSON_AddItemToObject(actor, "Attributes", attrs);
    cJSON_AddStringToObject(out, "scope", "local");
    snprintf(nano_text, sizeof nano_text, "%lld", (long long)secs * 1000000000LL + nanos);
    cJSON_AddNumberToObject(out, "time", (double)secs);
    cJSON_AddRawToObject(out, "timeNano", nano_text);
    return out;
}

/* One line of a JSON stream, in the API's shape; NULL to skip it. */
static cJSON *cli_stream_value(cli_op *op, const char *line, size_t n)
{
    /* the docker CLI clears the screen before each stats redraw */
    const char *brace = memchr(line, '{', n);
    cJSON *in = brace ? cJSON_ParseWithLength(brace, n - (size_t)(brace - line)) : NULL, *out = NULL;
    if (!in)
        return NULL;
    if (op->kind == CLI_STATS_STREAM && op->b->rt == RUNTIME_PODMAN) {
        cJSON *list = cJSON_CreateArray();
        cJSON_AddItemToArray(list, in);
        return cli_podman_stats_wrap(list);
    }
    if (op->kind == CLI_EVENTS && op->b->rt == RUNTIME_DOCKER)
        return in; /* docker's events are the API's */
    out = op->kind == CLI_EVENTS ? cli_podman_event(in) : cli_docker_stats(in);
    cJSON_Delete(in);
    return out;
}

/* ---- shaping a collected answer ---- */

/* The last non-empty line of text, trimmed, into out. */
static void cli_last_line(const char *text, size_t len, char *out, size_t outlen)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    snprintf(out, outlen, "%.*s", (int)(len - start), text + start);
}

/* `podman stats --no-stream`: one sample per line, as {"Stats": [...]} */
static cJSON *cli_podman_stats_once(const char *text, size_t len)
{
    cJSON *list = cJSON_CreateArray();
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        cJSON *one = cli_parse(p, n);
        if (cJSON_IsObject(one))
            cJSON_AddItemToArray(list, one);
        else
            cJSON_Delete(one);
        p = nl ? nl + 1 : end;
    }
    return cli_podman_stats_wrap(list);
}

static cJSON *cli_wait_answer(const char *text, size_t len)
{
    char line[64], *end;
    cli_last_line(text, len, line, sizeof line);
    long code = strtol(line, &end, 10);
    if (end == line)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "StatusCode", (double)code);
    cJSON_AddNullToObject(out, "Error");
    return out;
}

static cJSON *cli_create_answer(const char *text, size_t len)
{
    char id[128];
    cli_last_line(text, len, id, sizeof id);
    if (!id[0] || strspn(id, "0123456789abcdef") != strlen(id))
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "Id", id);
    cJSON_AddArrayToObject(out, "Warnings");
    return out;
}

/* An inspect is a list: the API answers with its one element. An empty
 * list is a container that went away. */
static void cli_inspect_answer(cli_op *op, cJSON *list)
{
    cJSON *first = cJSON_IsArray(list) ? cJSON_DetachItemFromArray(list, 0) : NULL;
    int was_list = cJSON_IsArray(list);
    cJSON_Delete(list);
    if (cJSON_IsObject(first)) {
        op->reply->json = first;
        return;
    }
    cJSON_Delete(first);
    if (was_list)
        cli_fail(op->reply, ERR_NOT_FOUND, "no such container (from the %s CLI)", cli_name(op));
    else
        cli_fail(op->reply, ERR_PROTOCOL, "%s printed something that is not a list", op->what);
}

/* An empty answer of a list command is an empty list. */
static cJSON *cli_list_answer(const char *text, size_t len)
{
    cJSON *v = cli_parse(text, len);
    if (!v && strspn(text, " \t\r\n") == len)
        return cJSON_CreateArray();
    if (cJSON_IsArray(v))
        return v;
    cJSON_Delete(v);
    return NULL;
}

/* The answer of a successful CLI in the API's shape, into the reply. */
static void cli_shape(cli_op *op, const char *out, size_t len)
{
    engine_reply *r = op->reply;
    cJSON *doc = NULL;
    int podman = op->b->rt == RUNTIME_PODMAN;
    switch (op->kind) {
    case CLI_PING:
        if ((r->text = strdup("OK")))
            r->text_len = 2;
        return;
    case CLI_VERSION:
        doc = cli_parse(out, len);
        r->json = podman ? cli_podman_version(doc) : cli_docker_version(doc);
        cJSON_Delete(doc);
        break;
    case CLI_INFO:
        r->json = cli_parse(out, len);
        cJSON_DeleteItemFromObjectCaseSensitive(r->json, "ClientInfo"); /* docker's own, not the engine's */
        break;
    case CLI_PODS:
    case CLI_LIST:
        r->json = cli_list_answer(out, len);
        break;
    case CLI_LIST_INSPECT:
        doc = cli_list_answer(out, len);
        r->json = doc ? cli_docker_list(doc) : NULL;
        cJSON_Delete(doc);
        break;
    case CLI_INSPECT:
        return cli_inspect_answer(op, cli_parse(out, len));
    case CLI_WAIT:
        r->json = cli_wait_answer(out, len);
        break;
    case CLI_CREATE:
        r->json = cli_create_answer(out, len);
        break;
    case CLI_STATS_ONCE:
        if (podman) {
            r->json = cli_podman_stats_once(out, len);
        } else {
            doc = cli_parse(out, len);
            r->json = cli_docker_stats(doc);
            cJSON_Delete(doc);
        }
        break;
    default:
        return; /* the actions answer nothing */
    }
    if (!r->json && r->kind == ERR_NONE)
        cli_fail(r, ERR_PROTOCOL, "%s printed something moonpod can't read (%zu bytes)", op->what, len);
}

/* ---- running ---- */

static void cli_op_free(cli_op *op)
{
    child_release(op->child);
    frame_lines_free(&op->out_lines);
    frame_lines_free(&op->err_lines);
    buf_free(&op->pending);
    if (op->later) {
        uv_timer_stop(op->later);
        loop_close_free((uv_handle_t *)op->later);
    }
    free(op);
}

/* Reports and frees the operation: nothing touches it after done. */
static void cli_finish(cli_op *op)
{
    void (*done)(void *) = op->done;
    void *ud = op->ud;
    cli_op_free(op);
    done(ud);
}

static void cli_on_collected(void *ud, const child_status *st);
static void cli_on_output(void *ud, int fd, const char *p, size_t n);
static void cli_on_stream_done(void *ud, const child_status *st);

static int cli_is_stream(cli_kind k)
{
    return k == CLI_LOGS || k == CLI_STATS_STREAM || k == CLI_EVENTS;
}

/* Runs the argv for op. Returns 0, or -1 with the reply filled. */
static int cli_spawn(cli_op *op, const cli_argv *a)
{
    /* podman would take CONTAINER_HOST as a request to work remotely */
    static const char *const podman_env[] = {"CONTAINER_HOST", "CONTAINER_CONNECTION", NULL};
    child_opts o = {
        .argv = (const char *const *)a->v,
        .env_edit = op->b->rt == RUNTIME_PODMAN ? podman_env : NULL,
        .max_output = CLI_MAX_STDOUT,
        .on_output = op->stream ? cli_on_output : NULL,
        .on_done = op->stream ? cli_on_stream_done : cli_on_collected,
        .ud = op,
        .timeout_ms = op->timeout_ms,
        .eof_grace_ms = CLI_EOF_GRACE_MS,
        .pdeathsig = 1,
        .detached = 1,
        .kill_at_exit = 1,
    };
    char err[256];
    int uv_err;
    cli_describe(op, a);
    log_debug("%s: %s", op->b->display, op->what);
    op->started_ms = uv_now(loop_get());
    if ((op->child = child_spawn(&o, &uv_err, err, sizeof err)))
        return 0;
    cli_fail(op->reply, uv_err == UV_ENOMEM ? ERR_PROTOCOL : ERR_CONNECTION, "cannot run the %s CLI (%s): %s",
             cli_name(op), op->b->program, uv_err == UV_ENOMEM ? err : uv_strerror(uv_err));
    return -1;
}

/* A Docker list: `ps --quiet` gave the ids, `inspect` gives the rest. */
static void cli_list_inspect(cli_op *op, const char *ids, size_t len)
{
    cli_argv a = {0};
    int any = 0;
    cli_argv_base(op->b, &a);
    cli_arg(&a, "inspect");
    cli_arg(&a, "--type");
    cli_arg(&a, "container");
    cli_arg(&a, "--");
    for (const char *p = ids, *end = ids + len; p < end;) {
        size_t n = strcspn(p, "\n");
        char id[128];
        snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), p);
        id[strcspn(id, " \r\t")] = '\0';
        if (id[0]) {
            cli_arg(&a, id);
            any = 1;
        }
        p += n + 1;
    }
    child_release(op->child);
    op->child = NULL;
    op->kind = CLI_LIST_INSPECT;
    if (a.bad)
        cli_fail(op->reply, ERR_PROTOCOL, "out of memory or too many containers for one docker inspect");
    else if (!any)
        op->reply->json = cJSON_CreateArray();
    if (a.bad || !any || cli_spawn(op, &a) != 0) {
        cli_argv_free(&a);
        return cli_finish(op);
    }
    cli_argv_free(&a);
}

static void cli_on_collected(void *ud, const child_status *st)
{
    cli_op *op = ud;
    size_t out_len, err_len;
    const char *out = child_output(op->child, 1, &out_len);
    const char *err = child_output(op->child, 2, &err_len);
    int failed = st->timed_out || st->term_signal || st->exit_status != 0;
    op->st = *st;
    /* a container removed between `ps` and `inspect` is not an error */
    if (failed && !(op->kind == CLI_LIST_INSPECT && !st->timed_out && !st->term_signal && out_len > 0)) {
        cli_map_failure(op, err, err_len);
    } else if (child_dropped(op->child, 1)) {
        cli_fail(op->reply, ERR_PROTOCOL, "%s printed more than %zu bytes", op->what, (size_t)CLI_MAX_STDOUT);
    } else if (op->kind == CLI_LIST && op->b->rt == RUNTIME_DOCKER) {
        return cli_list_inspect(op, out, out_len);
    } else {
        cli_shape(op, out, out_len);
    }
    cli_finish(op);
}

/* ---- streams ---- */

/* Gives bytes to the reader, or keeps them while it can't take more. */
static void cli_emit(cli_op *op, const char *p, size_t n)
{
    if (op->aborted)
        return;
    if (op->paused) {
        buf_add(&op->pending, p, n);
        return;
    }
    int rc = op->on_data(p, n, op->data_ud);
    if (rc == HTTP_DATA_PAUSE) {
        buf_add(&op->pending, p, n);
        op->paused = 1;
        child_pause(op->child);
    } else if (rc == HTTP_DATA_ABORT) {
        op->aborted = 1;
        child_kill(op->child, 9);
    }
}

/* One multiplexed log frame: [fd, 0, 0, 0, big-endian length] payload. */
static void cli_emit_frame(cli_op *op, int fd, const char *p, size_t n, int newline)
{
    unsigned char hdr[8] = {(unsigned char)fd, 0, 0, 0};
    size_t len = n + (newline ? 1 : 0);
    buf frame;
    hdr[4] = (unsigned char)(len >> 24);
    hdr[5] = (unsigned char)(len >> 16);
    hdr[6] = (unsigned char)(len >> 8);
    hdr[7] = (unsigned char)len;
    buf_init(&frame);
    buf_add(&frame, (const char *)hdr, sizeof hdr);
    buf_add(&frame, p, n);
    if (newline)
        buf_add(&frame, "\n", 1);
    if (buf_str(&frame))
        cli_emit(op, frame.p, frame.len);
    buf_free(&frame);
}

/* What the CLI itself said (not the container): kept for the error. */
static void cli_keep_said(cli_op *op, const char *p, size_t n)
{
    size_t cap = sizeof op->err_tail - 1;
    if (n + 1 > cap)
        p += n + 1 - cap, n = cap - 1;
    if (op->err_len + n + 1 > cap) {
        size_t drop = op->err_len + n + 1 - cap;
        memmove(op->err_tail, op->err_tail + drop, op->err_len - drop);
        op->err_len -= drop;
    }
    memcpy(op->err_tail + op->err_len, p, n);
    op->err_len += n;
    op->err_tail[op->err_len++] = '\n';
}

/* "2026-11-28T15:40:24.199417712Z ...": a container's line, as
 * `logs --timestamps` prints every one of them. */
static int cli_stamped(const char *p, size_t n)
{
    static const char shape[] = "dddd-dd-ddT";
    if (n < sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != shape[i])
            return 0;
    return 1;
}

/* A line of the CLI's stderr during `logs`: the container's stderr, or
 * the CLI's own complaint. */
static int cli_on_log_err_line(void *ud, int stream, const char *p, size_t n)
{
    cli_op *op = ud;
    (void)stream;
    if (!cli_stamped(p, n))
        cli_keep_said(op, p, n);
    else if (op->want_err)
        cli_emit_frame(op, 2, p, n, 1);
    return 0;
}

static uint64_t cli_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* Which redraws of `docker stats` are samples worth giving: not the ones
 * before the engine's first sample (no processes, no memory), not that
 * first sample (its CPU covers the container's whole life), and one per
 * engine sample after that. */
static int cli_docker_sample_wanted(cli_op *op, const cJSON *sample, const char *line, size_t n)
{
    uint64_t now = uv_now(loop_get()), h = cli_hash(line, n);
    int empty = cli_json_num(sample, "PIDs") == 0 && cli_json_num(sample, "MemUsage") == 0;
    if (!empty && !op->seen_sample) {
        op->seen_sample = 1;
        op->first_sample = h;
        op->first_sample_ms = now;
    }
    int settled = op->seen_sample && (h != op->first_sample || now - op->first_sample_ms >= CLI_DOCKER_STATS_SETTLE_MS);
    if (!settled && !(empty && now - op->started_ms >= CLI_DOCKER_STATS_SETTLE_MS))
        return 0;
    if (op->last_emit_ms && now - op->last_emit_ms < CLI_DOCKER_STATS_EVERY_MS)
        return 0;
    op->last_emit_ms = now;
    return 1;
}

static int cli_on_json_line(void *ud, int stream, const char *p, size_t n)
{
    cli_op *op = ud;
    (void)stream;
    cJSON *v = cli_stream_value(op, p, n);
    if (!v)
        return 0;
    if (op->kind == CLI_STATS_STREAM && op->b->rt == RUNTIME_DOCKER && !cli_docker_sample_wanted(op, v, p, n)) {
        cJSON_Delete(v);
        return 0;
    }
    char *text = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (text) {
        cli_emit(op, text, strlen(text));
        cli_emit(op, "\n", 1);
    }
    free(text);
    return 0;
}

static int cli_on_said_line(void *ud, int stream, const char *p, size_t n)
{
    (void)stream;
    cli_keep_said(ud, p, n);
    return 0;
}

static void cli_on_output(void *ud, int fd, const char *p, size_t n)
{
    cli_op *op = ud;
    int logs = op->kind == CLI_LOGS;
    frame_emit_fn on_err = logs ? cli_on_log_err_line : cli_on_said_line;
    if (n == 0) {
        if (fd == 2)
            frame_lines_finish(&op->err_lines, 2, on_err, op);
        else if (!logs)
            frame_lines_finish(&op->out_lines, 1, cli_on_json_line, op);
        return;
    }
    if (fd == 2)
        frame_lines_feed(&op->err_lines, 2, p, n, on_err, op);
    else if (!logs)
        frame_lines_feed(&op->out_lines, 1, p, n, cli_on_json_line, op);
    else if (op->want_out)
        cli_emit_frame(op, 1, p, n, 0);
}

/* The stream is over and the reader has taken everything. */
static void cli_stream_end(cli_op *op)
{
    if (op->aborted)
        cli_fail(op->reply, ERR_PROTOCOL, "the reader of %s gave up on it", op->what);
    else if (op->st.timed_out || op->st.term_signal || op->st.exit_status != 0)
        cli_map_failure(op, op->err_tail, op->err_len);
    cli_finish(op);
}

static void cli_on_stream_done(void *ud, const child_status *st)
{
    cli_op *op = ud;
    op->st = *st;
    op->ended = 1;
    if (!op->paused)
        cli_stream_end(op);
}

static void cli_on_later(uv_timer_t *t)
{
    cli_stream_end(t->data);
}

void cli_resume(cli_op *op)
{
    if (!op || !op->paused || op->aborted)
        return;
    int rc = op->on_data(op->pending.p, op->pending.len, op->data_ud);
    if (rc == HTTP_DATA_PAUSE)
        return;
    buf_clear(&op->pending);
    op->paused = 0;
    if (rc == HTTP_DATA_ABORT) {
        op->aborted = 1;
        child_kill(op->child, 9);
    }
    if (!op->ended) {
        child_resume(op->child);
        return;
    }
    /* the end came while paused: report it from the loop, not from inside
     * the reader that resumed us */
    if (!op->later && (op->later = malloc(sizeof *op->later))) {
        uv_timer_init(loop_get(), op->later);
        op->later->data = op;
    }
    if (op->later)
        uv_timer_start(op->later, cli_on_later, 0, 0);
}

/* ---- the entry points ---- */

cli_op *cli_call(cli_backend *b, const engine_request *rq, long timeout_ms, engine_reply *reply,
                 void (*done)(void *ud), void *ud)
{
    cli_op *op = calloc(1, sizeof *op);
    if (!op) {
        cli_fail(reply, ERR_PROTOCOL, "out of memory");
        return NULL;
    }
    op->b = b;
    op->reply = reply;
    op->done = done;
    op->ud = ud;
    op->stream = (rq->flags & ENGINE_STREAM) != 0;
    op->on_data = rq->on_data;
    op->data_ud = rq->data_ud;
    frame_lines_init(&op->out_lines, CLI_MAX_LINE);
    frame_lines_init(&op->err_lines, CLI_LOG_LINE);
    buf_init(&op->pending);
    if (op->stream)
        op->timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : 0;
    else
        op->timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : rq->timeout_ms < 0 ? 0 : timeout_ms;
    cli_argv a = {0};
    cli_argv_base(b, &a);
    int rc = cli_build(op, &a, rq);
    if (rc != 0 || op->stream != cli_is_stream(op->kind))
        cli_fail(reply, ERR_UNSUPPORTED, "the %s CLI has no equivalent for %s %s (moonpod drives it because no "
                 "API socket answered)", engine_runtime_name(b->rt), rq->method ? rq->method : "GET", rq->path);
    else if (a.bad)
        cli_fail(reply, ERR_PROTOCOL, "out of memory, or too many arguments for the %s CLI",
                 engine_runtime_name(b->rt));
    if (rc != 0 || reply->kind != ERR_NONE || cli_spawn(op, &a) != 0) {
        cli_argv_free(&a);
        cli_op_free(op);
        return NULL;
    }
    cli_argv_free(&a);
    return op;
}

void cli_cancel(cli_op *op)
{
    if (op)
        cli_op_free(op); /* the child is killed and reaped */
}
