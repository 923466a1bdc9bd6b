-- janitor: removes containers that have exited and stayed exited longer
-- than `older_than` seconds, every `interval` seconds. Never removes a
-- container labelled with the keep label (moonpod.keep=true), and only
-- those labelled janitor=true unless all = true (the default).
--
-- Labels (per container):
--   moonpod.keep=true            never removed
--   janitor=true                 opt in (when all = false)
--   janitor.older_than=3600      this container's own threshold, seconds
--
-- How long a container has been exited is read from its FinishedAt (the
-- engine's inspect), so a restart of moonpod does not reset the clocks.
--
--   moonpod serve scripts/policies/janitor.lua
--
-- Wrapper policy to change the settings:
--   require("moonpod.policykit").override("janitor", { older_than = 600 })
--   return dofile("/path/to/scripts/policies/janitor.lua")

local moonpod = require "moonpod"
local kit = require "moonpod.policykit"

local config = kit.config("janitor", {
  label = "janitor",      -- the opt-in label, when all = false
  all = true,
  older_than = 24 * 3600, -- seconds since the container exited
  interval = 300,         -- seconds between sweeps
  keep_label = "moonpod.keep",
  volumes = false,        -- also remove the container's anonymous volumes
  webhook_url = "",       -- or MOONPOD_WEBHOOK_URL (an alert when a removal fails)
  webhook_retries = 5,
  webhook_backoff = 0.5,
})

local LABEL_KEYS = { "older_than" }
local alert = kit.alerter("janitor", config)

-- "2024-01-02T03:04:05.123456789Z" (Docker) or "...+01:00" (Podman) -> epoch seconds
local function epoch(ts)
  if type(ts) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac, tz = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)(.*)$")
  if not y or tonumber(y) < 1971 then return nil end
  -- days from the civil date (proleptic Gregorian), no os.time and its local zone
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + (tonumber(frac ~= "." and frac or "0") or 0)
  local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)")
  if sign then
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end

local function sweep(client)
  local list = client:list_containers { all = true, filters = { status = { "exited" } } }
  local now = moonpod.now()
  for _, c in ipairs(list) do
    local labels = c.labels or {}
    if labels[config.keep_label] ~= "true" and kit.selected(config, labels) then
      local cfg = kit.for_container(config, labels, config.label .. ".", LABEL_KEYS)
      local ok, full = pcall(client.get_container, client, c.id)
      local st = ok and full.raw and full.raw.State
      local finished = st and epoch(st.FinishedAt)
      if st and st.Status == "exited" and finished and now - finished >= cfg.older_than then
        local rok, err = pcall(client.remove_container, client, c.id, { volumes = config.volumes })
        if rok then
          moonpod.log.info("removed %s (exited %.0f s ago)", c.name or c.id, now - finished)
        elseif not moonpod.is_error(err, "not_found") then
          alert { event = "remove_failed", container = c.name, container_id = c.id, message = tostring(err) }
        end
      end
    end
  end
end

return {
  name = "janitor",
  setup = function(client)
    moonpod.spawn(function()
      local ok, err = pcall(sweep, client)
      if not ok then moonpod.log.error("sweep failed: %s", tostring(err)) end
    end)
  end,
  every = { [config.interval] = sweep },
}
