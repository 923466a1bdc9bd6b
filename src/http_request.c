/* http_request — moonpod.http.request{ method, url, headers, body, timeout,
 * max_body } -> { status, headers, body }; the response's headers by
 * lower-case name (bounded in number and size).
 *
 * The transfer's result is only valid inside http.h's on_done callback, so
 * the callback copies what the script will see into the operation, which
 * lives in a userdata on the calling frame (collected with it whatever
 * happens to the task). Failures to get any response raise error objects
 * (kind connection, timeout or protocol); an HTTP status, even 500, is a
 * response and is returned. */
#include "http_request.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "error.h"
#include "http.h"
#include "task.h"

#define HREQ_MT "moonpod.http_request"
#define HREQ_DEFAULT_TIMEOUT_MS 30000L
#define HREQ_DEFAULT_MAX_BODY ((size_t)1 << 20)
#define HREQ_MAX_HEADERS 64       /* sent, and kept of the response */
#define HREQ_MAX_HEADER_BYTES 16384 /* of the response's headers kept */

typedef struct hreq {
    task_wait wait;
    http_req *req;
    struct curl_slist *headers; /* request headers we set */
    CURLcode code;
    long status;
    int too_large;
    size_t max_body;
    char *error;                /* curl's message, malloc'd */
    char *body;
    size_t body_len;
    int oom;                    /* the body could not be copied */
    char *rheaders;             /* the response's: "name\0value\0" n times */
    size_t rheaders_len;
    int nrheaders;
} hreq;

static char *hreq_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

static void hreq_release(hreq *h)
{
    if (h->req)
        http_cancel(h->req);
    h->req = NULL;
    curl_slist_free_all(h->headers);
    h->headers = NULL;
    free(h->error);
    free(h->body);
    free(h->rheaders);
    h->error = h->body = h->rheaders = NULL;
}

/* Keeps a response header, up to the bounds (the rest are left out). */
static int hreq_keep_header(const char *name, const char *value, void *ud)
{
    hreq *h = ud;
    size_t nn = strlen(name) + 1, vn = strlen(value) + 1;
    if (h->nrheaders >= HREQ_MAX_HEADERS || h->rheaders_len + nn + vn > HREQ_MAX_HEADER_BYTES)
        return 1;
    if (!h->rheaders && !(h->rheaders = malloc(HREQ_MAX_HEADER_BYTES)))
        return 1;
    char *p = h->rheaders + h->rheaders_len;
    for (size_t i = 0; i < nn; i++) /* names are case-insensitive: one spelling */
        p[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
    memcpy(p + nn, value, vn);
    h->rheaders_len += nn + vn;
    h->nrheaders++;
    return 0;
}

static void hreq_done(const http_result *res, void *ud)
{
    hreq *h = ud;
    h->req = NULL;
    h->code = res->code;
    h->status = res->status;
    h->too_large = res->too_large;
    h->error = hreq_strdup(res->error);
    if (res->status > 0)
        http_header_each(res, hreq_keep_header, h);
    if (res->body && !res->too_large) {
        h->body = malloc(res->body_len + 1);
        if (h->body) {
            memcpy(h->body, res->body, res->body_len);
            h->body[res->body_len] = '\0';
            h->body_len = res->body_len;
        } else {
            h->oom = 1;
        }
    }
    task_wake(&h->wait);
}

static void hreq_cancel(task_wait *w)
{
    hreq *h = (hreq *)w;
    if (h->req)
        http_cancel(h->req);
    h->req = NULL;
}

static int hreq_gc(lua_State *L)
{
    hreq_release(luaL_checkudata(L, 1, HREQ_MT));
    return 0;
}

static int hreq_raise(lua_State *L, const char *kind, const char *msg, const char *url)
{
    lua_pushfstring(L, "%s: %s", url, msg);
    error_push(L, kind, 0, lua_tostring(L, -1));
    return lua_error(L);
}

/* Continuation: the request's table is at 1, the operation at 2. */
static int hreq_k(lua_State *L, int status, lua_KContext ctx)
{
    hreq *h = (hreq *)ctx;
    (void)status;
    lua_getfield(L, 1, "url");
    const char *url = lua_tostring(L, -1);
    if (h->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "the response body is larger than max_body (%zu bytes)", h->max_body);
        return hreq_raise(L, "protocol", msg, url);
    }
    if (h->oom)
        return hreq_raise(L, "protocol", "out of memory for the response body", url);
    if (h->code == CURLE_OPERATION_TIMEDOUT)
        return hreq_raise(L, "timeout", h->error && *h->error ? h->error : "timed out", url);
    if (h->code != CURLE_OK) {
        const char *kind = (h->code == CURLE_COULDNT_CONNECT || h->code == CURLE_COULDNT_RESOLVE_HOST ||
                            h->code == CURLE_SEND_ERROR || h->code == CURLE_RECV_ERROR ||
                            h->code == CURLE_GOT_NOTHING || h->code == CURLE_SSL_CONNECT_ERROR)
                               ? "connection" : "protocol";
        const char *msg = h->error && *h->error ? h->error : curl_easy_strerror(h->code);
        return hreq_raise(L, kind, msg, url);
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, h->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, h->body ? h->body : "", h->body ? h->body_len : 0);
    lua_setfield(L, -2, "body");
    lua_createtable(L, 0, h->nrheaders);
    const char *p = h->rheaders;
    for (int i = 0; i < h->nrheaders; i++) {
        const char *value = p + strlen(p) + 1;
        /* a repeated header: its values joined, as HTTP allows */
        if (lua_getfield(L, -1, p) == LUA_TSTRING)
            lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);
        else
            lua_pushstring(L, value);
        lua_remove(L, -2);
        lua_setfield(L, -2, p);
        p = value + strlen(value) + 1;
    }
    lua_setfield(L, -2, "headers");
    hreq_release(h);
    return 1;
}

static long hreq_opt_ms(lua_State *L, const char *field, long dflt)
{
    lua_getfield(L, 1, field);
    long ms = dflt;
    if (!lua_isnil(L, -1)) {
        int ok;
        lua_Number s = lua_tonumberx(L, -1, &ok);
        if (!ok || !(s > 0) || s > 86400)
            luaL_error(L, "moonpod.http.request: %s must be a number of seconds in (0, 86400]", field);
        ms = (long)(s * 1000.0);
        if (ms < 1)
            ms = 1;
    }
    lua_pop(L, 1);
    return ms;
}

/* Request headers from the `headers` table; returns the Content-Type one
 * (curl's slist keeps it too, http.c sets its own default otherwise). */
static const char *hreq_headers(lua_State *L, hreq *h)
{
    const char *ctype = NULL;
    lua_getfield(L, 1, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_argexpected(L, lua_istable(L, -1), 1, "headers as a table of name = value");
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "moonpod.http.request: headers must map strings to strings");
        const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
        if (++n > HREQ_MAX_HEADERS)
            luaL_error(L, "moonpod.http.request: more than %d headers", HREQ_MAX_HEADERS);
        if (strpbrk(name, ":\r\n") || strpbrk(value, "\r\n") || !*name)
            luaL_error(L, "moonpod.http.request: bad header '%s'", name);
        if (strcasecmp(name, "content-type") == 0) {
            ctype = value; /* anchored by the headers table, itself anchored by arg 1 */
        } else {
            lua_pushfstring(L, "%s: %s", name, value);
            struct curl_slist *l = curl_slist_append(h->headers, lua_tostring(L, -1));
            lua_pop(L, 1);
            if (!l)
                luaL_error(L, "moonpod.http.request: out of memory");
            h->headers = l;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return ctype;
}

static int hreq_l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "url");
    const char *url = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return luaL_error(L, "moonpod.http.request: url must be an http:// or https:// URL");
    lua_pop(L, 1);
    lua_getfield(L, 1, "method");
    const char *method = luaL_optstring(L, -1, NULL);
    lua_pop(L, 1);
    lua_getfield(L, 1, "body");
    size_t body_len = 0;
    const char *body = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "moonpod.http.request: body must be a string");
        body = lua_tolstring(L, -1, &body_len);
    }
    lua_pop(L, 1); /* body stays anchored by the table at 1 */
    if (!method)
        method = body ? "POST" : "GET";
    for (const char *p = method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return luaL_error(L, "moonpod.http.request: bad method '%s'", method);
    if (!*method || strlen(method) > 32)
        return luaL_error(L, "moonpod.http.request: bad method '%s'", method);
    long timeout_ms = hreq_opt_ms(L, "timeout", HREQ_DEFAULT_TIMEOUT_MS);
    lua_getfield(L, 1, "max_body");
    lua_Integer max_body = luaL_optinteger(L, -1, (lua_Integer)HREQ_DEFAULT_MAX_BODY);
    lua_pop(L, 1);
    if (max_body < 1 || (lua_Unsigned)max_body > HTTP_DEFAULT_MAX_BODY)
        return luaL_error(L, "moonpod.http.request: max_body must be in [1, %d]", (int)HTTP_DEFAULT_MAX_BODY);
    task_check_wait(L, "moonpod.http.request");

    hreq *h = lua_newuserdatauv(L, sizeof *h, 0); /* at 2 */
    memset(h, 0, sizeof *h);
    luaL_setmetatable(L, HREQ_MT);
    h->wait.cancel = hreq_cancel;
    h->max_body = (size_t)max_body;
    const char *ctype = hreq_headers(L, h);

    http_opts o;
    memset(&o, 0, sizeof o);
    o.method = method;
    o.url = url;
    o.body = body;
    o.body_len = body_len;
    o.content_type = ctype;
    o.extra_headers = h->headers;
    o.connect_timeout_ms = timeout_ms;
    o.timeout_ms = timeout_ms;
    o.max_body = h->max_body;
    o.on_done = hreq_done;
    o.ud = h;
    char err[256];
    h->req = http_start(&o, err, sizeof err);
    if (!h->req)
        return hreq_raise(L, "protocol", err, url);
    return task_yield(L, &h->wait, hreq_k, (lua_KContext)h);
}

void http_request_register(lua_State *L)
{
    if (luaL_newmetatable(L, HREQ_MT)) {
        lua_pushcfunction(L, hreq_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, hreq_l_request);
    lua_setfield(L, -2, "request");
    lua_setfield(L, -2, "http");
}
