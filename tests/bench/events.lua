-- moonpod consumer for the events throughput bench (tests/bench/events.sh).
--
--   moonpod tests/bench/events.lua SOCKET N [NAME_PREFIX]
--
-- A listener on SOCKET (the fake engine replaying a recorded stream) with a
-- handler that reads event.action and event.container_name. Without a
-- prefix every event reaches the handler; with one, the listener's C filter
-- keeps only containers whose name starts with it (one in 100 of the
-- bench's stream). Ends once all N events are handled, filtered out or
-- dropped (the reader got a whole buffer ahead of the handler). Prints
-- "events" (handled or filtered: the rate counts these), "handled",
-- "dropped" and "read_us" for the time from start to the end (to 20 ms).

local moonpod = require "moonpod"
local events = require "moonpod.events"

local sock, n, prefix = arg[1], tonumber(arg[2]), arg[3]
assert(sock and n, "usage: events.lua SOCKET N [NAME_PREFIX]")

local client = moonpod.connect { socket_path = sock }
local listener = events.listener {
  client = client, event_buffer_size = 10000, auto_reconnect = false,
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
-- every event is handled, filtered out or (when the handler falls behind
-- the reader by a whole buffer) dropped and counted
local s
repeat
  moonpod.sleep(0.02)
  s = listener:get_stats()
until s.events_processed + s.events_filtered + s.events_dropped >= n
local elapsed = moonpod.monotonic() - t0
listener:stop()
print("events " .. s.events_processed + s.events_filtered)
print("handled " .. handled)
print("dropped " .. s.events_dropped)
print(("read_us %.0f"):format(elapsed * 1e6))
assert(chars > 0)
