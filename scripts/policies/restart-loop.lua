-- restart-loop: stops a container that keeps dying — more than `max_deaths`
-- deaths within `window` seconds — and sends an alert, instead of letting
-- its restart policy (or another policy) bring it back forever.
--
-- Which containers: those labelled restartloop=true, or all with all = true
-- (the default: a crash loop is worth stopping wherever it happens).
--
-- Labels (per container, override the config below):
--   restartloop=true             opt in (when all = false)
--   restartloop.max_deaths=5     deaths allowed within the window
--   restartloop.window=60        seconds
--   restartloop.ignore=true      never stop this one
--
-- Alerts go to the log and, when webhook_url or MOONPOD_WEBHOOK_URL is set,
-- to that webhook as JSON POSTs.
--
--   moonpod serve scripts/policies/restart-loop.lua
--
-- Wrapper policy to change the settings:
--   require("moonpod.policykit").override("restart-loop", { max_deaths = 3, window = 30 })
--   return dofile("/path/to/scripts/policies/restart-loop.lua")

local moonpod = require "moonpod"
local kit = require "moonpod.policykit"

local config = kit.config("restart-loop", {
  label = "restartloop",  -- the opt-in label, when all = false
  all = true,
  max_deaths = 5,         -- more deaths than this within `window` is a loop
  window = 60,            -- seconds
  ignore = false,         -- (a label) leave a container alone
  stop_timeout = 5,       -- seconds the stop waits before SIGKILL
  webhook_url = "",       -- or MOONPOD_WEBHOOK_URL
  webhook_retries = 5,
  webhook_backoff = 0.5,
})

local LABEL_KEYS = { "max_deaths", "window", "ignore" }
local alert = kit.alerter("restart-loop", config)

local deaths = {}   -- id -> { monotonic times of deaths within the window }
local stopping = {} -- id -> true while we stop it

local function stop(client, ev, cfg, n)
  local id, name = ev.container_id, ev.container_name or ev.container_id
  stopping[id] = true
  local ok, err = pcall(client.stop_container, client, id, { timeout = config.stop_timeout })
  if not ok and not moonpod.is_error(err, "not_found") then
    moonpod.log.error("stopping %s failed: %s", name, tostring(err))
  end
  alert { event = "restart_loop", container = name, container_id = id, deaths = n, window = cfg.window,
    exit_code = ev.exit_code, message = ("died %d times in %g s: stopped"):format(n, cfg.window) }
  deaths[id] = nil
  stopping[id] = nil
end

return {
  name = "restart-loop",
  events = { "die", "remove" },
  filters = kit.filters(config),
  on_event = function(ev, client)
    local id = ev.container_id
    if not id or not kit.selected(config, ev.labels) then return end
    if ev.action == "remove" then deaths[id] = nil; return end
    if stopping[id] then return end
    local cfg = kit.for_container(config, ev.labels, config.label .. ".", LABEL_KEYS)
    if cfg.ignore then return end
    local now = moonpod.monotonic()
    local list = deaths[id] or {}
    local kept = {}
    for _, t in ipairs(list) do
      if now - t <= cfg.window then kept[#kept + 1] = t end
    end
    kept[#kept + 1] = now
    deaths[id] = kept
    if #kept > cfg.max_deaths then
      moonpod.spawn(stop, client, ev, cfg, #kept)
    end
  end,
}
