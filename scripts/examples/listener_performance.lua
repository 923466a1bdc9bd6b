#!/usr/bin/env moonpod
-- Monitor listener performance (the specification's "Resource Monitoring"
-- snippet for the event listener): listen for a while, then print the
-- processing rate and how full the event buffer is.
--
--   moonpod scripts/examples/listener_performance.lua [seconds]

local moonpod = require "moonpod"
local events = require "moonpod.events"

local config = { event_buffer_size = 5000, event_batch_size = 50, event_batch_timeout = 2.0 }
local listener <close> = events.listener(config)
local seen = 0
listener:add_event_handler(function() seen = seen + 1 end)
listener:start()

moonpod.sleep(tonumber(arg[1]) or 10)

local stats = listener:get_stats()
print(("Events/sec: %.2f"):format(stats.events_processed / stats.uptime_seconds))
print(("Buffer utilization: %.1f%%"):format(stats.event_buffer_size / config.event_buffer_size * 100))
print(("Received %d, processed %d, dropped %d, handler errors %d, reconnects %d"):format(
  stats.events_received, stats.events_processed, stats.events_dropped, stats.handler_errors, stats.reconnects))
