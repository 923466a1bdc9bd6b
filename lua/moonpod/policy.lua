--- moonpod.policy: runs one policy file of `moonpod serve` inside the
-- policy's own Lua state (src/policy.c made the state and its limits).
--
-- A policy file is ordinary moonpod Lua. It may return a table, which the
-- service wires up:
--
--   return {
--     name = "autoheal",                       -- for the log (default: the file's name)
--     events = { "die", "health_status" },     -- event_types of its listener (default: all)
--     filters = { ["label.autoheal"] = "true" }, -- container_filters of its listener
--     setup = function(client) end,            -- once, before anything else
--     on_event = function(event, client) end,  -- each container event, in order
--     every = { [30] = function(client) end }, -- every 30 s
--     stop = function(client) end,             -- when the service stops (SIGTERM)
--   }
--
-- or run code at its top level that registers its own handlers
-- (events.listener, moonpod.every, moonpod.spawn) and returns nothing.
-- Either way the engine's event stream is read once for all policies.

local core = require "moonpod.core"
local pcore = require "moonpod.policy_core"

local M = {}

local listeners, timers = {}, {}
local spec, client

-- A policy must not end the whole service.
local function no_exit()
  error("moonpod.exit: a policy can't end the service; return from its handlers instead", 2)
end

local function report(err, what)
  pcore.error(("%s handler failed: %s"):format(what or "event", tostring(err)))
end

-- Listeners and timers made by the policy are remembered, so that a drain
-- stops them; a listener's handler errors are logged with the policy's
-- name and counted.
local function track(name)
  core.exit = no_exit
  os.exit = no_exit
  -- what the policy logs says which policy it is
  local prefix = ("policy '%s': "):format(name)
  for _, level in ipairs { "debug", "info", "warn", "error" } do
    local log = core.log[level]
    core.log[level] = function(fmt, ...)
      if select("#", ...) == 0 then return log(prefix .. tostring(fmt)) end
      return log(prefix .. string.format(fmt, ...))
    end
  end
  local every = core.every
  core.every = function(seconds, fn)
    local t = every(seconds, fn)
    timers[#timers + 1] = t
    return t
  end
  local events = require "moonpod.events"
  local listener = events.listener
  events.listener = function(...)
    local l = listener(...)
    l:on_error(report)
    listeners[#listeners + 1] = l
    return l
  end
end

local function guarded(fn, what)
  return function(...)
    local ok, err = xpcall(fn, debug.traceback, ...)
    if not ok then report(err, what) end
  end
end

local KNOWN = { name = true, events = true, filters = true, setup = true, on_event = true, every = true, stop = true }

local function wire(t)
  for k in pairs(t) do
    if not KNOWN[k] then error(("policy: unknown field '%s' in the returned table"):format(tostring(k)), 0) end
  end
  spec = t
  client = core.connect()
  if t.setup then t.setup(client) end
  if t.on_event then
    local events = require "moonpod.events"
    local l = events.listener { client = client, event_types = t.events, container_filters = t.filters }
    local on_event = t.on_event
    l:add_event_handler(function(ev) on_event(ev, client) end)
    l:start()
  end
  for seconds, fn in pairs(t.every or {}) do
    assert(type(seconds) == "number" and seconds > 0, "policy: every's keys are periods in seconds")
    core.every(seconds, guarded(function() fn(client) end, "every"))
  end
end

--- policy.run(chunk, name): runs the policy file's chunk and wires what it returns.
function M.run(chunk, name)
  track(name)
  local t = chunk(name)
  if type(t) == "table" then
    wire(t)
  elseif t ~= nil then
    error("policy: the file must return a table or nothing, not a " .. type(t), 0)
  end
  pcore.ready()
end

--- policy.drain(): takes no new work: listeners stop reading, timers stop;
--- handlers that are running go on to their end.
function M.drain()
  for _, l in ipairs(listeners) do
    -- only the stream: the listener's task finishes the event it handles
    if l.source then l.source:stop() end
  end
  for _, t in ipairs(timers) do t:stop() end
  if spec and spec.stop then
    local ok, err = xpcall(spec.stop, debug.traceback, client)
    if not ok then report(err, "stop") end
  end
end

return M
