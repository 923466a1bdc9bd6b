--- moonpod.policykit: what the ready-made policies (scripts/policies) share:
-- their configuration (the table at the top of the file, overridable by a
-- wrapper policy), per-container overrides from labels, which containers a
-- policy looks after, and Docker-style backoff.
--
-- A wrapper policy changes a ready-made one's settings without copying it:
--
--   require("moonpod.policykit").override("autoheal", { retries = 3, all = true })
--   return dofile("/usr/share/moonpod/policies/autoheal.lua")

local M = {}

local overrides = {}
local CHOICES = setmetatable({}, { __name = "choices" }) -- a key no setting can have

--- policykit.override(name, t): settings that policy `name`'s config() call
--- takes over its file's defaults (each policy runs in its own Lua state,
--- so this reaches only the policy loaded after it in the same file).
function M.override(name, t)
  assert(type(name) == "string" and type(t) == "table", "policykit.override(name, table)")
  overrides[name] = t
end

local function choice_ok(choices, key, v)
  local allowed = choices and choices[key]
  if not allowed then return true end
  for _, a in ipairs(allowed) do
    if a == v then return true end
  end
  return false
end

--- policykit.config(name, defaults, choices?) -> config: the defaults with the
--- overrides for `name` applied; an override of a setting the policy does
--- not have, of the wrong type, or not among `choices[key]` (a list of the
--- values allowed) is an error (a typo must not pass silently).
function M.config(name, defaults, choices)
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  for k, v in pairs(overrides[name] or {}) do
    local d = defaults[k]
    if d == nil then
      error(("%s: unknown setting '%s'"):format(name, tostring(k)), 2)
    end
    if d ~= nil and type(v) ~= type(d) then
      error(("%s: setting '%s' must be a %s, not a %s"):format(name, k, type(d), type(v)), 2)
    end
    cfg[k] = v
  end
  -- the file's own table is checked too: a user edits it by hand
  for k, v in pairs(cfg) do
    if not choice_ok(choices, k, v) then
      error(("%s: setting '%s' must be one of %s"):format(name, k, table.concat(choices[k], ", ")), 2)
    end
    if type(v) == "number" and not (v >= 0 and v < math.huge) then
      error(("%s: setting '%s' must be a number >= 0"):format(name, k), 2)
    end
  end
  cfg[CHOICES] = choices
  return cfg
end

local function parse(value, like)
  local t = type(like)
  if t == "number" then
    local n = tonumber(value)
    return n and n >= 0 and n < math.huge and n or nil
  end
  if t == "boolean" then
    if value == "true" or value == "1" or value == "yes" then return true end
    if value == "false" or value == "0" or value == "no" then return false end
    return nil
  end
  return value
end

--- policykit.for_container(cfg, labels, prefix, keys) -> settings: cfg with
--- each key in `keys` replaced by the container's label `prefix .. key` when
--- it has one that parses as the setting's type; a label that does not
--- parse is ignored, with a warning.
function M.for_container(cfg, labels, prefix, keys)
  local s = setmetatable({}, { __index = cfg })
  for _, key in ipairs(keys) do
    local raw = labels and labels[prefix .. key]
    if raw ~= nil then
      local v = parse(raw, cfg[key])
      if v ~= nil and not choice_ok(cfg[CHOICES], key, v) then v = nil end
      if v == nil then
        require("moonpod.core").log.warn("label %s%s=%s is not a valid %s: ignored", prefix, key, tostring(raw), type(cfg[key]))
      else
        s[key] = v
      end
    end
  end
  return s
end

--- policykit.selected(cfg, labels) -> boolean: whether the policy looks after
--- a container: all of them when cfg.all, else those labelled cfg.label=true.
function M.selected(cfg, labels)
  if cfg.all then return true end
  return labels ~= nil and labels[cfg.label] == "true"
end

--- policykit.filters(cfg) -> container_filters for the policy's listener.
function M.filters(cfg)
  if cfg.all then return nil end
  return { ["label." .. cfg.label] = "true" }
end

--- policykit.backoff_delay(attempt, initial, max) -> seconds: Docker's
--- restart backoff: `initial` before the first retry, doubling, capped at `max`.
function M.backoff_delay(attempt, initial, max)
  return math.min(initial * 2 ^ math.max(attempt - 1, 0), max)
end

--- policykit.alerter(name, cfg) -> alert: notify.alerter for the policy,
--- with cfg.webhook_url (or MOONPOD_WEBHOOK_URL) and cfg.webhook_retries.
function M.alerter(name, cfg)
  local url = cfg.webhook_url
  local wh
  if url and url ~= "" then
    wh = { url = url, retries = cfg.webhook_retries, backoff = cfg.webhook_backoff }
  end
  return (require("moonpod.notify").alerter { policy = name, webhook = wh })
end

return M
