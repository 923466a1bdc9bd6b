--- moonpod.multi: one object over several engines (the seed's MultiRuntimeManager).
--
--   local m = moonpod.multi {
--     podman = { socket_path = "/run/podman/podman.sock" },
--     docker = { socket_path = "/var/run/docker.sock" },
--   }
--   local all, failed = m:list_containers { all = true }   -- c.runtime is "podman" or "docker"
--   m:stop_container("web")                                 -- goes to the engine that has "web"
--   m:on("docker"):get_version()                            -- one engine's own client
--
-- Each key of `configs` names an engine; the value is its moonpod.connect
-- config. Creating the object connects all engines at once (each in its own
-- task) and returns when every one has connected or failed: an engine that
-- is down does not make it fail. A down engine is tried again, once, by the
-- next call that needs it (concurrent callers share one attempt), so it
-- comes back by itself. Bad configs raise, as moonpod.connect does.
--
-- Errors: an engine's failure is one of moonpod's error objects. Calls over
-- all engines (list_containers, ping, engines) report it per engine and go
-- on; calls on one engine or one container raise it. Anything that is not
-- an error object (a bad argument, a bad config) is raised, prefixed with
-- the engine's name when it came from one.
--
-- The module is loaded by `moonpod.multi`; it needs a task (like every call
-- that waits), which every script, handler and REPL line runs in.

local core = require "moonpod.core"

local connect, spawn, is_error = core.connect, core.spawn, core.is_error
local pack, unpack, sort, concat = table.pack, table.unpack, table.sort, table.concat
local pairs, ipairs, type, error, pcall, setmetatable, rawget, tostring =
  pairs, ipairs, type, error, pcall, setmetatable, rawget, tostring

local M = {}

--- Client methods whose first argument is a container id or name. Through a
--- multi object they go to the engine that has the container. A method
--- added to the client only needs its name added here.
M.CONTAINER_METHODS = {
  "get_container", "start_container", "stop_container", "restart_container",
  "remove_container", "kill_container", "pause_container", "unpause_container",
  "wait_container", "get_container_logs", "get_container_stats",
}

--- Client methods not tied to a container. Through a multi object they take
--- the engine's name first: `m:get_version("docker")`, the same as
--- `m:on("docker"):get_version()`.
M.ENGINE_METHODS = {
  "get_version", "get_system_info", "get_events", "list_pods", "create_container",
}

-- At most this many ids are remembered with their engine; past it the
-- memory starts again (ids of removed containers must not pile up).
local OWNERS_MAX = 4096

-- Error objects made here are the runtime's own, so that moonpod.is_error
-- and tostring treat them like any other.
local new_error = core.error

-- Raises again an error that came from an engine call. A plain string (a
-- bad argument) loses the position inside this file, which is not where the
-- mistake is.
local function reraise(err)
  if type(err) == "string" then err = err:gsub("^moonpod/multi%.lua:%d+: ", "") end
  error(err, 0)
end

-- Private state of each multi object, out of the script's sight.
local private = setmetatable({}, { __mode = "k" })

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

-- ---- running one function per engine, concurrently ----

-- Runs fn(name) for every name, each in its own task, and waits for all.
-- Returns name -> table.pack(pcall(fn, name)). If the calling task is
-- cancelled meanwhile, the per-engine tasks are cancelled with it.
local function each_engine(names, fn)
  local tasks = {}
  local guard <close> = setmetatable({}, {
    __close = function()
      for _, t in pairs(tasks) do t:cancel() end
    end,
  })
  for _, name in ipairs(names) do
    tasks[name] = spawn(function() return pack(pcall(fn, name)) end)
  end
  local results = {}
  for _, name in ipairs(names) do results[name] = tasks[name]:join() end
  return results
end

-- ---- connecting ----

-- One connection attempt for engine e, run as its own task so that
-- concurrent callers wait on the same attempt. Returns ok, client|error.
local function attempt_connect(st, e)
  local ok, res = pcall(connect, e.config)
  e.attempt = nil
  if ok then
    if st.closed then
      res:close()
      return false, "the multi client is closed"
    end
    e.client, e.error = res, nil
    st.clients[e.name] = res
  else
    if not is_error(res) then res = e.name .. ": " .. (tostring(res):gsub("^moonpod/multi%.lua:%d+: ", "")) end
    e.error = res
  end
  return ok, res
end

-- The engine's client, connecting it first if it is not connected (one
-- attempt, shared with whoever else is waiting); raises on failure.
local function ensure(st, name)
  if st.closed then error("the multi client is closed", 0) end
  local e = st.engines[name]
  if e.client then return e.client end
  if not e.attempt then e.attempt = spawn(attempt_connect, st, e) end
  local ok, res = e.attempt:join()
  if not ok then reraise(res) end
  return res
end

-- Checks an engine that has connected (ping), or tries to connect one
-- that has not; raises what went wrong.
local function probe(st, name)
  local had = st.engines[name].client
  local client = ensure(st, name)
  if had then client:ping() end
  return true
end

-- ---- which engine has a container ----

local function remember(st, id, name)
  if type(id) ~= "string" or id == "" then return end
  if st.owners[id] == nil then
    st.owner_count = st.owner_count + 1
    if st.owner_count > OWNERS_MAX then
      st.owners, st.owner_count = {}, 1
    end
  end
  st.owners[id] = name
end

local function forget(st, id)
  if id ~= nil and st.owners[id] ~= nil then
    st.owners[id] = nil
    st.owner_count = st.owner_count - 1
  end
end

-- Sets `runtime` to the engine's name on every model among the results.
local function renamed(name, r)
  for i = 1, r.n do
    local v = r[i]
    if type(v) == "table" and rawget(v, "runtime") ~= nil then v.runtime = name end
  end
  return unpack(r, 1, r.n)
end

-- Asks every engine for the container at once. Returns the one engine that
-- has it and its model; raises a "conflict" error when several have it, the
-- error of an engine that could not answer when none of the others has it
-- (it may be there), and a "not_found" error when no engine has it.
local function locate(st, id)
  local results = each_engine(st.names, function(name)
    return ensure(st, name):get_container(id)
  end)
  local found, unanswered = {}, {}
  for _, name in ipairs(st.names) do
    local ok, res = results[name][1], results[name][2]
    if ok then
      found[#found + 1] = name
    elseif not is_error(res) then
      reraise(res)
    elseif not is_error(res, "not_found") then
      unanswered[#unanswered + 1] = name
    end
  end
  if #found == 1 then
    local name = found[1]
    local c = results[name][2]
    c.runtime = name
    remember(st, c.id, name)
    return name, c
  end
  if #found > 1 then
    error(new_error("conflict", ("container '%s' exists on more than one engine: %s; choose one with "
      .. "{ runtime = name } or multi:on(name)"):format(id, concat(found, ", ")), { engines = found }), 0)
  end
  if #unanswered > 0 then
    local name = unanswered[1]
    local cause = results[name][2]
    error(new_error(cause.kind, ("cannot tell which engine has container '%s': %s did not answer: %s")
      :format(id, name, cause.message), { status_code = cause.status_code,
      response_data = cause.response_data, engines = unanswered }), 0)
  end
  error(new_error("not_found", ("no such container '%s' on any engine (%s)"):format(id, concat(st.names, ", ")),
    { status_code = 404 }), 0)
end

-- ---- the object ----

local methods = {}

local function state_of(self, what)
  local st = private[self]
  if not st then
    error(("bad self to '%s' (a multi client; call it as multi:%s(...))"):format(what, what), 3)
  end
  if st.closed then error("the multi client is closed", 3) end
  return st
end

local function check_engine(st, name)
  if type(name) == "string" and st.engines[name] then return name end
  return nil, ("no engine named '%s' (engines: %s)"):format(tostring(name), concat(st.names, ", "))
end

-- Splits opts.runtime from the other options: returns the engine name and
-- a copy of opts without it, or nil and a message.
local function take_runtime(st, opts)
  local name, msg = check_engine(st, opts.runtime)
  if not name then return nil, msg end
  local rest = {}
  for k, v in pairs(opts) do
    if k ~= "runtime" then rest[k] = v end
  end
  return name, rest
end

-- Calls client:method(args...) on the named engine; models come back
-- with runtime = name.
local function call_on(st, name, method, args)
  local client = ensure(st, name)
  local fn = client[method]
  if fn == nil then error(("%s: the client has no method '%s'"):format(name, method), 0) end
  return renamed(name, pack(fn(client, unpack(args, 1, args.n))))
end

-- Passes a routed call's results through, forgetting a removed container.
local function after_call(st, method, id, located, ...)
  if method == "remove_container" then
    forget(st, id)
    if located then forget(st, located.id) end
  end
  return ...
end

-- A per-container method: multi:method(id_or_name, opts?, ...). Routed to
-- opts.runtime when given, else to the engine remembered for that id, else
-- to the one engine that has it (see locate).
local function routed(method)
  return function(self, id, ...)
    local st = state_of(self, method)
    if type(id) ~= "string" or id == "" then
      error(("bad argument #1 to '%s' (container id or name must be a non-empty string)"):format(method), 2)
    end
    local args = pack(id, ...)
    if type(args[2]) == "table" and args[2].runtime ~= nil then
      local name, rest = take_runtime(st, args[2])
      if not name then error(("bad argument #2 to '%s' (%s)"):format(method, rest), 2) end
      args[2] = rest
      return after_call(st, method, id, nil, call_on(st, name, method, args))
    end
    local owner = st.owners[id]
    if owner then
      local r = pack(pcall(call_on, st, owner, method, args))
      if r[1] then return after_call(st, method, id, nil, unpack(r, 2, r.n)) end
      if not is_error(r[2], "not_found") then reraise(r[2]) end
      forget(st, id) -- gone from there: it may be elsewhere now
    end
    local name, c = locate(st, id)
    if method == "get_container" then return c end
    return after_call(st, method, id, c, call_on(st, name, method, args))
  end
end

-- One engine's event stream, whose events carry the engine's name as
-- runtime like every other model through the multi object (the stream
-- itself only knows the engine kind). Read, closed and asked for stats
-- like the stream it wraps; returns the generic-for values, the last one
-- closing it when a loop is left.
local function named_events(name, stream)
  local function next_event()
    local e = stream()
    if type(e) == "table" and rawget(e, "runtime") ~= nil then e.runtime = name end
    return e
  end
  local wrapper = setmetatable({}, {
    __index = {
      next = next_event,
      close = function() return stream:close() end,
      stats = function() return stream:stats() end,
    },
    __call = next_event,
    __close = function() stream:close() end,
    __tostring = function() return tostring(stream) end,
  })
  return wrapper, nil, nil, wrapper
end

-- An engine method: multi:method(engine_name, ...) = multi:on(engine_name):method(...).
local function per_engine(method)
  return function(self, name, ...)
    local st = state_of(self, method)
    local ok, msg = check_engine(st, name)
    if not ok then error(("bad argument #1 to '%s' (%s)"):format(method, msg), 2) end
    local r = pack(call_on(st, name, method, pack(...)))
    if method == "create_container" then remember(st, r[1], name) end
    if method == "get_events" then return named_events(name, r[1]) end
    return unpack(r, 1, r.n)
  end
end

local wrappers = {}

local function contains(list, x)
  for _, v in ipairs(list) do
    if v == x then return true end
  end
  return false
end

local mt = {}

-- Methods, then routed wrappers built on first use from the two lists.
function mt.__index(_, key)
  local f = methods[key] or wrappers[key]
  if f or type(key) ~= "string" then return f end
  if contains(M.CONTAINER_METHODS, key) then
    f = routed(key)
  elseif contains(M.ENGINE_METHODS, key) then
    f = per_engine(key)
  end
  wrappers[key] = f
  return f
end

function mt.__tostring(self)
  local st = private[self]
  local parts = {}
  for _, name in ipairs(st.names) do
    local e = st.engines[name]
    parts[#parts + 1] = ("%s=%s"):format(name, e.client and (e.client.runtime .. "@" .. e.client.endpoint) or "down")
  end
  return "moonpod multi: " .. concat(parts, " ") .. (st.closed and " [closed]" or "")
end

--- multi:on(name) -> the named engine's client (connecting it if it is
--- down; raises its error if it still is). For what the multi object does
--- not wrap, or to pick one engine explicitly. Models it returns carry the
--- engine kind ("podman"/"docker") as runtime, not the name.
function methods.on(self, name)
  local st = state_of(self, "on")
  local ok, msg = check_engine(st, name)
  if not ok then error(("bad argument #1 to 'on' (%s)"):format(msg), 2) end
  return ensure(st, name)
end

--- multi:list_containers(opts?) -> { Container }, { name = error }
--- Every engine's list_containers(opts), asked concurrently, merged in
--- engine-name order; each container's runtime is its engine's name. An
--- engine that is down or fails does not fail the call: the second result
--- maps each engine that did not answer to its error object (empty when all
--- answered). opts.runtime = name asks that engine only.
function methods.list_containers(self, opts)
  local st = state_of(self, "list_containers")
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #1 to 'list_containers' (table expected, got " .. type(opts) .. ")", 2)
  end
  local names = st.names
  if opts and opts.runtime ~= nil then
    local name, rest = take_runtime(st, opts)
    if not name then error(("bad argument #1 to 'list_containers' (%s)"):format(rest), 2) end
    names, opts = { name }, rest
  end
  local results = each_engine(names, function(name)
    return ensure(st, name):list_containers(opts)
  end)
  local merged, failed = {}, {}
  for _, name in ipairs(names) do
    local r = results[name]
    if r[1] then
      for _, c in ipairs(r[2]) do
        c.runtime = name
        remember(st, c.id, name)
        merged[#merged + 1] = c
      end
    elseif is_error(r[2]) then
      failed[name] = r[2]
    else
      reraise(r[2])
    end
  end
  return merged, failed
end

-- Probes every engine at once: name -> true or its error object.
local function probe_all(st)
  local results = each_engine(st.names, function(name) return probe(st, name) end)
  local out = {}
  for name, r in pairs(results) do
    if not r[1] and not is_error(r[2]) then reraise(r[2]) end
    out[name] = r[1] or r[2]
  end
  return out
end

--- multi:ping() -> { name = true | error object }: pings every connected
--- engine and tries to connect the others, all at once. Never raises for
--- an engine that does not answer.
function methods.ping(self)
  return probe_all(state_of(self, "ping"))
end

--- multi:engines() -> { name = { runtime, endpoint, transport, up, error } }
--- Checks every engine now, as ping does. runtime ("podman"/"docker"),
--- transport and endpoint are the client's once it has connected; before
--- that runtime and transport are nil and endpoint is the configured one
--- (nil when auto-detected). up is whether the engine answered; error is
--- its error object when it did not.
function methods.engines(self)
  local st = state_of(self, "engines")
  local probed = probe_all(st)
  local out = {}
  for _, name in ipairs(st.names) do
    local e, answer = st.engines[name], probed[name]
    local c = e.client
    local cfg = e.config
    out[name] = {
      runtime = c and c.runtime,
      transport = c and c.transport,
      endpoint = c and c.endpoint or cfg.remote_url or (cfg.socket_path and "unix://" .. cfg.socket_path),
      up = answer == true,
      error = answer ~= true and answer or nil,
    }
  end
  return out
end

--- multi:close(): closes every engine's client; later calls raise. Safe to
--- call twice; also the object's __close.
function methods.close(self)
  local st = private[self]
  if not st or st.closed then return end
  st.closed = true
  for name, e in pairs(st.engines) do
    if e.client then e.client:close() end
    e.client = nil
    self.clients[name] = nil
  end
end

mt.__close = methods.close

--- M.new(configs) -> multi object; `moonpod.multi(configs)`. configs maps
--- engine names to moonpod.connect configs. Connects them all at once and
--- returns when each has connected or failed; `multi.clients[name]` is the
--- client of each engine that is connected.
function M.new(configs)
  if type(configs) ~= "table" then
    error("bad argument #1 to 'multi' (table of name = config expected, got " .. type(configs) .. ")", 2)
  end
  local engines = {}
  for name, cfg in pairs(configs) do
    if type(name) ~= "string" or name == "" then
      error("bad argument #1 to 'multi' (engine names must be non-empty strings)", 2)
    end
    if type(cfg) ~= "table" then
      error(("bad argument #1 to 'multi' (config of '%s' must be a table)"):format(name), 2)
    end
    engines[name] = { name = name, config = cfg }
  end
  local self = setmetatable({ clients = {} }, mt)
  local st = {
    engines = engines,
    names = sorted_keys(engines),
    clients = self.clients,
    owners = {},
    owner_count = 0,
    closed = false,
  }
  private[self] = st
  local results = each_engine(st.names, function(name) return ensure(st, name) end)
  for _, name in ipairs(st.names) do
    local r = results[name]
    if not r[1] and not is_error(r[2]) then
      methods.close(self)
      error(r[2], 2)
    end
  end
  return self
end

return M
