-- Event latency on a real engine (tests/bench/events.sh): the time from
-- the engine's own timestamp on a container's start event to moonpod's
-- handler running, over N starts.
--
--   moonpod tests/bench/events_latency.lua SOCKET IMAGE N
--
-- Twenty containers running `true` are started in turn (each waited for,
-- so the next start is not refused), and a listener filtered to them in C
-- reads the start events. Prints "starts N", "p50_us", "p99_us", "max_us".

local moonpod = require "moonpod"
local events = require "moonpod.events"

local sock, image, n = arg[1], arg[2], tonumber(arg[3])
assert(sock and image and n, "usage: events_latency.lua SOCKET IMAGE N")

local client = moonpod.connect { socket_path = sock }
local tag = ("lat%d"):format(math.floor(moonpod.now() * 1000) % 100000000)
local ids = {}
for i = 1, 20 do
  ids[i] = client:create_container { name = tag .. "-" .. i, image = image, network = "none",
                                     cmd = { "true" }, labels = { bench_latency = tag } }
end

local lat = {}
local listener = events.listener {
  client = client, event_types = { events.CONTAINER_START },
  container_filters = { ["label.bench_latency"] = tag },
  discover_existing_containers = false, sync_on_startup = false,
}
listener:add_event_handler(function(ev) lat[#lat + 1] = moonpod.now() - ev.timestamp end)
listener:start()
moonpod.sleep(0.2) -- the stream is open

for i = 1, n do
  local id = ids[(i - 1) % #ids + 1]
  client:start_container(id)
  client:wait_container(id)
end
local deadline = moonpod.monotonic() + 10
while #lat < n and moonpod.monotonic() < deadline do moonpod.sleep(0.01) end
listener:stop()
for _, id in ipairs(ids) do client:remove_container(id, { force = true }) end

table.sort(lat)
local function pct(p) return lat[math.max(1, math.ceil(#lat * p))] * 1e6 end
print("starts " .. #lat)
print(("p50_us %.0f"):format(pct(0.5)))
print(("p99_us %.0f"):format(pct(0.99)))
print(("max_us %.0f"):format(lat[#lat] * 1e6))
