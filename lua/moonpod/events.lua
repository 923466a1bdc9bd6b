--- moonpod.events: a listener for an engine's events (the specification's
-- ContainerEventListener).
--
-- local events = require "moonpod.events"
-- local listener = events.listener({ event_types = { events.CONTAINER_DIE } }, registry)
-- listener:add_event_handler(function(ev) print(ev.action, ev.container_name) end)
-- listener:start()
--
-- The event stream is read, decoded and filtered in C (src/event_source.c)
-- as fast as the engine sends it; this module hands the events to the
-- script's handlers and keeps the registry current.

local core = require "moonpod.core"

local M = {}

--- events.CONTAINER_* — the action of every container event, in the words
--- both engines are normalised to (Podman's "died" is CONTAINER_DIE,
--- Docker's "destroy" is CONTAINER_REMOVE, "health_status: healthy" is
--- CONTAINER_HEALTH_STATUS with the state in event.health).
local ACTIONS = {
  "attach", "checkpoint", "cleanup", "commit", "copy", "create", "detach", "die", "exec", "exec_create",
  "exec_detach", "exec_die", "exec_start", "export", "health_status", "init", "kill", "mount", "oom",
  "pause", "prune", "refresh", "remove", "rename", "resize", "restart", "restore", "start", "stop",
  "sync", "top", "unmount", "unpause", "update",
}
for _, a in ipairs(ACTIONS) do
  M["CONTAINER_" .. a:upper()] = a
end

local DEFAULTS = {
  auto_reconnect = true, reconnect_delay = 5.0, max_reconnect_attempts = 10,
  event_buffer_size = 1000, event_batch_size = 10, event_batch_timeout = 1.0,
  discover_existing_containers = true, sync_on_startup = true,
}

local KNOWN = {
  client = true, event_types = true, container_filters = true, events_file = true,
}
for k in pairs(DEFAULTS) do KNOWN[k] = true end

local Listener = {}
Listener.__index = Listener
Listener.__close = function(self) self:stop() end

-- What the C source is asked to let through, from the seed's config shape:
-- event_types = { "start", ... }; container_filters = { name = "web-",
-- ["label.app"] = "production", id = "3f6e" }.
local function source_config(cfg, deliver_all)
  local sc = {
    types = { "container" }, actions = cfg.event_types, labels = {}, deliver_all = deliver_all,
    buffer_size = cfg.event_buffer_size, auto_reconnect = cfg.auto_reconnect,
    reconnect_delay = cfg.reconnect_delay, max_reconnect_attempts = cfg.max_reconnect_attempts,
    events_file = cfg.events_file,
  }
  for k, v in pairs(cfg.container_filters or {}) do
    local label = type(k) == "string" and k:match("^label%.(.+)$")
    if label then
      sc.labels[label] = v
    elseif k == "name" then
      sc.name_prefix = v
    elseif k == "id" then
      sc.ids = v
    else
      error("container_filters: unknown filter '" .. tostring(k) .. "' (name, id, label.KEY)", 3)
    end
  end
  return sc
end

--- events.listener(config?, registry?) -> listener. Every config field is
--- optional (see the README for each); nothing happens until :start().
function M.listener(config, registry)
  config = config or {}
  assert(type(config) == "table", "events.listener: config must be a table")
  for k in pairs(config) do
    if not KNOWN[k] then error("events.listener: unknown config field '" .. tostring(k) .. "'", 2) end
  end
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = v end
  for k, v in pairs(config) do cfg[k] = v end
  assert(cfg.event_batch_size >= 1, "event_batch_size must be >= 1")
  assert(cfg.event_batch_timeout > 0, "event_batch_timeout must be > 0")
  return setmetatable({
    config = cfg, registry = registry,
    handlers = {}, async_handlers = {}, batch_handlers = {}, error_handlers = {},
    batch = {}, counts = { processed = 0, handler_errors = 0, gaps = 0, health_repeats = 0 }, health = {},
  }, Listener)
end

--- listener:add_event_handler(fn): fn(event) for each event, in order, one
--- at a time (the next waits until fn returns; fn may wait on engines).
function Listener:add_event_handler(fn)
  assert(type(fn) == "function", "add_event_handler needs a function")
  self.handlers[#self.handlers + 1] = fn
end

--- listener:add_async_event_handler(fn): fn(event) in a task of its own for each event.
function Listener:add_async_event_handler(fn)
  assert(type(fn) == "function", "add_async_event_handler needs a function")
  self.async_handlers[#self.async_handlers + 1] = fn
end

--- listener:add_batch_handler(fn): fn({ events }) per event_batch_size
--- events, or after event_batch_timeout seconds with fewer.
function Listener:add_batch_handler(fn)
  assert(type(fn) == "function", "add_batch_handler needs a function")
  self.batch_handlers[#self.batch_handlers + 1] = fn
end

--- listener:on_error(fn): fn(err, what) when a handler fails (what = the
--- handler's kind) or the listener gives up reconnecting (what = "connection").
function Listener:on_error(fn)
  assert(type(fn) == "function", "on_error needs a function")
  self.error_handlers[#self.error_handlers + 1] = fn
end

local function report(self, err, what)
  if #self.error_handlers == 0 then
    core.log.error("event %s handler failed: %s", what, tostring(err))
    return
  end
  for _, fn in ipairs(self.error_handlers) do
    local ok, e2 = pcall(fn, err, what)
    if not ok then core.log.error("on_error handler failed: %s", tostring(e2)) end
  end
end

local function call(self, fn, arg, what)
  local ok, err = xpcall(fn, debug.traceback, arg)
  if not ok then
    self.counts.handler_errors = self.counts.handler_errors + 1
    report(self, err, what)
  end
end

local function flush_batch(self)
  if #self.batch == 0 then return end
  local batch = self.batch
  self.batch = {}
  if self.batch_timer then
    local t = self.batch_timer
    self.batch_timer = nil
    if t ~= core.current_task() then t:cancel() end
  end
  for _, fn in ipairs(self.batch_handlers) do call(self, fn, batch, "batch") end
end

local traceback = debug.traceback

-- The part of an event's delivery after the sync handlers: kept out of the
-- per-event path when unused.
local function dispatch_rest(self, ev)
  local async = self.async_handlers
  for i = 1, #async do core.spawn(call, self, async[i], ev, "async") end
  if #self.batch_handlers > 0 then
    self.batch[#self.batch + 1] = ev
    if #self.batch >= self.config.event_batch_size then
      flush_batch(self)
    elseif #self.batch == 1 then
      self.batch_timer = core.spawn(function()
        core.sleep(self.config.event_batch_timeout)
        flush_batch(self)
      end)
    end
  end
end

-- After a reconnect the engine replays what it kept; what it could not
-- (Docker's events live in memory: lost when it restarts, and only 256
-- kept) shows as registry entries that no longer match the engine: a gap,
-- counted and repaired. The resync waits for the replay to be applied
-- first, so that what was replayed is not counted as lost.
local REPLAY_SETTLE = 0.5

local function after_reconnect(self, replay)
  if replay == "complete" or not self.registry or self.resyncing then return end
  self.resyncing = core.spawn(function()
    core.sleep(REPLAY_SETTLE)
    self.resyncing = nil
    if self.stopped then return end
    local ok, changes = pcall(self.registry.sync, self.registry, self.client)
    if ok and changes > 0 then
      self.counts.gaps = self.counts.gaps + changes
      core.log.warn("event listener: %d change(s) happened while disconnected that the engine could not replay; registry resynced",
        changes)
    elseif not ok then
      report(self, changes, "resync")
    end
  end)
end

-- Podman 4.3 sends a health event on every check, and the state in it is
-- the one from before that check: the container is asked for its state,
-- and only a change goes on. Returns false for a repeat.
local function podman_health_state(self, id)
  local ok, c = pcall(self.client.get_container, self.client, id)
  return ok and c.raw and c.raw.State and c.raw.State.Health and c.raw.State.Health.Status
end

local function podman_health(self, ev)
  local state = podman_health_state(self, ev.container_id)
  -- a check has run, so "starting" is a state not yet written: ask again
  for _ = 1, 3 do
    if state ~= "starting" then break end
    core.sleep(0.1)
    state = podman_health_state(self, ev.container_id)
  end
  if state and state ~= "" then ev.health = state end
  if self.health[ev.container_id] == ev.health then
    self.counts.health_repeats = self.counts.health_repeats + 1
    return false
  end
  self.health[ev.container_id] = ev.health
  return true
end

-- A run of events taken at once goes through the handlers under one
-- protected call rather than one per handler call. `at` tells where the
-- run is while a handler works (at.k: the event, at.h: the handler, 0
-- outside the handlers), so that after a handler's error the run goes on
-- with the next handler of the same event, as if each call had been
-- protected on its own. An error outside a handler (the registry, say) is
-- not a handler's: it ends the listener's task as it always did.
local function deliver(self, at, events, matched, n, podman, k, h)
  local counts, handlers = self.counts, self.handlers
  local async, batch = self.async_handlers, self.batch_handlers
  local registry = self.registry
  for k = k, n do
    local ev = events[k]
    local go = true
    if h == 0 then
      -- before the handlers: the health check (Podman) and the registry
      local action = ev.action
      if podman and action == "health_status" then
        go = podman_health(self, ev)
      elseif action == "remove" or action == "start" then
        -- a (re)started container's health starts over
        self.health[ev.container_id or ""] = nil
      end
      if registry and go then registry:apply(ev) end
      go = go and matched[k]
      h = 1
    end
    if go then
      at.k = k
      for i = h, #handlers do
        at.h = i
        handlers[i](ev)
      end
      at.h = 0 -- past the handlers: an error from here on is not theirs
      if async[1] or batch[1] then dispatch_rest(self, ev) end
      counts.processed = counts.processed + 1
      self.last_event_at = ev.timestamp
    end
    if self.stopped then return end
    h = 0
  end
end

local NOT_A_HANDLER = {}

local function run(self)
  local source = self.source
  local take = source.take
  local podman = self.client.runtime == "podman"
  local events, matched = {}, {}
  local at = { k = 1, h = 0, n = 0 }
  self.taken = at
  -- the message handler: a handler's error gets its traceback; any other
  -- is marked to be raised again
  local function on_error(e)
    if at.h > 0 then return traceback(e) end
    return { [NOT_A_HANDLER] = true, e }
  end
  while true do
    local n, a = take(source, events, matched)
    if n == nil then return end
    if n == "reconnected" then
      after_reconnect(self, a)
    elseif n == "failed" then
      self.error = a
      report(self, a, "connection")
      return
    else
      at.k, at.h, at.n = 1, 0, n
      local ok, err = xpcall(deliver, on_error, self, at, events, matched, n, podman, 1, 0)
      while not ok do
        if type(err) == "table" and err[NOT_A_HANDLER] then error(err[1], 0) end
        self.counts.handler_errors = self.counts.handler_errors + 1
        report(self, err, "sync")
        local k, h = at.k, at.h + 1
        at.h = 0
        ok, err = xpcall(deliver, on_error, self, at, events, matched, n, podman, k, h)
      end
      at.n = 0
      if self.stopped then return end
    end
  end
end

--- listener:start(): connects (config.client, else moonpod.connect()),
--- fills the registry when asked, then delivers events until :stop().
--- Events that come while the registry is filled are kept, not lost.
function Listener:start()
  if self.source then return self end
  local cfg = self.config
  local filters = source_config(cfg, self.registry ~= nil) -- a bad filter fails before connecting
  self.client = cfg.client or core.connect()
  self.started_at = core.monotonic()
  self.source = core.event_source(self.client, filters)
  if self.registry and (cfg.discover_existing_containers or cfg.sync_on_startup) then
    self.registry:sync(self.client)
  end
  self.task = core.spawn(run, self)
  return self
end

--- listener:stop(): closes the stream at once, delivers a pending batch.
function Listener:stop()
  if not self.source then return end
  self.source:stop()
  if self.task and self.task ~= core.current_task() then self.task:cancel() end
  if self.resyncing then self.resyncing:cancel() end
  flush_batch(self)
  self.stopped = true
end

--- listener:get_stats() -> { events_received, events_processed, events_dropped,
---   handler_errors, reconnects, uptime_seconds, event_buffer_size,
---   last_event_at, events_filtered, gaps, decode_errors, pauses, connected,
---   events_file, events_first_from_file }
--- pauses: how often a full buffer held the stream.
--- events_file: Podman's events log when the listener follows it too (for
--- Podman on this machine: events arrive as written, not when Podman's API
--- next polls the file), and events_first_from_file how many came that way.
--- `events_file` in the config names the file, or is false to not follow it.
--- event_buffer_size is how many events wait in the buffer now.
function Listener:get_stats()
  local s = self.source and self.source:stats() or {}
  return {
    events_received = s.received or 0,
    events_processed = self.counts.processed,
    events_dropped = s.dropped or 0,
    events_filtered = (s.filtered or 0) + (s.health_repeats or 0) + self.counts.health_repeats,
    handler_errors = self.counts.handler_errors,
    reconnects = s.reconnects or 0,
    pauses = s.pauses or 0,
    gaps = self.counts.gaps,
    decode_errors = s.decode_errors or 0,
    uptime_seconds = self.started_at and core.monotonic() - self.started_at or 0,
    -- what was taken off the buffer and waits for the handlers counts too
    event_buffer_size = (s.buffered or 0) + (self.taken and math.max(self.taken.n - self.taken.k, 0) or 0),
    last_event_at = self.last_event_at,
    connected = s.connected or false,
    events_file = s.events_file,
    events_first_from_file = s.file_first or 0,
  }
end

return M
