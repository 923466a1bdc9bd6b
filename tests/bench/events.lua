-- moonpod consumer for the events throughput bench (tests/bench/events.sh).
--
--   moonpod tests/bench/events.lua SOCKET N [NAME_PREFIX]
--
-- A listener on SOCKET (the fake engine replaying a recorded stream) with a
-- handler that reads event.action and event.container_name. Without a
-- prefix every event reaches the handler; with one, the listener's C filter
-- keeps only containers whose name starts with it. Ends once N events have
-- come in from the engine and been handled or filtered. Prints "events N",
-- "handled N" and "read_us" for the time from start to the last event.

local moonpod = require "moonpod"
local events = require "moonpod.events"

local sock, n, prefix = arg[1], tonumber(arg[2]), arg[3]
assert(sock and n, "usage: events.lua SOCKET N [NAME_PREFIX]")

local client = moonpod.connect { socket_path = sock }
local listener = events.listener {
  client = client, event_buffer_size = 100000, auto_reconnect = false,
  discover_existing_containers = false, sync_on_startup = false,
  container_filters = prefix and { name = prefix } or nil,
}
local handled, chars = 0, 0
listener:add_event_handler(function(ev)
  handled = handled + 1
  chars = chars + #ev.action + #(ev.container_name or "")
end)
local t0 = moonpod.monotonic()
listener:start()
while true do
  local s = listener:get_stats()
  if s.events_received >= n and s.events_processed + s.events_filtered + s.events_dropped >= n then break end
  moonpod.sleep(0.001)
end
local elapsed = moonpod.monotonic() - t0
local s = listener:get_stats()
listener:stop()
print("events " .. s.events_received)
print("handled " .. handled)
print("dropped " .. s.events_dropped)
print(("read_us %.0f"):format(elapsed * 1e6))
assert(chars > 0 or handled == 0)
