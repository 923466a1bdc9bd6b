#!/usr/bin/env moonpod
-- Real-time event monitoring (the specification's "Event Monitoring"
-- example): a listener for container start and stop events that prints
-- each one as it comes, with the containers already there discovered first.
-- It also asks for "die": Podman sends no "stop" for a container that
-- exits by itself, nor always for one `podman stop` ends, but always a
-- "die" (its "died", normalised); Docker sends die then stop on a stop.
--
--   moonpod scripts/examples/event_monitor.lua [seconds] [max_events] [name]
--
-- Listens for `seconds` (default 60, as in the specification) or until
-- `max_events` events have been printed, whichever comes first, then
-- prints how many it saw. `name` keeps only the events of containers
-- whose name contains it (discovery still counts every container). Add
-- "kill", "pause"… to event_types for more (events.CONTAINER_KILL and the
-- like are the same strings).

local moonpod = require "moonpod"
local events = require "moonpod.events"

local seconds = tonumber(arg[1]) or 60
local max_events = tonumber(arg[2])
local name = arg[3]

local registry = require("moonpod.registry").new()
local listener = events.listener({
  event_types = { events.CONTAINER_START, events.CONTAINER_STOP, events.CONTAINER_DIE },
  container_filters = name and { name = name } or nil,
  discover_existing_containers = true,
}, registry)

local seen = 0
local done = false

listener:add_event_handler(function(ev)
  if done then return end
  seen = seen + 1
  print(("Container %s: %s"):format(ev.action, ev.container_name))
  io.stdout:flush()
  if max_events and seen >= max_events then done = true end
end)

listener:start()
print(("listening (%d container(s) known)"):format(registry:count()))
io.stdout:flush()

local deadline = moonpod.now() + seconds
while not done and moonpod.now() < deadline do
  moonpod.sleep(math.min(0.1, math.max(0, deadline - moonpod.now())))
end
listener:stop()
print(("%d event(s)"):format(seen))
