/* serve — the `moonpod serve` front end (see serve.h).
 *
 * The service's own Lua state (the "host") only opens the shared event
 * stream; policies never run in it. Policy files are read with plain file
 * calls, at start and on SIGHUP only: a few small local files, the same
 * as the script runner loading its script. */
#include "serve.h"

#include <dirent.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "log.h"
#include "loop.h"
#include "moonpod.h"
#include "policy.h"
#include "sd_notify.h"
#include "serve_lua.h"
#include "task.h"

#define SERVE_MAX_POLICIES 256
#define SERVE_DRAIN_POLL_MS 20
#define SERVE_DEFAULT_LISTEN "127.0.0.1:9464"

static struct {
    lua_State *host;
    policy_limits lim;
    double drain_seconds;
    char **args;              /* the files and directories named on the command line */
    int nargs;
    policy *pols[SERVE_MAX_POLICIES];
    int npols;
    int unready;              /* policies of the current (re)start still setting up */
    int starting;             /* the first start has not finished */
    int healthy;
    int draining;
    uint64_t drain_deadline;  /* uv_hrtime() */
    uv_signal_t *sigs[3];
    uv_timer_t *drain_timer;
    int listen;               /* serve /metrics and /healthz */
    int listen_given;         /* --listen named the address: not binding it is fatal */
    char listen_host[64];     /* an IP address, without brackets */
    int listen_port;
} srv;

int serve_healthy(void)
{
    return srv.healthy;
}

const char *serve_health_reason(void)
{
    if (srv.draining)
        return "draining";
    if (srv.healthy)
        return "ok";
    return srv.starting ? "starting" : "reloading";
}

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: moonpod serve [options] POLICY.lua... | DIR\n"
            "Runs each policy in a Lua state of its own; one event stream per engine is shared.\n"
            "  --memory-limit MB     memory cap of each policy (default 64)\n"
            "  --time-limit SECONDS  longest a handler may run without waiting (default 1)\n"
            "  --drain-timeout SECONDS  how long SIGTERM waits for running handlers (default 10)\n"
            "  --listen HOST:PORT    where /metrics and /healthz are served (default " SERVE_DEFAULT_LISTEN
            ", skipped\n"
            "                        with a warning when taken; [::1]:PORT for IPv6, port 0 for any\n"
            "                        free port, 'off' for none)\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads changed policy files.\n"
            "Environment: MOONPOD_LOG_FORMAT=json, NOTIFY_SOCKET and WATCHDOG_USEC (systemd).\n");
}

/* ---- readiness ---- */

static void serve_send_ready(void)
{
    char status[96];
    int running = 0;
    for (int i = 0; i < srv.npols; i++)
        running += policy_get_status(srv.pols[i]) == POLICY_RUNNING;
    snprintf(status, sizeof status, "READY=1\nSTATUS=%d of %d policies running", running, srv.npols);
    sd_notify_send(status);
    if (srv.starting)
        log_msg(LOG_INFO, "serve: ready: %d of %d policies running", running, srv.npols);
    srv.starting = 0;
    srv.healthy = !srv.draining;
}

static void serve_on_policy_ready(policy *p, void *ud)
{
    (void)p;
    (void)ud;
    if (srv.unready > 0 && --srv.unready == 0 && !srv.draining)
        serve_send_ready();
}

/* ---- the set of policies ---- */

static int serve_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static policy *serve_find(const char *path)
{
    for (int i = 0; i < srv.npols; i++)
        if (strcmp(policy_path(srv.pols[i]), path) == 0)
            return srv.pols[i];
    return NULL;
}

/* Starts p, counting it as unready until it tells it set itself up. */
static void serve_start_one(policy *p, int reload)
{
    char err[1024];
    srv.unready++;
    if (policy_start(p, err, sizeof err) == 0) {
        if (reload)
            log_msg(LOG_INFO, "policy '%s' reloaded from %s", policy_name(p), policy_path(p));
        return;
    }
    srv.unready--;
    if (reload && policy_get_status(p) == POLICY_RUNNING)
        log_msg(LOG_ERROR, "policy '%s': the changed file does not load; the running version goes on: %s",
                policy_name(p), err);
    else
        log_msg(LOG_ERROR, "policy '%s' does not start: %s", policy_name(p), err);
}

static void serve_add(const char *path, int reload)
{
    if (serve_find(path))
        return;
    if (srv.npols == SERVE_MAX_POLICIES) {
        log_msg(LOG_ERROR, "serve: more than %d policies; %s is left out", SERVE_MAX_POLICIES, path);
        return;
    }
    policy *p = policy_new(path, &srv.lim, serve_on_policy_ready, NULL);
    if (!p) {
        log_msg(LOG_ERROR, "serve: out of memory adding %s", path);
        return;
    }
    srv.pols[srv.npols++] = p;
    if (reload)
        log_msg(LOG_INFO, "policy '%s' added from %s", policy_name(p), path);
    serve_start_one(p, 0);
}

static int serve_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.lua of dir, in name order. */
static void serve_add_dir(const char *dir, int reload)
{
    DIR *d = opendir(dir);
    if (!d) {
        log_msg(LOG_ERROR, "serve: cannot read the directory %s", dir);
        return;
    }
    char *names[SERVE_MAX_POLICIES];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < SERVE_MAX_POLICIES) {
        if (de->d_name[0] == '.' || !serve_has_suffix(de->d_name, ".lua"))
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        names[n] = malloc(len);
        if (names[n])
            snprintf(names[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], serve_cmp);
    for (int i = 0; i < n; i++) {
        serve_add(names[i], reload);
        free(names[i]);
    }
}

static int serve_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void serve_add_all(int reload)
{
    for (int i = 0; i < srv.nargs; i++) {
        if (serve_is_dir(srv.args[i]))
            serve_add_dir(srv.args[i], reload);
        else
            serve_add(srv.args[i], reload);
    }
}

static void serve_remove(int i)
{
    policy *p = srv.pols[i];
    log_msg(LOG_INFO, "policy '%s' stopped: %s is gone", policy_name(p), policy_path(p));
    policy_free(p);
    srv.pols[i] = srv.pols[--srv.npols];
}

/* SIGHUP: changed files replace their running version, a file that does
 * not load leaves it running, new files in the directories start, removed
 * ones stop. The shared event stream lives in the host: untouched. */
static void serve_reload(void)
{
    log_msg(LOG_INFO, "serve: reloading policy files");
    sd_notify_send("RELOADING=1");
    srv.healthy = 0;
    for (int i = srv.npols - 1; i >= 0; i--) {
        struct stat st;
        if (stat(policy_path(srv.pols[i]), &st) != 0)
            serve_remove(i);
    }
    srv.unready++; /* held while starting, so that READY=1 comes after all */
    for (int i = 0; i < srv.npols; i++) {
        policy *p = srv.pols[i];
        if (policy_file_changed(p) || policy_get_status(p) == POLICY_IDLE)
            serve_start_one(p, 1);
    }
    serve_add_all(1);
    serve_on_policy_ready(NULL, NULL);
}

/* ---- stopping ---- */

static int serve_busy(void)
{
    int n = 0;
    for (int i = 0; i < srv.npols; i++)
        n += policy_busy(srv.pols[i]);
    return n;
}

static void serve_on_drain_tick(uv_timer_t *t)
{
    int busy = serve_busy();
    if (busy == 0) {
        log_msg(LOG_INFO, "serve: drained; exiting");
        uv_timer_stop(t);
        loop_request_exit(0);
        return;
    }
    if (uv_hrtime() >= srv.drain_deadline) {
        log_msg(LOG_WARN, "serve: %d task%s still running after the drain timeout of %.1f s; stopping them", busy,
                busy == 1 ? "" : "s", srv.drain_seconds);
        uv_timer_stop(t);
        loop_request_exit(0);
    }
}

static void serve_drain(int signum)
{
    if (srv.draining) {
        log_msg(LOG_WARN, "serve: %s again: stopping now", signum == SIGINT ? "SIGINT" : "SIGTERM");
        loop_request_exit(0);
        return;
    }
    srv.draining = 1;
    srv.healthy = 0;
    sd_notify_send("STOPPING=1");
    log_msg(LOG_INFO, "serve: %s: draining running handlers (at most %.1f s)",
            signum == SIGINT ? "SIGINT" : "SIGTERM", srv.drain_seconds);
    for (int i = 0; i < srv.npols; i++)
        policy_drain(srv.pols[i]);
    srv.drain_deadline = uv_hrtime() + (uint64_t)(srv.drain_seconds * 1e9);
    uv_timer_start(srv.drain_timer, serve_on_drain_tick, SERVE_DRAIN_POLL_MS, SERVE_DRAIN_POLL_MS);
}

static void serve_on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (signum == SIGHUP) {
        if (!srv.draining)
            serve_reload();
        return;
    }
    serve_drain(signum);
}

/* ---- start ---- */

/* Called by the host once the shared stream is open (or no engine answers). */
static int serve_l_start(lua_State *L)
{
    (void)L;
    srv.unready++;
    serve_add_all(0);
    serve_on_policy_ready(NULL, NULL);
    return 0;
}

static const char serve_host_code[] = "return require('moonpod.serve').host(...)";

static int serve_start_host(void)
{
    lua_State *L = srv.host;
    if (luaL_loadbuffer(L, serve_host_code, sizeof serve_host_code - 1, "=serve") != LUA_OK) {
        log_msg(LOG_ERROR, "serve: %s", lua_tostring(L, -1));
        return -1;
    }
    lua_pushcfunction(L, serve_l_start);
    serve_lua_push(L, &srv.lim);
    if (srv.listen) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, srv.listen_host);
        lua_setfield(L, -2, "host");
        lua_pushinteger(L, srv.listen_port);
        lua_setfield(L, -2, "port");
        lua_pushboolean(L, srv.listen_given);
        lua_setfield(L, -2, "required");
    } else {
        lua_pushnil(L);
    }
    task_spawn(L, 3, "serve", 0);
    return 0;
}

static int serve_number(const char *opt, const char *val, double min, double max, double *out)
{
    char *end;
    double v = val ? strtod(val, &end) : 0;
    if (!val || *end || v < min || v > max) {
        fprintf(stderr, "moonpod serve: %s needs a number between %g and %g\n", opt, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* HOST:PORT, [IPv6]:PORT, or off/none. HOST is an IP address: the
 * address is bound as it is: resolving a name would wait on the resolver. */
static int serve_parse_listen(const char *val)
{
    if (!val) {
        fprintf(stderr, "moonpod serve: --listen needs HOST:PORT or off\n");
        return -1;
    }
    if (strcmp(val, "off") == 0 || strcmp(val, "none") == 0) {
        srv.listen = 0;
        return 0;
    }
    const char *host = val, *colon = strrchr(val, ':');
    size_t hlen = colon ? (size_t)(colon - val) : 0;
    if (val[0] == '[') {
        const char *close = strchr(val, ']');
        if (!close || close[1] != ':')
            colon = NULL;
        host = val + 1;
        hlen = close ? (size_t)(close - host) : 0;
    } else if (colon && memchr(val, ':', hlen)) {
        colon = NULL; /* an IPv6 address needs its brackets */
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_storage addr;
    if (!colon || hlen == 0 || hlen >= sizeof srv.listen_host || colon[1] == '\0' || *end || port < 0 ||
        port > 65535) {
        fprintf(stderr, "moonpod serve: --listen needs HOST:PORT ([::1]:PORT for IPv6, port 0..65535) or off: '%s'\n",
                val);
        return -1;
    }
    memcpy(srv.listen_host, host, hlen);
    srv.listen_host[hlen] = '\0';
    if (uv_ip4_addr(srv.listen_host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(srv.listen_host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "moonpod serve: --listen: '%s' is not an IP address\n", srv.listen_host);
        return -1;
    }
    srv.listen = 1;
    srv.listen_port = (int)port;
    return 0;
}

static int serve_parse(int argc, char **argv)
{
    double mb = 64, slice = 1, drain = 10;
    int i;
    if (serve_parse_listen(SERVE_DEFAULT_LISTEN) != 0)
        return 2;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *o = argv[i];
        int rc = 0;
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            serve_usage(stdout);
            return 1;
        } else if (strcmp(o, "--memory-limit") == 0) {
            rc = serve_number(o, i + 1 < argc ? argv[++i] : NULL, 1, 1 << 20, &mb);
        } else if (strcmp(o, "--time-limit") == 0) {
            rc = serve_number(o, i + 1 < argc ? argv[++i] : NULL, 0.001, 3600, &slice);
        } else if (strcmp(o, "--drain-timeout") == 0) {
            rc = serve_number(o, i + 1 < argc ? argv[++i] : NULL, 0, 3600, &drain);
        } else if (strcmp(o, "--listen") == 0) {
            rc = serve_parse_listen(i + 1 < argc ? argv[++i] : NULL);
            srv.listen_given = 1;
        } else {
            fprintf(stderr, "moonpod serve: unknown option '%s'\n", o);
            serve_usage(stderr);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (i >= argc) {
        serve_usage(stderr);
        return 2;
    }
    for (int j = i; j < argc; j++) {
        struct stat st;
        if (stat(argv[j], &st) != 0) {
            fprintf(stderr, "moonpod serve: cannot open %s\n", argv[j]);
            return 2;
        }
    }
    srv.lim.memory_bytes = (size_t)(mb * 1024 * 1024);
    srv.lim.slice_seconds = slice;
    srv.drain_seconds = drain;
    srv.args = argv + i;
    srv.nargs = argc - i;
    return 0;
}

static void serve_signals(void)
{
    static const int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        srv.sigs[i] = malloc(sizeof *srv.sigs[i]);
        if (!srv.sigs[i])
            abort();
        uv_signal_init(loop_get(), srv.sigs[i]);
        uv_signal_start(srv.sigs[i], serve_on_signal, nums[i]);
    }
    srv.drain_timer = malloc(sizeof *srv.drain_timer);
    if (!srv.drain_timer)
        abort();
    uv_timer_init(loop_get(), srv.drain_timer);
}

static void serve_log_counters(policy *p, void *ud)
{
    (void)ud;
    const policy_counters *c = policy_get_counters(p);
    log_msg(LOG_INFO,
            "policy '%s': %s; starts=%llu errors=%llu timeouts=%llu memory_faults=%llu reloads=%llu "
            "reload_failures=%llu events_dropped=%llu",
            policy_name(p), policy_status_name(policy_get_status(p)), (unsigned long long)c->starts,
            (unsigned long long)c->errors, (unsigned long long)c->timeouts, (unsigned long long)c->memory_faults,
            (unsigned long long)c->reloads, (unsigned long long)c->reload_failures,
            (unsigned long long)c->events_dropped);
}

/* Pushes moonpod.serve[name] of the host state (raises: for protected calls). */
static void serve_push_host_fn(lua_State *L, const char *name)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonpod.serve");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
}

/* Protected, in the host: what the shared stream saw, for the last log. */
static int serve_stream_stats_p(lua_State *L)
{
    serve_push_host_fn(L, "stats");
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return 0;
    const char *keys[] = {"received", "decode_errors", "reconnects"};
    lua_Integer v[3];
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, -1 - i, keys[i]);
        v[i] = lua_tointeger(L, -1);
    }
    log_msg(LOG_INFO, "serve: shared event stream: received=%lld decode_errors=%lld reconnects=%lld", (long long)v[0],
            (long long)v[1], (long long)v[2]);
    return 0;
}

/* Protected, in the host: closes the /metrics listener. */
static int serve_close_host_p(lua_State *L)
{
    serve_push_host_fn(L, "close");
    lua_call(L, 0, 0);
    return 0;
}

static void serve_teardown(void)
{
    if (srv.host) {
        lua_pushcfunction(srv.host, serve_stream_stats_p);
        if (lua_pcall(srv.host, 0, 0, 0) != LUA_OK)
            lua_pop(srv.host, 1);
        lua_pushcfunction(srv.host, serve_close_host_p);
        if (lua_pcall(srv.host, 0, 0, 0) != LUA_OK)
            lua_pop(srv.host, 1);
    }
    policy_foreach(serve_log_counters, NULL);
    for (int i = 0; i < srv.npols; i++)
        policy_free(srv.pols[i]);
    srv.npols = 0;
    for (int i = 0; i < 3; i++)
        if (srv.sigs[i])
            loop_close_free((uv_handle_t *)srv.sigs[i]);
    if (srv.drain_timer)
        loop_close_free((uv_handle_t *)srv.drain_timer);
    sd_notify_close();
}

int serve_main(int argc, char **argv)
{
    int rc = serve_parse(argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    srv.host = moonpod_new_state();
    if (!srv.host)
        return 1;
    srv.starting = 1;
    sd_notify_init();
    serve_signals();
    if (serve_start_host() != 0) {
        serve_teardown();
        moonpod_close_state(srv.host);
        return 1;
    }
    int code = moonpod_run();
    serve_teardown();
    moonpod_close_state(srv.host);
    return code < 0 ? 0 : code;
}
