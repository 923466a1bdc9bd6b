#!/usr/bin/env moonpod
-- The specification's HealthMonitor: watch every running container and
-- report the ones using too much CPU or memory. Samples come from one
-- stats monitor (one stream on Podman), not a request per container per
-- round; a container is reported when it crosses a threshold and again
-- only after it came back under.
--
--   moonpod scripts/examples/health_monitor.lua [seconds] [cpu_percent] [memory_percent]
--
-- Runs for `seconds` (default: until interrupted); thresholds default to
-- the specification's 90 % CPU and 95 % memory. Remediation goes in
-- handle_unhealthy_container.

local moonpod = require "moonpod"
local stats = require "moonpod.stats"

local seconds = tonumber(arg[1])
local cpu_limit = tonumber(arg[2]) or 90
local mem_limit = tonumber(arg[3]) or 95

local client = moonpod.connect()
local monitor = stats.monitor { client = client, interval = 1 }
local unhealthy = {}

local function name_of(id)
  local ok, c = pcall(client.get_container, client, id)
  return ok and c.name or id:sub(1, 12)
end

local function handle_unhealthy_container(id, s)
  print(("unhealthy container detected: %s (cpu %.1f%%, memory %.1f%%)"):format(name_of(id), s.cpu_percent,
    s.memory_percent))
  -- remediation goes here, e.g. client:restart_container(id)
end

monitor:on_sample(function(s)
  local bad = s.cpu_percent > cpu_limit or s.memory_percent > mem_limit
  if bad and not unhealthy[s.container_id] then
    unhealthy[s.container_id] = true
    handle_unhealthy_container(s.container_id, s)
  elseif not bad and unhealthy[s.container_id] then
    unhealthy[s.container_id] = nil
    print(("container recovered: %s"):format(name_of(s.container_id)))
  end
end)

print(("watching %d running container(s) on %s; cpu > %g%%, memory > %g%% is unhealthy"):format(
  monitor:watch_all(), client.runtime, cpu_limit, mem_limit))

if seconds then
  moonpod.sleep(seconds)
  local st = monitor:stats()
  print(("%d sample(s) from %d container(s)"):format(st.samples_kept, st.containers))
  monitor:close()
end
