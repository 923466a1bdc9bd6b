-- autoheal: restarts containers whose health check turns unhealthy.
--
-- Event-driven: acts on the engine's health_status events, not by polling.
-- Before each restart it waits Docker's backoff (100 ms, doubling, capped
-- at backoff_max), which starts over once the container has run
-- `reset_after` seconds since its last start. After `retries` restarts
-- with no healthy state in between it stops trying and sends an alert
-- (a healthy state starts the count over). With action = "kill" it
-- kills the container instead (kill_signal, SIGKILL by default) and alerts:
-- for a container that must not serve while unhealthy, or that something
-- else brings back (neither Docker nor Podman applies a container's own
-- restart policy after a kill through the API: it stays down). A container
-- that has just started is left alone for `grace` seconds, then acted on
-- only if still unhealthy.
--
-- Which containers: those labelled autoheal=true, or all with all = true.
--
-- Labels (per container, override the config below):
--   autoheal=true              opt in
--   autoheal.action=kill       restart | kill
--   autoheal.retries=3         restarts before giving up
--   autoheal.grace=30          seconds after a start before acting
--   autoheal.backoff_max=60    cap of the backoff, seconds
--
-- Alerts (gave up, and each restart) go to the log and, when webhook_url or
-- MOONPOD_WEBHOOK_URL is set, to that webhook as JSON POSTs.
--
--   moonpod serve scripts/policies/autoheal.lua
--
-- To change the settings without editing this file, a wrapper policy:
--   require("moonpod.policykit").override("autoheal", { all = true, retries = 3 })
--   return dofile("/path/to/scripts/policies/autoheal.lua")

local moonpod = require "moonpod"
local kit = require "moonpod.policykit"

local config = kit.config("autoheal", {
  label = "autoheal",     -- the opt-in label (label=true)
  all = false,            -- look after every container, labelled or not
  action = "restart",     -- "restart" or "kill"
  kill_signal = "SIGKILL",-- what action = "kill" sends
  grace = 0,              -- seconds after a start before acting
  retries = 5,            -- restarts before giving up and alerting
  backoff_initial = 0.1,  -- seconds before the first restart
  backoff_max = 60,       -- cap of the doubling backoff
  reset_after = 10,       -- a container that ran this long starts the count over
  stop_timeout = 10,      -- seconds a restart waits for the container to stop
  alert_each = false,     -- also alert on every restart, not only on giving up
  webhook_url = "",       -- or MOONPOD_WEBHOOK_URL
  webhook_retries = 5,
  webhook_backoff = 0.5,
}, { action = { "restart", "kill" } })

local LABEL_KEYS = { "action", "retries", "grace", "backoff_max" }
local alert = kit.alerter("autoheal", config)

-- per container id: { attempts, started (monotonic), busy, gave_up }
local state = {}

local function get(id)
  local s = state[id]
  if not s then
    s = { attempts = 0, step = 0, started = moonpod.monotonic() - config.reset_after }
    state[id] = s
  end
  return s
end

local function still_unhealthy(client, id)
  local ok, c = pcall(client.get_container, client, id)
  local h = ok and c.raw and c.raw.State and c.raw.State.Health
  return h ~= nil and h.Status == "unhealthy"
end

local function heal(client, ev)
  local id, name = ev.container_id, ev.container_name or ev.container_id
  local s = get(id)
  local cfg = kit.for_container(config, ev.labels, config.label .. ".", LABEL_KEYS)
  local since = moonpod.monotonic() - s.started
  if since >= config.reset_after then s.step = 0 end
  if s.gave_up then return end
  if since < cfg.grace then
    moonpod.sleep(cfg.grace - since)
    if not still_unhealthy(client, id) then return end
  end
  if s.attempts >= cfg.retries then
    s.gave_up = true
    alert { event = "gave_up", container = name, container_id = id, attempts = s.attempts,
      message = ("still unhealthy after %d restarts: left alone"):format(s.attempts) }
    return
  end
  s.attempts, s.step = s.attempts + 1, s.step + 1
  local delay = kit.backoff_delay(s.step, config.backoff_initial, cfg.backoff_max)
  moonpod.sleep(delay)
  local ok, err
  if cfg.action == "kill" then
    ok, err = pcall(client.kill_container, client, id, { signal = config.kill_signal })
  else
    ok, err = pcall(client.restart_container, client, id, { timeout = config.stop_timeout })
  end
  if not ok then
    moonpod.log.error("%s of %s failed: %s", cfg.action, name, tostring(err))
    return
  end
  moonpod.log.info("%s %s (unhealthy; attempt %d of %d; after a %.2f s backoff)",
    cfg.action == "kill" and "killed" or "restarted", name, s.attempts, cfg.retries, delay)
  if config.alert_each or cfg.action == "kill" then
    alert { event = cfg.action, container = name, container_id = id, attempts = s.attempts }
  end
end

return {
  name = "autoheal",
  events = { "health_status", "start", "remove" },
  filters = kit.filters(config),
  on_event = function(ev, client)
    local id = ev.container_id
    if not id or not kit.selected(config, ev.labels) then return end
    if ev.action == "start" then
      get(id).started = moonpod.monotonic()
    elseif ev.action == "remove" then
      state[id] = nil
    elseif (ev.health or ev.health_status) == "healthy" then
      -- the restarts helped: the retry count starts over
      local s = state[id]
      if s then s.attempts, s.gave_up = 0, false end
    elseif (ev.health or ev.health_status) == "unhealthy" then
      local s = get(id)
      if s.busy then return end
      s.busy = true
      -- in a task of its own: the backoff must not hold up other containers' events
      moonpod.spawn(function()
        local ok, err = pcall(heal, client, ev)
        s.busy = false
        if not ok then moonpod.log.error("autoheal of %s: %s", tostring(ev.container_name), tostring(err)) end
      end)
    end
  end,
}
