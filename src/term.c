/* term — the terminal on the loop (see term.h).
 *
 * One uv_poll watches stdin (libuv allows one per fd); what a readable
 * stdin means depends on who waits: a task in term.read_key gets the raw
 * bytes, a prompt being edited gets libedit's rl_callback_read_char, a
 * plain (non-terminal) REPL gets the next line. Nothing reads stdin while
 * a REPL chunk runs: what is typed meanwhile waits in the terminal.
 *
 * The handles and the Lua callbacks live in one process-wide struct: there
 * is one terminal. A sentinel userdata's __gc puts the terminal back the way
 * it was found when the state closes. */
#include "term.h"

#include <editline/readline.h>
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "task.h"

#define TERM_SENTINEL_MT "moonpod.term_sentinel"
/* A plain input line longer than this is an error, not a memory blow-up. */
#define TERM_MAX_LINE (1u << 20)
#define TERM_MAX_MATCHES 1000

typedef enum { KEY_PENDING, KEY_BYTES, KEY_RESIZE, KEY_TIMEOUT, KEY_EOF } key_result;

typedef struct term_keys {
    task_wait wait;
    uv_timer_t *timer;
    key_result result;
    size_t len;
    char bytes[64];
} term_keys;

static struct {
    lua_State *L;           /* main thread */
    int started;            /* term.start was called */
    int tty;                /* libedit (1) or plain lines (0) */
    int editing;            /* a prompt is shown, a line is being edited */
    int waiting_line;       /* plain mode: term.prompt asked for a line */
    int on_line_ref, on_interrupt_ref, complete_ref;
    uv_poll_t *poll;
    int poll_failed;        /* stdin can't be polled (a regular file) */
    uv_async_t *sigint;     /* Ctrl-C, from the signal handler to the loop */
    int sigint_installed;
    struct sigaction old_sigint;
    uv_signal_t *sigwinch;
    char *history;
    char *prompt;           /* the prompt shown, for clearing the edit area */
    int resized;            /* a SIGWINCH nobody has been told of yet */
    /* plain input */
    char *in;
    size_t in_len, in_cap;
    int in_eof;
    /* raw keys */
    int raw;
    struct termios saved;
    term_keys *keys;
} term = {.on_line_ref = LUA_NOREF, .on_interrupt_ref = LUA_NOREF, .complete_ref = LUA_NOREF};

static void term_on_readable(uv_poll_t *p, int status, int events);

/* Set by the SIGINT handler; taken by whichever sees it first: the loop
 * (term_on_sigint), or the hook of a chunk busy in Lua that never gives
 * the loop a turn (term_hook). */
static volatile sig_atomic_t term_sigint_pending;

/* ---- stdin polling ---- */

static int term_poll_start(void)
{
    if (term.poll_failed)
        return -1;
    if (!term.poll) {
        term.poll = malloc(sizeof *term.poll);
        if (!term.poll || uv_poll_init(loop_get(), term.poll, STDIN_FILENO) != 0) {
            free(term.poll);
            term.poll = NULL;
            term.poll_failed = 1;
            return -1;
        }
    }
    uv_poll_start(term.poll, UV_READABLE, term_on_readable);
    return 0;
}

static void term_poll_stop(void)
{
    if (term.poll)
        uv_poll_stop(term.poll);
}

static int term_need_poll(void)
{
    return term.keys || term.editing || term.waiting_line;
}

/* ---- output above the prompt ---- */

static int term_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Puts the cursor at the start of the prompt's first row and clears from
 * there down: the line being edited may have wrapped. */
static void term_clear_edit_area(void)
{
    size_t plen = term.prompt ? strlen(term.prompt) : 0;
    int cols = term_columns();
    size_t row = (plen + (size_t)(rl_point > 0 ? rl_point : 0)) / (size_t)cols;
    fputc('\r', stdout);
    if (row > 0)
        fprintf(stdout, "\033[%zuA", row);
    fputs("\033[J", stdout);
}

/* Writes text to `plain` (stdout or stderr); while a line is edited, to
 * stdout above it, then redraws the prompt and the line. The terminal is
 * in libedit's raw mode then, so every newline gets its carriage return. */
static void term_write(const char *s, size_t n, FILE *plain)
{
    if (!term.editing) {
        fwrite(s, 1, n, plain);
        fflush(plain);
        return;
    }
    term_clear_edit_area();
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            fputc('\r', stdout);
        fputc(s[i], stdout);
    }
    if (n > 0 && s[n - 1] != '\n')
        fputs("\r\n", stdout);
    fflush(stdout);
    rl_forced_update_display();
}

static void term_log_sink(const char *text, size_t len, void *ud)
{
    (void)ud;
    term_write(text, len, stderr);
}

/* ---- handing lines and interrupts to Lua ---- */

/* Spawns fn(arg) as a task, where fn is the registry ref at 1 and arg the
 * value at 2. Run protected from loop callbacks. */
static int term_spawn_p(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)lua_tointeger(L, 1));
    lua_pushvalue(L, 2);
    task_spawn(L, 1, "repl", 0);
    return 0;
}

/* L: the main thread from loop callbacks, the caller's thread from Lua. */
static void term_spawn(lua_State *L, int ref, const char *line, int flag)
{
    if (ref == LUA_NOREF || !L)
        return;
    lua_pushcfunction(L, term_spawn_p);
    lua_pushinteger(L, ref);
    if (line)
        lua_pushstring(L, line);
    else if (flag >= 0)
        lua_pushboolean(L, flag);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        log_msg(LOG_ERROR, "repl: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* libedit: a whole line, or NULL at end of input (Ctrl-D on an empty line). */
static void term_on_line(char *line)
{
    term.editing = 0;
    if (!term_need_poll())
        term_poll_stop();
    if (!line) /* libedit drew the ^D: the prompt alone stays on that row */
        fprintf(stdout, "\r%s\033[K\n", term.prompt ? term.prompt : "");
    fflush(stdout);
    term_spawn(term.L, term.on_line_ref, line, -1);
    free(line);
}

/* ---- plain (non-terminal) input ---- */

/* Delivers the next whole line, or the end of input. Returns 1 if it did. */
static int term_plain_deliver(lua_State *L)
{
    char *nl = term.in ? memchr(term.in, '\n', term.in_len) : NULL;
    if (!nl && !term.in_eof)
        return 0;
    term.waiting_line = 0;
    if (!term_need_poll())
        term_poll_stop();
    if (!nl && term.in_len == 0) {
        term_spawn(L, term.on_line_ref, NULL, -1);
        return 1;
    }
    size_t len = nl ? (size_t)(nl - term.in) : term.in_len;
    size_t used = nl ? len + 1 : len;
    char *line = malloc(len + 1);
    if (!line)
        abort();
    memcpy(line, term.in, len);
    line[len] = '\0';
    memmove(term.in, term.in + used, term.in_len - used);
    term.in_len -= used;
    term_spawn(L, term.on_line_ref, line, -1);
    free(line);
    return 1;
}

/* Reads what stdin has. Returns -1 when the line limit was passed. */
static int term_plain_read(void)
{
    if (term.in_cap - term.in_len < 4096) {
        if (term.in_cap >= TERM_MAX_LINE)
            return -1;
        size_t cap = term.in_cap ? term.in_cap * 2 : 8192;
        char *in = realloc(term.in, cap);
        if (!in)
            abort();
        term.in = in;
        term.in_cap = cap;
    }
    ssize_t n = read(STDIN_FILENO, term.in + term.in_len, term.in_cap - term.in_len);
    if (n > 0)
        term.in_len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        term.in_eof = 1;
    return 0;
}

static void term_plain_next(lua_State *L)
{
    term.waiting_line = 1;
    while (!term_plain_deliver(L)) {
        if (term_poll_start() == 0)
            return; /* the poll callback reads */
        /* a regular file: reading never waits */
        if (term_plain_read() < 0) {
            log_msg(LOG_ERROR, "repl: an input line is longer than %u bytes", TERM_MAX_LINE);
            term.in_len = 0;
            term.in_eof = 1;
        }
    }
}

/* ---- raw keys ---- */

static void term_keys_finish(key_result r)
{
    term_keys *k = term.keys;
    term.keys = NULL;
    k->result = r;
    if (k->timer) {
        loop_close_free((uv_handle_t *)k->timer);
        k->timer = NULL;
    }
    if (!term_need_poll())
        term_poll_stop();
    task_wake(&k->wait);
}

static void term_keys_read(void)
{
    term_keys *k = term.keys;
    ssize_t n = read(STDIN_FILENO, k->bytes, sizeof k->bytes);
    if (n > 0) {
        k->len = (size_t)n;
        term_keys_finish(KEY_BYTES);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        term_keys_finish(KEY_EOF);
    }
}

static void term_keys_on_timer(uv_timer_t *t)
{
    (void)t;
    if (term.keys)
        term_keys_finish(KEY_TIMEOUT);
}

static void term_keys_cancel(task_wait *w)
{
    term_keys *k = (term_keys *)w;
    if (term.keys == k)
        term.keys = NULL;
    if (k->timer)
        loop_close_free((uv_handle_t *)k->timer);
    if (!term_need_poll())
        term_poll_stop();
    free(k);
}

/* ---- loop callbacks ---- */

static void term_on_readable(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)events;
    if (term.keys) {
        if (status < 0)
            term_keys_finish(KEY_EOF);
        else
            term_keys_read();
    } else if (term.editing) {
        if (status < 0) {
            rl_callback_handler_remove();
            term_on_line(NULL);
        } else {
            rl_callback_read_char();
        }
    } else if (term.waiting_line) {
        if (status < 0 || term_plain_read() < 0) {
            log_msg(LOG_ERROR, "repl: %s", status < 0 ? uv_strerror(status) : "input line too long");
            term.in_len = 0;
            term.in_eof = 1;
        }
        term_plain_deliver(term.L);
    } else {
        term_poll_stop();
    }
}

/* Ctrl-C: drops the line being edited, or tells Lua to cancel what runs. */
static void term_on_sigint(uv_async_t *a)
{
    (void)a;
    if (!term_sigint_pending)
        return; /* a busy chunk's hook took it */
    term_sigint_pending = 0;
    int was_editing = term.editing;
    if (was_editing) {
        rl_callback_handler_remove();
        term.editing = 0;
        if (!term_need_poll())
            term_poll_stop();
        fputs("^C\n", stdout);
        fflush(stdout);
    }
    term_spawn(term.L, term.on_interrupt_ref, NULL, was_editing);
}

static void term_on_sigwinch(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (term.editing)
        rl_resize_terminal();
    if (term.keys)
        term_keys_finish(KEY_RESIZE);
    else
        term.resized = 1;
}

/* Only what is async-signal-safe: a flag and uv_async_send. */
static void term_sigint_handler(int signum)
{
    (void)signum;
    term_sigint_pending = 1;
    if (term.sigint)
        uv_async_send(term.sigint);
}

static void term_catch_sigint(void)
{
    if (term.sigint_installed)
        return;
    term.sigint = malloc(sizeof *term.sigint);
    if (!term.sigint)
        abort();
    uv_async_init(loop_get(), term.sigint, term_on_sigint);
    uv_unref((uv_handle_t *)term.sigint);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = term_sigint_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &term.old_sigint);
    term.sigint_installed = 1;
}

static void term_release_sigint(void)
{
    if (!term.sigint_installed)
        return;
    sigaction(SIGINT, &term.old_sigint, NULL);
    term.sigint_installed = 0;
    loop_close_free((uv_handle_t *)term.sigint);
    term.sigint = NULL;
}

/* A count hook on a REPL chunk's thread: Ctrl-C stops a chunk that runs
 * Lua without ever waiting (`while true do end`), as lua.c does. */
static void term_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (!term_sigint_pending)
        return;
    term_sigint_pending = 0;
    luaL_error(L, "interrupted");
}

static uv_signal_t *term_signal(int signum, uv_signal_cb cb)
{
    uv_signal_t *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    uv_signal_init(loop_get(), s);
    uv_signal_start(s, cb, signum);
    uv_unref((uv_handle_t *)s); /* a signal handler alone keeps nothing alive */
    return s;
}

static void term_watch_resize(void)
{
    if (!term.sigwinch)
        term.sigwinch = term_signal(SIGWINCH, term_on_sigwinch);
}

/* ---- completion ---- */

static char *term_strdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* Calls complete(line, word) and leaves its list at -1. */
static int term_complete_p(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, term.complete_ref);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* libedit asks for the candidates for `text`, the word ending at `end`;
 * returns them readline's way: the common prefix, the candidates, NULL. */
static char **term_complete(const char *text, int start, int end)
{
    (void)start;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    lua_State *L = term.L;
    if (term.complete_ref == LUA_NOREF)
        return NULL;
    int top = lua_gettop(L);
    lua_pushcfunction(L, term_complete_p);
    lua_pushlstring(L, rl_line_buffer, (size_t)(end > 0 ? end : 0));
    lua_pushstring(L, text);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return NULL;
    }
    size_t n = lua_rawlen(L, -1);
    if (n > TERM_MAX_MATCHES)
        n = TERM_MAX_MATCHES;
    char **m = n ? calloc(n + 2, sizeof *m) : NULL;
    size_t got = 0;
    for (size_t i = 1; m && i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (lua_type(L, -1) == LUA_TSTRING)
            m[1 + got++] = term_strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    if (!got) {
        free(m);
        return NULL;
    }
    size_t common = strlen(m[1]);
    for (size_t i = 2; i <= got; i++) {
        size_t j = 0;
        while (j < common && m[i][j] == m[1][j])
            j++;
        common = j;
    }
    m[0] = term_strdup(m[1]);
    m[0][common] = '\0';
    return m;
}

/* ---- teardown ---- */

static void term_restore_raw(void)
{
    if (term.raw) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &term.saved);
        term.raw = 0;
    }
}

static void term_stop(void)
{
    if (term.editing) {
        rl_callback_handler_remove();
        term.editing = 0;
    }
    if (term.started && term.tty && term.history)
        write_history(term.history);
    free(term.history);
    term.history = NULL;
    free(term.prompt);
    term.prompt = NULL;
    term.waiting_line = 0;
    term.started = 0;
    log_set_sink(NULL, NULL);
    term_release_sigint();
    if (term.L) {
        luaL_unref(term.L, LUA_REGISTRYINDEX, term.on_line_ref);
        luaL_unref(term.L, LUA_REGISTRYINDEX, term.on_interrupt_ref);
        luaL_unref(term.L, LUA_REGISTRYINDEX, term.complete_ref);
    }
    term.on_line_ref = term.on_interrupt_ref = term.complete_ref = LUA_NOREF;
    if (!term_need_poll())
        term_poll_stop();
}

/* The state is closing: everything back as it was found. */
static int term_sentinel_gc(lua_State *L)
{
    (void)L;
    term_stop();
    term_restore_raw();
    if (term.poll) {
        loop_close_free((uv_handle_t *)term.poll);
        term.poll = NULL;
    }
    if (term.sigwinch) {
        loop_close_free((uv_handle_t *)term.sigwinch);
        term.sigwinch = NULL;
    }
    free(term.in);
    term.in = NULL;
    term.in_len = term.in_cap = 0;
    term.L = NULL;
    return 0;
}

/* ---- Lua ---- */

static int term_ref_field(lua_State *L, const char *name, int required)
{
    lua_getfield(L, 1, name);
    if (lua_isnil(L, -1) && !required) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    luaL_argexpected(L, lua_isfunction(L, -1), 1, name);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* term.start{ on_line = fn(line|nil), on_interrupt = fn(was_editing),
 *             complete = fn(line_to_cursor, word) -> {candidates},
 *             history = path } -> "tty" | "plain" */
static int term_l_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (term.started)
        return luaL_error(L, "the terminal is already in use by a REPL");
    term.on_line_ref = term_ref_field(L, "on_line", 1);
    term.on_interrupt_ref = term_ref_field(L, "on_interrupt", 0);
    term.complete_ref = term_ref_field(L, "complete", 0);
    lua_getfield(L, 1, "history");
    const char *hist = lua_tostring(L, -1);
    term.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    term.started = 1;
    if (term.tty) {
        rl_catch_signals = 0;   /* signals are the loop's */
        rl_catch_sigwinch = 0;
        rl_readline_name = "moonpod";
        rl_attempted_completion_function = term_complete;
        rl_completion_append_character = '\0';
        rl_initialize();
        using_history();
        stifle_history(1000);
        if (hist) {
            term.history = term_strdup(hist);
            read_history(hist);
        }
        log_set_sink(term_log_sink, NULL);
        term_watch_resize();
    }
    term_catch_sigint();
    lua_pushstring(L, term.tty ? "tty" : "plain");
    return 1;
}

/* term.prompt(text): shows the prompt and reads one line, which arrives
 * through on_line. In plain mode the prompt is not shown. */
static int term_l_prompt(lua_State *L)
{
    const char *p = luaL_optstring(L, 1, "> ");
    if (!term.started)
        return luaL_error(L, "term.prompt: term.start was not called");
    if (term.editing || term.waiting_line)
        return 0;
    if (!term.tty) {
        term_plain_next(L);
        return 0;
    }
    fflush(stdout);
    free(term.prompt);
    term.prompt = term_strdup(p);
    rl_callback_handler_install(p, term_on_line);
    term.editing = 1;
    if (term_poll_start() != 0)
        return luaL_error(L, "term.prompt: cannot watch stdin");
    return 0;
}

/* term.write(text, to_stderr?): output that stays above the line being
 * edited; with no line edited it goes to stdout, or stderr. */
static int term_l_write(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    term_write(s, n, lua_toboolean(L, 2) ? stderr : stdout);
    return 0;
}

/* term.add_history(line) */
static int term_l_add_history(lua_State *L)
{
    const char *line = luaL_checkstring(L, 1);
    if (term.tty && term.started && *line)
        add_history(line);
    return 0;
}

/* term.stop(): saves the history and gives the terminal back. */
static int term_l_stop(lua_State *L)
{
    (void)L;
    term_stop();
    return 0;
}

/* term.guard(): Ctrl-C interrupts the calling thread even while it runs
 * Lua without waiting (a count hook; the REPL calls it in each chunk), and
 * the streams the calling task opens are closed if it is cancelled. */
static int term_l_guard(lua_State *L)
{
    term_sigint_pending = 0;
    lua_sethook(L, term_hook, LUA_MASKCOUNT, 1000);
    task_track_opened(task_current());
    return 0;
}

/* term.close_opened(): closes the streams the calling task opened (after
 * term.guard), for a chunk that Ctrl-C stopped inside Lua: that ends it
 * with an error, not a cancel, so the scheduler doesn't close them. */
static int term_l_close_opened(lua_State *L)
{
    task_close_opened(L, task_current());
    return 0;
}

/* term.isatty(fd = 0) -> boolean */
static int term_l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, STDIN_FILENO)));
    return 1;
}

/* term.size() -> columns, rows of the terminal on stdout (80, 24 when unknown) */
static int term_l_size(lua_State *L)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        lua_pushinteger(L, ws.ws_col);
        lua_pushinteger(L, ws.ws_row);
    } else {
        lua_pushinteger(L, 80);
        lua_pushinteger(L, 24);
    }
    return 2;
}

/* term.raw(on): keys arrive one by one, unechoed, Ctrl-C included (as "\3"). */
static int term_l_raw(lua_State *L)
{
    int on = lua_toboolean(L, 1);
    if (!on) {
        term_restore_raw();
        return 0;
    }
    if (term.raw)
        return 0;
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) != 0)
        return luaL_error(L, "term.raw: stdin is not a terminal");
    term.saved = t;
    static int hooked;
    if (!hooked++)
        atexit(term_restore_raw); /* moonpod.exit outside a task exits at once */
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
    t.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) != 0)
        return luaL_error(L, "term.raw: %s", strerror(errno));
    term.raw = 1;
    return 0;
}

static int term_keys_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    term_keys *k = (term_keys *)ctx;
    switch (k->result) {
    case KEY_BYTES: lua_pushlstring(L, k->bytes, k->len); break;
    case KEY_RESIZE: lua_pushliteral(L, "resize"); break;
    case KEY_EOF: lua_pushliteral(L, "eof"); break;
    default: lua_pushnil(L); break;
    }
    free(k);
    return 1;
}

/* term.read_key(timeout?) -> the bytes of one key press (an escape
 * sequence whole), "resize" when the window changed, "eof", or nil when
 * `timeout` seconds passed. Waits without blocking the loop. */
static int term_l_read_key(lua_State *L)
{
    double timeout = luaL_optnumber(L, 1, -1);
    task_check_wait(L, "term.read_key");
    if (term.keys)
        return luaL_error(L, "term.read_key: another task is reading keys");
    if (term.editing || term.waiting_line)
        return luaL_error(L, "term.read_key: the REPL is reading stdin");
    term_watch_resize();
    if (term.resized) {
        term.resized = 0;
        lua_pushliteral(L, "resize");
        return 1;
    }
    term_keys *k = calloc(1, sizeof *k);
    if (!k)
        return luaL_error(L, "out of memory");
    k->wait.cancel = term_keys_cancel;
    term.keys = k;
    if (term_poll_start() != 0) {
        term.keys = NULL;
        free(k);
        return luaL_error(L, "term.read_key: cannot watch stdin");
    }
    if (timeout >= 0) {
        k->timer = malloc(sizeof *k->timer);
        if (!k->timer)
            abort();
        uv_timer_init(loop_get(), k->timer);
        uv_update_time(loop_get());
        uv_timer_start(k->timer, term_keys_on_timer, (uint64_t)(timeout * 1000), 0);
    }
    return task_yield(L, &k->wait, term_keys_k, (lua_KContext)k);
}

int term_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"start", term_l_start},
        {"prompt", term_l_prompt},
        {"write", term_l_write},
        {"add_history", term_l_add_history},
        {"stop", term_l_stop},
        {"guard", term_l_guard},
        {"close_opened", term_l_close_opened},
        {"isatty", term_l_isatty},
        {"size", term_l_size},
        {"raw", term_l_raw},
        {"read_key", term_l_read_key},
        {NULL, NULL},
    };
    term.L = task_main_thread(L);
    luaL_newlib(L, fns);
    /* the sentinel: collected when the state closes */
    lua_newuserdatauv(L, 1, 0);
    if (luaL_newmetatable(L, TERM_SENTINEL_MT)) {
        lua_pushcfunction(L, term_sentinel_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "_sentinel");
    return 1;
}
