/* http_server — a small HTTP/1.1 server on the loop, for /metrics and
 * /healthz (the stats monitor, `moonpod serve`).
 *
 * Loopback by default. Requests are bounded (size of the head, number of
 * connections, requests waiting for an answer, an idle timeout per
 * connection); request bodies are refused; keep-alive is honoured, one
 * request at a time per connection. Requests are read in C and queued;
 * Lua takes them with server:next() and answers with server:respond(), so
 * no Lua runs inside a libuv callback. What was refused is counted. */
#ifndef MOONPOD_HTTP_SERVER_H
#define MOONPOD_HTTP_SERVER_H

#include <lua.h>

/* Creates the metatable; adds http_server to the module table on top:
 *   http_server{ host = "127.0.0.1", port = 0, max_request = 8192,
 *                max_connections = 64, idle_timeout = 30 } -> server
 *   server:port() -> the bound port
 *   server:next() -> { id, method, path, query } | nil once closed
 *   server:respond(id, status, content_type, body) -> sent (false: the client left)
 *   server:stats() -> counters; server:close() */
void http_server_register(lua_State *L);

#endif
