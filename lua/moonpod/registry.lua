--- moonpod.registry: what containers there are, kept current by events.
--
-- local registry = require("moonpod.registry").new()
-- registry:sync(client)                 -- fill it from the engine
-- listener = events.listener(cfg, registry)   -- and keep it current
-- registry:get("web-1"), registry:list{ status = "running" }, registry:count()
-- registry:on_change(function(container, old_status, new_status) ... end)
--
-- Entries are Container models (see the README) with two more fields the
-- events bring: `exit_code` (after a die) and `health`.

local M = {}

local Registry = {}
Registry.__index = Registry

--- A new, empty registry.
function M.new()
  return setmetatable({ by_id = {}, n = 0, watchers = {} }, Registry)
end

local function notify(self, c, old, new)
  if old == new then return end
  for _, fn in ipairs(self.watchers) do
    local ok, err = pcall(fn, c, old, new)
    if not ok then
      require("moonpod.core").log.error("registry on_change handler failed: %s", tostring(err))
    end
  end
end

local function put(self, c)
  if not self.by_id[c.id] then self.n = self.n + 1 end
  self.by_id[c.id] = c
end

local function drop(self, id)
  local c = self.by_id[id]
  if c then
    self.by_id[id] = nil
    self.n = self.n - 1
  end
  return c
end

--- registry:get(id_or_name) -> Container | nil
-- An id, a unique prefix of one (at least 12 characters), or a name.
function Registry:get(key)
  local c = self.by_id[key]
  if c then return c end
  for id, entry in pairs(self.by_id) do
    if entry.name == key or (#key >= 12 and id:sub(1, #key) == key) then return entry end
  end
  return nil
end

local function label_matches(c, want)
  if type(want) == "string" then
    local k, v = want:match("^([^=]+)=(.*)$")
    if k then return c.labels and c.labels[k] == v end
    return c.labels and c.labels[want] ~= nil
  end
  for k, v in pairs(want) do
    if not c.labels or (v == true and c.labels[k] == nil) or (v ~= true and c.labels[k] ~= v) then
      return false
    end
  end
  return true
end

--- registry:list{ status = "running", label = "app=web" | { app = "web" }, name = "prefix",
---                runtime = "podman", health = "unhealthy" } -> { Container }, sorted by name
function Registry:list(filters)
  filters = filters or {}
  local out = {}
  for _, c in pairs(self.by_id) do
    if (not filters.status or c.status == filters.status)
      and (not filters.runtime or c.runtime == filters.runtime)
      and (not filters.health or c.health == filters.health)
      and (not filters.name or (c.name or ""):sub(1, #filters.name) == filters.name)
      and (not filters.label or label_matches(c, filters.label)) then
      out[#out + 1] = c
    end
  end
  table.sort(out, function(a, b) return (a.name or a.id) < (b.name or b.id) end)
  return out
end

--- registry:count() -> number of containers known
function Registry:count()
  return self.n
end

--- registry:on_change(fn): fn(container, old_status, new_status) runs when a
--- container appears (old_status nil), changes status, or goes (new_status
--- "removed"). Errors in fn are logged, not raised.
function Registry:on_change(fn)
  assert(type(fn) == "function", "on_change needs a function")
  self.watchers[#self.watchers + 1] = fn
end

--- registry:sync(client) -> changes: lists every container and makes the
--- registry match, firing on_change for each difference. Health and exit
--- codes, which a list does not give, are kept from events.
function Registry:sync(client)
  local seen, changes = {}, 0
  for _, c in ipairs(client:list_containers { all = true }) do
    seen[c.id] = true
    local old = self.by_id[c.id]
    if old then
      c.health = old.health
      c.exit_code = old.exit_code
    end
    put(self, c)
    if not old or old.status ~= c.status or old.name ~= c.name then
      changes = changes + 1
      notify(self, c, old and old.status, c.status)
    end
  end
  for id, c in pairs(self.by_id) do
    if not seen[id] then
      drop(self, id)
      changes = changes + 1
      notify(self, c, c.status, "removed")
    end
  end
  return changes
end

-- The status an event leaves a container in; nil when it doesn't say.
local STATUS_AFTER = {
  create = "created", start = "running", restart = "running", unpause = "running",
  pause = "paused", die = "exited", stop = "exited",
}

--- registry:apply(event): follows one container event (the listener calls it).
function Registry:apply(ev)
  if ev.type ~= "container" or not ev.container_id then return end
  local id = ev.container_id
  if ev.action == "remove" then
    local c = drop(self, id)
    if c then notify(self, c, c.status, "removed") end
    return
  end
  local c = self.by_id[id]
  local status = STATUS_AFTER[ev.action]
  if not c then
    if not status then return end -- an event about a container we never saw
    c = { id = id, name = ev.container_name, image = ev.image, labels = ev.labels or {},
          created_at = ev.action == "create" and math.floor(ev.timestamp) or nil,
          ports = {}, runtime = ev.runtime, status = "unknown" }
    put(self, c)
  end
  local old = c.status
  if ev.action == "rename" and ev.container_name then c.name = ev.container_name end
  if ev.action == "die" then c.exit_code = ev.exit_code end
  if ev.action == "health_status" then c.health = ev.health end
  if status then c.status = status end
  if old ~= c.status then notify(self, c, old ~= "unknown" and old or nil, c.status) end
end

return M
