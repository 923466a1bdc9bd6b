/* http_server — a small HTTP/1.1 server on the loop (see http_server.h).
 *
 * A connection owns two libuv handles (its socket and its idle timer) and
 * is freed when both have closed. Lua refers to a connection by a number,
 * never by pointer, so an answer to a client that left is simply dropped. */
#include "http_server.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "loop.h"
#include "task.h"

#define HS_MT "moonpod.http_server"
#define HS_MAX_QUEUE 256

typedef struct hs_server hs_server;

typedef struct hs_conn {
    struct hs_conn *next;
    hs_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles_open;
    int closing, pending, keep_alive, head_only;
    uint64_t id;               /* of the request it waits an answer for */
    char *in;
    size_t len;
} hs_conn;

typedef struct hs_req {
    struct hs_req *next;
    uint64_t id;
    char method[16];
    char target[];
} hs_req;

struct hs_server {
    task_wait wait;
    int waiting, closed;
    uv_tcp_t *listener;
    hs_conn *conns;
    int nconns, max_conns;
    size_t max_request;
    uint64_t idle_ms;
    uint64_t next_id;
    hs_req *head, *tail;
    int queued;
    uint64_t requests, answered, bad_requests, refused_connections, too_large, overloaded, timeouts;
};

/* ---- connections ---- */

static void hs_conn_closed(uv_handle_t *h)
{
    hs_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    free(c->in);
    free(c);
}

static void hs_conn_close(hs_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    hs_server *s = c->srv;
    hs_conn **pp = &s->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        s->nconns--;
    }
    uv_close((uv_handle_t *)&c->tcp, hs_conn_closed);
    uv_close((uv_handle_t *)&c->timer, hs_conn_closed);
}

typedef struct hs_write {
    uv_write_t w;
    hs_conn *c;
    int close_after;
    size_t len;
    char data[];
} hs_write;

static void hs_parse(hs_conn *c);

static void hs_on_written(uv_write_t *w, int status)
{
    hs_write *hw = (hs_write *)w;
    hs_conn *c = hw->c;
    int close_after = hw->close_after || status < 0;
    free(hw);
    if (c->closing)
        return;
    if (close_after) {
        hs_conn_close(c);
        return;
    }
    hs_parse(c); /* a request the client sent meanwhile */
}

static const char *hs_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void hs_send(hs_conn *c, int status, const char *ctype, const char *body, size_t blen, int close_after)
{
    char head[512];
    int keep = c->keep_alive && !close_after;
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n", status,
                      hs_reason(status), ctype ? ctype : "text/plain; charset=utf-8", blen,
                      keep ? "keep-alive" : "close");
    if (c->head_only)
        blen = 0;
    hs_write *hw = malloc(sizeof *hw + (size_t)hn + blen);
    if (!hw) {
        hs_conn_close(c);
        return;
    }
    hw->c = c;
    hw->close_after = !keep;
    hw->len = (size_t)hn + blen;
    memcpy(hw->data, head, (size_t)hn);
    if (blen)
        memcpy(hw->data + hn, body, blen);
    uv_buf_t b = uv_buf_init(hw->data, (unsigned)hw->len);
    if (uv_write(&hw->w, (uv_stream_t *)&c->tcp, &b, 1, hs_on_written) != 0) {
        free(hw);
        hs_conn_close(c);
    }
}

static void hs_refuse(hs_conn *c, int status, const char *why)
{
    c->keep_alive = 0;
    uv_read_stop((uv_stream_t *)&c->tcp);
    hs_send(c, status, NULL, why, strlen(why), 1);
}

/* ---- requests ---- */

static void hs_queue(hs_server *s, hs_conn *c, const char *method, const char *target, size_t tlen)
{
    hs_req *r = malloc(sizeof *r + tlen + 1);
    if (!r) {
        hs_refuse(c, 503, "out of memory\n");
        return;
    }
    r->next = NULL;
    r->id = c->id = ++s->next_id;
    snprintf(r->method, sizeof r->method, "%s", method);
    memcpy(r->target, target, tlen);
    r->target[tlen] = '\0';
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
    c->pending = 1;
    s->requests++;
    if (s->waiting)
        task_wake(&s->wait);
}

/* Does the head (NUL-terminated, "\r\n" separated) have header `name`
 * containing `word` (case-insensitive)? With word NULL: has it at all. */
static int hs_header_has(const char *head, const char *name, const char *word)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
            continue;
        if (!word)
            return 1;
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        size_t wl = strlen(word);
        for (size_t i = nl + 1; i + wl <= ll; i++)
            if (strncasecmp(line + i, word, wl) == 0)
                return 1;
    }
    return 0;
}

/* Takes one complete request head from the buffer, if there is one. */
static void hs_parse(hs_conn *c)
{
    hs_server *s = c->srv;
    if (c->pending || c->closing)
        return;
    char *end = NULL;
    for (size_t i = 0; i + 3 < c->len; i++)
        if (memcmp(c->in + i, "\r\n\r\n", 4) == 0) {
            end = c->in + i;
            break;
        }
    if (!end) {
        if (c->len >= s->max_request) {
            s->too_large++;
            hs_refuse(c, 431, "request head too large\n");
        }
        return;
    }
    size_t hlen = (size_t)(end - c->in) + 4;
    end[2] = '\0'; /* keeps the last header's "\r\n" for hs_header_has */
    char method[16], target[2048], version[16];
    int n = 0;
    if (sscanf(c->in, "%15[A-Z] %2047[^ \r\n] HTTP/%15[0-9.]%n", method, target, version, &n) != 3 ||
        target[0] != '/') {
        s->bad_requests++;
        hs_refuse(c, 400, "bad request line\n");
        return;
    }
    int http10 = strcmp(version, "1.0") == 0;
    c->keep_alive = http10 ? hs_header_has(c->in, "Connection", "keep-alive")
                           : !hs_header_has(c->in, "Connection", "close");
    if (hs_header_has(c->in, "Transfer-Encoding", NULL) ||
        (hs_header_has(c->in, "Content-Length", NULL) && !hs_header_has(c->in, "Content-Length", " 0"))) {
        s->bad_requests++;
        hs_refuse(c, 413, "request bodies are not accepted\n");
        return;
    }
    c->head_only = strcmp(method, "HEAD") == 0;
    /* what follows the head is the next request (pipelining) */
    memmove(c->in, c->in + hlen, c->len - hlen);
    c->len -= hlen;
    if (s->queued >= HS_MAX_QUEUE) {
        s->overloaded++;
        hs_refuse(c, 503, "too many requests waiting\n");
        return;
    }
    uv_timer_again(&c->timer);
    hs_queue(s, c, method, target, strlen(target));
}

static void hs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    hs_conn *c = h->data;
    (void)suggested;
    size_t room = c->srv->max_request - c->len;
    *b = uv_buf_init(c->in + c->len, (unsigned)room);
}

static void hs_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    hs_conn *c = st->data;
    (void)b;
    if (n < 0) {
        hs_conn_close(c);
        return;
    }
    c->len += (size_t)n;
    hs_parse(c);
}

static void hs_on_idle(uv_timer_t *t)
{
    hs_conn *c = t->data;
    if (c->pending)
        return;
    c->srv->timeouts++;
    hs_conn_close(c);
}

static void hs_on_connection(uv_stream_t *l, int status)
{
    hs_server *s = l->data;
    if (status < 0)
        return;
    hs_conn *c = calloc(1, sizeof *c);
    char *in = malloc(s->max_request);
    if (!c || !in) {
        free(c);
        free(in);
        return;
    }
    c->in = in;
    c->srv = s;
    uv_tcp_init(loop_get(), &c->tcp);
    uv_timer_init(loop_get(), &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        hs_conn_close(c);
        return;
    }
    if (s->nconns > s->max_conns) {
        s->refused_connections++;
        hs_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, hs_on_idle, s->idle_ms, s->idle_ms);
    uv_read_start((uv_stream_t *)&c->tcp, hs_alloc, hs_on_read);
}

/* ---- lifetime ---- */

static void hs_close(hs_server *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    if (s->listener) {
        loop_close_free((uv_handle_t *)s->listener);
        s->listener = NULL;
    }
    while (s->conns)
        hs_conn_close(s->conns);
    hs_req *r;
    while ((r = s->head)) {
        s->head = r->next;
        free(r);
    }
    s->tail = NULL;
    s->queued = 0;
    if (s->waiting)
        task_wake(&s->wait);
}

/* ---- Lua ---- */

static hs_server *hs_check(lua_State *L)
{
    return luaL_checkudata(L, 1, HS_MT);
}

static int hs_next(lua_State *L, hs_server *s);

static int hs_next_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    hs_server *s = hs_check(L);
    s->waiting = 0;
    return hs_next(L, s);
}

static void hs_wait_cancel(task_wait *w)
{
    ((hs_server *)w)->waiting = 0;
}

static int hs_next(lua_State *L, hs_server *s)
{
    hs_req *r = s->head;
    if (r) {
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)r->id);
        lua_setfield(L, -2, "id");
        lua_pushstring(L, r->method);
        lua_setfield(L, -2, "method");
        char *q = strchr(r->target, '?');
        lua_pushlstring(L, r->target, q ? (size_t)(q - r->target) : strlen(r->target));
        lua_setfield(L, -2, "path");
        lua_pushstring(L, q ? q + 1 : "");
        lua_setfield(L, -2, "query");
        free(r);
        return 1;
    }
    if (s->closed) {
        lua_pushnil(L);
        return 1;
    }
    if (s->waiting)
        return luaL_error(L, "another task is already reading this server");
    task_check_wait(L, "http server");
    s->waiting = 1;
    s->wait.cancel = hs_wait_cancel;
    return task_yield(L, &s->wait, hs_next_k, 0);
}

static int hs_l_next(lua_State *L)
{
    lua_settop(L, 1);
    return hs_next(L, hs_check(L));
}

static int hs_l_respond(lua_State *L)
{
    hs_server *s = hs_check(L);
    lua_Integer id = luaL_checkinteger(L, 2);
    int status = (int)luaL_checkinteger(L, 3);
    luaL_argcheck(L, status >= 100 && status <= 599, 3, "an HTTP status");
    const char *ctype = luaL_optstring(L, 4, NULL);
    size_t blen = 0;
    const char *body = luaL_optlstring(L, 5, "", &blen);
    luaL_argcheck(L, !ctype || !strpbrk(ctype, "\r\n"), 4, "no line breaks in a header");
    for (hs_conn *c = s->conns; c; c = c->next) {
        if (c->pending && c->id == (uint64_t)id) {
            c->pending = 0;
            s->answered++;
            hs_send(c, status, ctype, body, blen, 0);
            lua_pushboolean(L, 1);
            return 1;
        }
    }
    lua_pushboolean(L, 0);
    return 1;
}

static int hs_l_port(lua_State *L)
{
    hs_server *s = hs_check(L);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!s->listener || uv_tcp_getsockname(s->listener, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    lua_pushinteger(L, port);
    return 1;
}

static void hs_set(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static int hs_l_stats(lua_State *L)
{
    hs_server *s = hs_check(L);
    lua_createtable(L, 0, 9);
    hs_set(L, "requests", s->requests);
    hs_set(L, "answered", s->answered);
    hs_set(L, "bad_requests", s->bad_requests);
    hs_set(L, "too_large", s->too_large);
    hs_set(L, "overloaded", s->overloaded);
    hs_set(L, "refused_connections", s->refused_connections);
    hs_set(L, "timeouts", s->timeouts);
    hs_set(L, "connections", (uint64_t)s->nconns);
    hs_set(L, "queued", (uint64_t)s->queued);
    return 1;
}

static int hs_l_close(lua_State *L)
{
    hs_close(hs_check(L));
    return 0;
}

static lua_Number hs_num(lua_State *L, const char *k, lua_Number dflt)
{
    lua_getfield(L, 1, k);
    lua_Number v = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    return v;
}

static int hs_l_new(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "host");
    const char *host = luaL_optstring(L, -1, "127.0.0.1");
    lua_Number port = hs_num(L, "port", 0);
    lua_Number max_request = hs_num(L, "max_request", 8192);
    lua_Number max_conns = hs_num(L, "max_connections", 64);
    lua_Number idle = hs_num(L, "idle_timeout", 30);
    luaL_argcheck(L, port >= 0 && port <= 65535, 1, "port must be 0..65535");
    luaL_argcheck(L, max_request >= 256 && max_request <= 1 << 20, 1, "max_request must be 256..1048576");
    luaL_argcheck(L, max_conns >= 1 && max_conns <= 10000, 1, "max_connections must be 1..10000");
    luaL_argcheck(L, idle > 0 && idle <= 3600, 1, "idle_timeout must be 0..3600 seconds");
    struct sockaddr_storage addr;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0)
        return luaL_error(L, "http server: '%s' is not an IP address", host);
    hs_server *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->closed = 1;
    luaL_setmetatable(L, HS_MT);
    s->listener = malloc(sizeof *s->listener);
    if (!s->listener)
        return luaL_error(L, "out of memory");
    uv_tcp_init(loop_get(), s->listener);
    s->listener->data = s;
    s->closed = 0;
    s->max_request = (size_t)max_request;
    s->max_conns = (int)max_conns;
    s->idle_ms = (uint64_t)(idle * 1000);
    int rc = uv_tcp_bind(s->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)s->listener, 128, hs_on_connection);
    if (rc != 0) {
        hs_close(s);
        return luaL_error(L, "http server: cannot listen on %s:%d: %s", host, (int)port, uv_strerror(rc));
    }
    return 1;
}

static int hs_l_gc(lua_State *L)
{
    hs_close(hs_check(L));
    return 0;
}

void http_server_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", hs_l_next}, {"respond", hs_l_respond}, {"port", hs_l_port},
        {"stats", hs_l_stats}, {"close", hs_l_close}, {NULL, NULL},
    };
    luaL_newmetatable(L, HS_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, hs_l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, hs_l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, hs_l_new);
    lua_setfield(L, -2, "http_server");
}
