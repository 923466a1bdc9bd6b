-- resource-guard: Monit's "if cpu > 90% for 5 cycles then restart" for
-- containers. Every `interval` seconds each watched container is sampled
-- (the shared stats monitor); when its CPU (percent, as `docker stats`
-- shows it) or its memory (percent of its limit) is above the threshold for
-- `cycles` samples in a row, the guard acts: "alert", "restart" or "stop".
-- Every action also sends an alert. After acting it waits `cycles` fresh
-- samples again before it can act on that container once more.
--
-- Which containers: those labelled moonpod.guard=true, or all with all = true.
--
-- Labels (per container, override the config below):
--   moonpod.guard=true           opt in
--   moonpod.guard.cpu=90         CPU threshold, percent (0 disables)
--   moonpod.guard.memory=80      memory threshold, percent of the limit (0 disables)
--   moonpod.guard.cycles=5       consecutive samples above it
--   moonpod.guard.action=stop    alert | restart | stop
--
-- Alerts go to the log and, when webhook_url or MOONPOD_WEBHOOK_URL is set,
-- to that webhook as JSON POSTs.
--
--   moonpod serve scripts/policies/resource-guard.lua
--
-- Wrapper policy to change the settings:
--   require("moonpod.policykit").override("resource-guard", { cpu = 80, action = "alert" })
--   return dofile("/path/to/scripts/policies/resource-guard.lua")

local moonpod = require "moonpod"
local kit = require "moonpod.policykit"
local stats = require "moonpod.stats"

local config = kit.config("resource-guard", {
  label = "moonpod.guard", -- the opt-in label, when all = false
  all = false,
  cpu = 90,               -- percent; 0: not checked
  memory = 0,             -- percent of the memory limit; 0: not checked
  cycles = 5,             -- consecutive samples above a threshold
  interval = 5,           -- seconds between samples
  action = "restart",     -- "alert", "restart" or "stop"
  stop_timeout = 10,
  webhook_url = "",       -- or MOONPOD_WEBHOOK_URL
  webhook_retries = 5,
  webhook_backoff = 0.5,
}, { action = { "alert", "restart", "stop" } })

local LABEL_KEYS = { "cpu", "memory", "cycles", "action" }
local alert = kit.alerter("resource-guard", config)

local known = {}  -- id -> { name, cfg, over = consecutive count, busy }
local mon

local function info(client, id)
  local k = known[id]
  if k then return k end
  local ok, c = pcall(client.get_container, client, id)
  if not ok then return nil end
  k = { name = c.name or id, over = 0,
    selected = kit.selected(config, c.labels),
    cfg = kit.for_container(config, c.labels, config.label .. ".", LABEL_KEYS) }
  known[id] = k
  return k
end

local function act(client, id, k, what, value)
  local cfg = k.cfg
  local ok, err = true, nil
  if cfg.action == "restart" then
    ok, err = pcall(client.restart_container, client, id, { timeout = config.stop_timeout })
  elseif cfg.action == "stop" then
    ok, err = pcall(client.stop_container, client, id, { timeout = config.stop_timeout })
  end
  if not ok then moonpod.log.error("%s of %s failed: %s", cfg.action, k.name, tostring(err)) end
  alert { event = "resource_" .. what, container = k.name, container_id = id, action = cfg.action,
    value = value, threshold = cfg[what], cycles = cfg.cycles, done = ok,
    message = ("%s %.1f%% > %g%% for %d samples: %s"):format(what, value, cfg[what], cfg.cycles, cfg.action) }
  k.over, k.busy = 0, false
end

return {
  name = "resource-guard",
  setup = function(client)
    mon = stats.monitor { client = client, interval = config.interval, history = { retention = 10 * config.interval } }
    mon:watch_all { filters = not config.all and { label = { config.label .. "=true" } } or nil }
    mon:on_sample(function(s)
      local id = s.container_id
      local k = id and info(client, id)
      if not k or not k.selected or k.busy then return end
      local cfg = k.cfg
      local what, value
      if cfg.cpu > 0 and (s.cpu_percent or 0) > cfg.cpu then
        what, value = "cpu", s.cpu_percent
      elseif cfg.memory > 0 and (s.memory_percent or 0) > cfg.memory then
        what, value = "memory", s.memory_percent
      end
      if not what then k.over = 0; return end
      k.over = k.over + 1
      if k.over >= cfg.cycles then
        k.busy = true
        moonpod.spawn(act, client, id, k, what, value)
      end
    end)
  end,
  -- the monitor's streams would otherwise hold up the service's drain
  stop = function() if mon then mon:close() end end,
}
