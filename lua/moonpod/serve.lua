--- moonpod.serve: the service's own state (not a policy's): opens the
-- event stream that every policy's listener shares, and serves /metrics
-- and /healthz (src/serve.c; what it reads of the service: src/serve_lua.c).
-- /metrics also carries the container_* series of every stats monitor a
-- policy holds (stats.monitor{...}): a container two policies watch is
-- one series.

local core = require "moonpod.core"

local M = {}

local shared = {}

local STATUSES = { "idle", "running", "stopped", "failed" }

local function family(name, type, help, samples)
  return { name = name, type = type, help = help, samples = samples }
end

local function one(name, type, help, value, labels)
  return family(name, type, help, { { value = value, labels = labels } })
end

-- Per-policy counters: field of api.policies()'s entries, metric, help.
local POLICY_COUNTERS = {
  { "starts", "moonpod_policy_starts_total", "Times the policy's file was started (first start and reloads)." },
  { "errors", "moonpod_policy_errors_total", "Errors raised by the policy's handlers and tasks." },
  { "timeouts", "moonpod_policy_timeouts_total", "Times the policy was stopped for running past its time budget." },
  { "memory_faults", "moonpod_policy_memory_faults_total", "Times the policy was stopped at its memory limit." },
  { "reloads", "moonpod_policy_reloads_total", "Times a changed file replaced the running version." },
  { "reload_failures", "moonpod_policy_reload_failures_total", "Changed files that did not load (the old version ran on)." },
  { "events_dropped", "moonpod_policy_events_dropped_total", "Events the policy's listeners dropped because they fell behind." },
}

local function policy_families(api)
  local pols = api.policies()
  table.sort(pols, function(a, b) return a.path < b.path end)
  local status, memory, counters = {}, {}, {}
  for i = 1, #POLICY_COUNTERS do counters[i] = {} end
  for _, p in ipairs(pols) do
    -- the path too: two directories may hold files of the same name
    local labels = { policy = p.name, path = p.path }
    for _, st in ipairs(STATUSES) do
      status[#status + 1] = { value = p.status == st and 1 or 0,
        labels = { policy = p.name, path = p.path, status = st } }
    end
    memory[#memory + 1] = { value = p.memory_bytes, labels = labels }
    for i, c in ipairs(POLICY_COUNTERS) do
      counters[i][#counters[i] + 1] = { value = p[c[1]], labels = labels }
    end
  end
  local fams = {
    family("moonpod_policy_status", "gauge",
      "1 for the policy's current status (idle, running, stopped, failed), 0 for the others.", status),
  }
  for i, c in ipairs(POLICY_COUNTERS) do fams[#fams + 1] = family(c[2], "counter", c[3], counters[i]) end
  fams[#fams + 1] = family("moonpod_policy_memory_bytes", "gauge", "Bytes the policy's Lua state holds.", memory)
  fams[#fams + 1] = one("moonpod_policy_memory_limit_bytes", "gauge", "Memory cap of each policy (--memory-limit).",
    api.memory_limit_bytes)
  fams[#fams + 1] = one("moonpod_policy_time_limit_seconds", "gauge",
    "Longest a handler may run without waiting (--time-limit).", api.time_limit_seconds)
  fams[#fams + 1] = one("moonpod_serve_policies", "gauge", "Policies the service holds.", #pols)
  return fams
end

local function stream_families(fams)
  local s = shared.source and shared.source:stats()
  if not s then return end
  local labels = { runtime = shared.client.runtime }
  local function add(name, type, help, value)
    fams[#fams + 1] = one(name, type, help, value, labels)
  end
  add("moonpod_events_received_total", "counter", "Engine events the shared event stream received.", s.received)
  add("moonpod_event_decode_errors_total", "counter", "Engine events the shared stream could not decode.",
    s.decode_errors)
  add("moonpod_event_reconnects_total", "counter", "Reconnections of the shared event stream.", s.reconnects)
  add("moonpod_event_stream_connected", "gauge", "1 while the shared event stream is connected.",
    s.connected and 1 or 0)
  if s.last_event_at then
    add("moonpod_event_last_timestamp_seconds", "gauge", "Time of the last event the shared stream received.",
      s.last_event_at)
  end
end

local function collect(api)
  local fams = policy_families(api)
  stream_families(fams)
  local ok = api.health()
  fams[#fams + 1] = one("moonpod_serve_healthy", "gauge", "1 while the service is ready (what /healthz says).",
    ok and 1 or 0)
  fams[#fams + 1] = one("moonpod_build_info", "gauge", "Always 1; the version is a label.", 1,
    { version = core.version })
  fams[#fams + 1] = one("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.",
    api.start_time)
  local rss = api.resident_memory()
  if rss then
    fams[#fams + 1] = one("process_resident_memory_bytes", "gauge", "Resident memory of the process.", rss)
  end
  fams[#fams + 1] = one("moonpod_lua_memory_bytes", "gauge", "Memory used by the service's own Lua state.",
    math.floor(collectgarbage("count") * 1024))
  -- the containers the policies' stats monitors watch, each once
  return api.container_metrics() .. core.metrics_text(fams)
end

-- Starts /metrics and /healthz; false when the address can't be bound.
local function listen(api, addr)
  local ok, server = pcall(require("moonpod.metrics_server").start, {
    host = addr.host, port = addr.port,
    collect = function() return collect(api) end,
    health = function()
      local up, reason = api.health()
      return up, reason
    end,
  })
  if not ok then
    local why = tostring(server):gsub("^[%w_/%.]+:%d+: ", "") -- the reason, without where it was raised
    if addr.required then
      core.log.error("serve: %s (choose another address with --listen, or --listen off)", why)
      return false
    end
    -- the default address: a second service on the host (or a test run
    -- beside a running one) still runs, without /metrics
    core.log.warn("serve: %s; no /metrics and /healthz (choose an address with --listen)", why)
    return true
  end
  shared.server = server
  local shown = addr.host:find(":", 1, true) and ("[" .. addr.host .. "]") or addr.host
  core.log.info("serve: metrics on http://%s:%d/metrics and /healthz", shown, server.port)
  return true
end

--- serve.host(start, api, listen): serves /metrics and /healthz on listen
--- ({ host =, port = }, or nil for none), connects to the engine, shares
--- its event stream, then calls start() to start the policies. Without an
--- engine the policies start anyway and connect (and fail) on their own.
--- api is src/serve_lua.c's table. An address given with --listen
--- (addr.required) that can't be bound ends the service with status 1;
--- the default one is skipped with a warning.
function M.host(start, api, addr)
  if addr and not listen(api, addr) then
    return core.exit(1)
  end
  local ok, client = pcall(core.connect)
  if ok then
    -- a service keeps trying: the stream comes back whenever the engine does
    local source = core.event_source(client,
      { auto_reconnect = true, reconnect_delay = 1, max_reconnect_attempts = -1 })
    source:share()
    shared.client, shared.source = client, source
    core.log.info("serve: one event stream from %s (%s), shared by every policy", client.endpoint, client.runtime)
  else
    core.log.warn("serve: no engine answers (%s); each policy connects on its own", tostring(client))
  end
  start()
end

--- serve.stats() -> the shared stream's counters, or nil without an engine
function M.stats()
  return shared.source and shared.source:stats()
end

--- serve.close(): stops serving /metrics and /healthz (the service ends).
function M.close()
  if shared.server then
    shared.server:close()
    shared.server = nil
  end
end

return M
