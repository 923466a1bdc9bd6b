#!/usr/bin/env moonpod
-- The specification's MetricsCollector: when a container starts, collect
-- its startup metrics; when it stops (dies), its final metrics — here,
-- a summary of its whole run from the stats monitor's history. Also
-- serves every watched container on /metrics for Prometheus.
--
--   moonpod scripts/examples/metrics_collector.lua [seconds] [port]

local moonpod = require "moonpod"
local events = require "moonpod.events"
local stats = require "moonpod.stats"

local seconds = tonumber(arg[1])
local client = moonpod.connect()
local monitor = stats.monitor { client = client, interval = 1, history = { retention = 86400 } }
monitor:watch_all()
local server = monitor:serve_metrics { port = tonumber(arg[2]) or 0 }
print(("metrics on http://127.0.0.1:%d/metrics"):format(server.port))

local started = {}

local function collect_startup_metrics(ev)
  started[ev.container_id] = moonpod.now()
  local ok, s = pcall(client.get_container_stats, client, ev.container_id)
  if ok then
    print(("start %s: memory %d bytes, %d process(es)"):format(ev.container_name, s.memory_usage_bytes, s.pids))
  end
end

local function collect_shutdown_metrics(ev)
  local since = started[ev.container_id]
  local window = since and moonpod.now() - since + 1 or 3600
  local cpu = monitor:summary(ev.container_id, "cpu_percent", window)
  local mem = monitor:summary(ev.container_id, "memory_usage_bytes", window)
  if cpu and cpu.count > 0 then
    print(("%s %s: %d sample(s), cpu avg %.1f%% max %.1f%%, memory max %d bytes"):format(ev.action,
      ev.container_name, cpu.count, cpu.avg, cpu.max, math.floor(mem.max)))
  else
    print(("%s %s: no samples"):format(ev.action, ev.container_name))
  end
end

-- a stop comes with a die: the die is enough
local listener = events.listener { client = client, event_types = { "start", "die" } }
listener:add_async_event_handler(function(ev)
  if ev.action == "start" then
    collect_startup_metrics(ev)
  else
    collect_shutdown_metrics(ev)
  end
end)
listener:start()

if seconds then
  moonpod.sleep(seconds)
  listener:stop()
  server:close()
  monitor:close()
end
