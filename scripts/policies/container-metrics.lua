-- container-metrics: cAdvisor's container_* series on `moonpod serve`'s
-- own /metrics, for every running container (or those with a label), and
-- for those that start later. Under `moonpod serve` the containers of every
-- stats monitor a policy holds are on the service's /metrics, each once;
-- this policy holds one that watches them all, with nothing else to do.
--
--   moonpod serve --listen 127.0.0.1:9464 scripts/policies/container-metrics.lua
--
-- Wrapper policy to change the settings:
--   require("moonpod.policykit").override("container-metrics", { label = "app=web" })
--   return dofile("/path/to/scripts/policies/container-metrics.lua")

local kit = require "moonpod.policykit"
local stats = require "moonpod.stats"

local config = kit.config("container-metrics", {
  label = "",       -- only containers with this label ("key" or "key=value"); "": every one
  interval = 1,     -- seconds between samples
  retention = 900,  -- seconds of history kept per container (what mon:history could answer)
})

local mon = stats.monitor { interval = config.interval, history = { retention = config.retention } }
mon:watch_all { filters = config.label ~= "" and { label = { config.label } } or nil }

return {
  stop = function() mon:close() end,
}
