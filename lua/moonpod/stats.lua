--- moonpod.stats: resource monitoring of many containers, with history.
--
-- local stats = require "moonpod.stats"
-- local mon = stats.monitor{ client = client, interval = 1.0, history = { retention = 3600 } }
-- mon:watch_all()                                   -- and the ones that start later
-- mon:on_sample(function(s) if s.cpu_percent > 90 then ... end end)
-- mon:summary("web-1", "cpu_percent", 60)          -- { min, max, avg, last, count }
-- mon:serve_metrics{ port = 9464 }                 -- /metrics for Prometheus
--
-- Streams are read, samples computed and history kept in C
-- (src/stats_monitor.c, src/stats_history.c); a sample becomes a Lua table
-- only when a handler asked for samples, or when latest/history asks.

local core = require "moonpod.core"

local M = {}

local KNOWN = { client = true, interval = true, history = true, queue_size = true }

local Monitor = {}
Monitor.__index = Monitor
Monitor.__close = function(self) self:close() end

--- stats.monitor{ client =, interval = 1.0, history = { retention = 3600, path = nil,
---   flush_interval = 5, max_pending = 100000 }, queue_size = 1000 } -> monitor.
--- client defaults to moonpod.connect(); queue_size bounds the samples
--- waiting for on_sample handlers. With history.path, samples also go to
--- that SQLite database (WAL mode, written every flush_interval seconds on
--- the thread pool, rows older than retention deleted) and the history it
--- holds is read back first. A database that can't be used (corrupt,
--- locked, not writable) is reported in mon.store_error and in the log; the
--- monitor then keeps its history in memory only.
function M.monitor(config)
  config = config or {}
  assert(type(config) == "table", "stats.monitor: config must be a table")
  for k in pairs(config) do
    if not KNOWN[k] then error("stats.monitor: unknown config field '" .. tostring(k) .. "'", 2) end
  end
  local history = config.history or {}
  assert(type(history) == "table", "stats.monitor: history must be a table")
  local interval = config.interval or 1.0
  assert(type(interval) == "number" and interval > 0, "stats.monitor: interval must be a positive number")
  local client = config.client or core.connect()
  local self = setmetatable({
    client = client, interval = interval, retention = history.retention or 3600,
    core = core.stats_monitor(client, { interval = interval, retention = history.retention or 3600,
                                        queue_size = config.queue_size }),
    handlers = {}, explicit = {}, handler_errors = 0, started_at = core.monotonic(),
  }, Monitor)
  if history.path then
    local store, err = core.history_store(history.path, {
      retention = self.retention, flush_interval = history.flush_interval, max_pending = history.max_pending,
    })
    if store then
      local n, lerr = store:load(self.core)
      self.restored = n or 0
      if n then
        store:attach(self.core)
        self.store = store
      else
        err = lerr -- a store it can't read is not one to write to either
        store:close()
      end
    end
    if err then
      self.store_error = err
      core.log.warn("stats monitor: %s; history is kept in memory only", err)
    end
  end
  return self
end

-- When the container last started (container_start_time_seconds): an
-- inspect's State.StartedAt (RFC 3339, both engines; read in C), or
-- Podman's list entry's StartedAt (epoch seconds). Docker's list says
-- nothing of it: those containers are inspected. `started` (an event's
-- time) wins over both.
local function info_of(self, c, started)
  local raw = c.raw
  if not started and type(raw) == "table" then
    started = type(raw.State) == "table" and raw.State.StartedAt or raw.StartedAt
    if started == nil and self.client.runtime == "docker" then
      local ok, full = pcall(self.client.get_container, self.client, c.id)
      local st = ok and type(full.raw) == "table" and full.raw.State
      started = type(st) == "table" and st.StartedAt or nil
    end
  end
  if type(started) ~= "number" and type(started) ~= "string" then started = nil end
  return { name = c.name, image = c.image, started_at = started }
end

local function follow_event(self, ev)
  local id, c = ev.container_id, self.core
  if not id or self.closed then return end
  if ev.action == "die" then
    c:idle(id)
  elseif ev.action == "remove" then
    if self.explicit[id] then c:idle(id) else c:forget(id) end
  elseif ev.action == "start" then
    if c:ids()[id] ~= nil then -- known: it started again, now
      c:watch(id, { started_at = ev.timestamp })
    elseif self.follow then
      if next(self.follow) == nil then
        c:watch(id, { name = ev.container_name, image = ev.image, started_at = ev.timestamp })
        return
      end
      -- the engine applies the filters, as for the first list
      local filters = { id = { id } }
      for k, v in pairs(self.follow) do filters[k] = v end
      local ok, list = pcall(self.client.list_containers, self.client, { filters = filters })
      if ok and list[1] then c:watch(list[1].id, info_of(self, list[1], ev.timestamp)) end
    end
  end
end

-- One listener follows starts and stops of what is watched.
local function ensure_listener(self)
  if self.listener then return end
  local events = require "moonpod.events"
  self.listener = events.listener { client = self.client, event_types = { "start", "die", "remove" } }
  self.listener:add_event_handler(function(ev) follow_event(self, ev) end)
  self.listener:start()
end

--- mon:watch(id_or_name): samples this container (from its next start, if
--- it is not running). Raises the engine's error when it doesn't exist.
function Monitor:watch(id)
  assert(not self.closed, "the stats monitor is closed")
  local c = self.client:get_container(id)
  ensure_listener(self)
  self.explicit[c.id] = true
  self.core:watch(c.id, info_of(self, c))
  if c.status ~= "running" then self.core:idle(c.id) end
  return c.id
end

--- mon:unwatch(id_or_name): stops sampling it and drops its history.
function Monitor:unwatch(id)
  for full in pairs(self.core:ids()) do
    if full == id or full:sub(1, #id) == id then self.explicit[full] = nil end
  end
  return self.core:forget(id)
end

--- mon:watch_all{ filters = { label = {"app=web"}, name = {"web-"} } }: samples
--- every running container the filters match (engine list filters), and
--- those that start later; forgets them when they are removed.
function Monitor:watch_all(opts)
  assert(not self.closed, "the stats monitor is closed")
  self.follow = (opts and opts.filters) or {}
  ensure_listener(self)
  local n = 0
  for _, c in ipairs(self.client:list_containers { filters = opts and opts.filters }) do
    if c.status == "running" then
      self.core:watch(c.id, info_of(self, c))
      n = n + 1
    end
  end
  return n
end

local function read_samples(self)
  while true do
    local s = self.core:next()
    if not s then return end
    for _, fn in ipairs(self.handlers) do
      local ok, err = xpcall(fn, debug.traceback, s)
      if not ok then
        self.handler_errors = self.handler_errors + 1
        core.log.error("stats on_sample handler failed: %s", tostring(err))
      end
    end
  end
end

--- mon:on_sample(fn): fn(ContainerStats) for every sample of every watched
--- container, in order, one at a time.
function Monitor:on_sample(fn)
  assert(type(fn) == "function", "on_sample needs a function")
  self.handlers[#self.handlers + 1] = fn
  if not self.reader then
    self.core:deliver(true)
    self.reader = core.spawn(read_samples, self)
  end
end

--- mon:ids() -> { [full id] = true (sampled now) | false (stopped, history kept) }
function Monitor:ids()
  return self.core:ids()
end

--- mon:latest(id_or_name) -> ContainerStats | nil (no sample yet)
function Monitor:latest(id)
  return self.core:latest(id)
end

--- mon:history(id_or_name, { since =, ["until"] =, step = }) -> { ContainerStats }
--- oldest first. Each point also has `samples` (how many it stands for);
--- with step (seconds), points are step-long means, with cpu_percent_max
--- and memory_usage_bytes_max. Timestamps are the start of each point's slot.
function Monitor:history(id, opts)
  opts = opts or {}
  return self.core:history(id, opts.since, opts["until"], opts.step)
end

--- mon:summary(id_or_name, metric, window = 60) -> { min, max, avg, last, count }
--- over the last `window` seconds; nil for a container it doesn't know.
--- metric is a numeric ContainerStats field ("cpu_percent", "memory_usage_bytes", ...).
function Monitor:summary(id, metric, window)
  local now = core.now()
  return self.core:summary(id, metric, now - (window or 60), now)
end

--- mon:stats() -> { containers, sampling, streams, samples_received, samples_kept,
---   samples_delivered, samples_dropped, decode_errors, stream_errors, reconnects,
---   history_bytes, handler_errors, ... }: what the monitor did and holds.
function Monitor:stats()
  local s = self.core:stats()
  s.handler_errors = self.handler_errors
  if self.store then
    for k, v in pairs(self.store:stats()) do s["store_" .. k] = v end
  end
  s.store_error = self.store_error
  return s
end

local function counter(name, help, value)
  return { name = name, type = "counter", help = help, samples = { { value = value } } }
end

local function gauge(name, help, value)
  return { name = name, type = "gauge", help = help, samples = { { value = value } } }
end

--- mon:metrics_text() -> the Prometheus text exposition of the watched
--- containers (cAdvisor's names) and of moonpod itself.
function Monitor:metrics_text()
  local s = self:stats()
  local l = self.listener and self.listener:get_stats() or {}
  local own = {
    counter("moonpod_events_received_total", "Engine events received by the monitor's listener.", l.events_received or 0),
    counter("moonpod_events_dropped_total", "Engine events dropped because the buffer was full.", l.events_dropped or 0),
    counter("moonpod_event_reconnects_total", "Reconnections of the event stream.", l.reconnects or 0),
    counter("moonpod_stats_reconnects_total", "Stats streams reopened after they ended.", s.reconnects),
    counter("moonpod_handler_errors_total", "Errors raised by event and sample handlers.",
      s.handler_errors + (l.handler_errors or 0)),
    counter("moonpod_stats_samples_total", "Stats samples received from the engine.", s.samples_received),
    counter("moonpod_stats_samples_dropped_total", "Samples dropped because handlers fell behind.", s.samples_dropped),
    gauge("moonpod_stats_containers", "Containers with history in the monitor.", s.containers),
    gauge("moonpod_stats_history_bytes", "Memory held by the monitor's history.", s.history_bytes),
    gauge("moonpod_lua_memory_bytes", "Memory used by Lua.", math.floor(collectgarbage("count") * 1024)),
    counter("moonpod_history_store_written_total", "Samples written to the history store.", s.store_written or 0),
    counter("moonpod_history_store_dropped_total", "Samples the history store could not write.", s.store_dropped or 0),
  }
  return self.core:prometheus() .. core.metrics_text(own)
end

--- mon:serve_metrics{ host = "127.0.0.1", port = 0 } -> server: /metrics and
--- /healthz over HTTP from the loop; server.port is the bound port.
function Monitor:serve_metrics(opts)
  opts = opts or {}
  local server = require("moonpod.metrics_server").start {
    host = opts.host, port = opts.port,
    collect = function() return self:metrics_text() end,
    health = function() return not self.closed, self.closed and "closed" or "ok" end,
  }
  self.servers = self.servers or {}
  self.servers[#self.servers + 1] = server
  return server
end

--- mon:close(): stops every stream, the listener, the metrics servers and
--- the store (after writing what it holds).
function Monitor:close()
  if self.closed then return end
  self.closed = true
  if self.listener then self.listener:stop() end
  if self.reader and self.reader ~= core.current_task() then self.reader:cancel() end
  for _, s in ipairs(self.servers or {}) do s:close() end
  if self.store then
    -- what is pending reaches the database before close returns, when
    -- close may wait (it can't from a finalizer)
    if coroutine.isyieldable() then pcall(self.store.flush, self.store) end
    self.store:close()
  end
  self.core:close()
end

return M
