--- moonpod.metrics_server: /metrics (Prometheus text format) and /healthz
-- over HTTP, served from the loop (src/http_server.c).
--
-- local server = require("moonpod.metrics_server").start{
--   host = "127.0.0.1", port = 9464,
--   collect = function() return text end,          -- the /metrics body
--   health = function() return true, "ok" end,     -- optional
-- }
-- server.port, server:close()
--
-- The stats monitor serves its containers this way (mon:serve_metrics);
-- `moonpod serve` can pass its own collect.

local core = require "moonpod.core"

local M = {}

--- The content type of the text exposition format.
M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

local Server = {}
Server.__index = Server
Server.__close = function(self) self:close() end

local function answer(self, req)
  local srv = self.srv
  if req.method ~= "GET" and req.method ~= "HEAD" then
    return srv:respond(req.id, 405, nil, "only GET and HEAD\n")
  end
  local route = self.routes[req.path]
  if not route then
    return srv:respond(req.id, 404, nil, "not found: try /metrics or /healthz\n")
  end
  local ok, status, ctype, body = xpcall(route, debug.traceback, req)
  if not ok then
    self.errors = self.errors + 1
    core.log.error("metrics server: %s failed: %s", req.path, tostring(status))
    return srv:respond(req.id, 500, nil, "internal error\n")
  end
  srv:respond(req.id, status, ctype, body)
end

local function serve(self)
  while true do
    local req = self.srv:next()
    if not req then return end
    core.spawn(answer, self, req) -- a collector may wait on an engine
  end
end

--- metrics_server.start{ host =, port =, collect = fn() -> text, health = fn() -> ok, text,
---   max_connections =, idle_timeout = } -> server (server.port is the bound port)
function M.start(opts)
  assert(type(opts) == "table" and type(opts.collect) == "function", "metrics_server.start needs collect = function")
  local srv = core.http_server {
    host = opts.host or "127.0.0.1", port = opts.port or 0,
    max_connections = opts.max_connections, idle_timeout = opts.idle_timeout,
  }
  local self = setmetatable({ srv = srv, port = srv:port(), errors = 0, routes = {} }, Server)
  self.routes["/metrics"] = function() return 200, M.CONTENT_TYPE, opts.collect() end
  self.routes["/healthz"] = function()
    local ok, text = true, "ok"
    if opts.health then ok, text = opts.health() end
    return ok and 200 or 503, nil, (text or (ok and "ok" or "unhealthy")) .. "\n"
  end
  self.task = core.spawn(serve, self)
  return self
end

--- server:stats() -> { requests, answered, bad_requests, too_large, overloaded,
---   refused_connections, timeouts, connections, queued, errors }
function Server:stats()
  local s = self.srv:stats()
  s.errors = self.errors
  return s
end

--- server:close(): stops listening and drops open connections.
function Server:close()
  if self.closed then return end
  self.closed = true
  self.srv:close()
end

return M
