-- Remediation latency on a real engine (tests/bench/remediation.sh): how
-- long a container killed with SIGKILL stays down before whatever
-- remediates it (moonpod serve's policy, the engine's own restart policy,
-- a polling loop: started by the driver, not here) has it running again.
--
--   moonpod tests/bench/remediation.lua SOCKET IMAGE CONTESTANT CONTAINERS KILLS RUN_S [JITTER_S]
--
-- Makes CONTAINERS idle containers labelled bench_remediation=CONTESTANT
-- (with restart_policy "always" when CONTESTANT is "engine"), then kills
-- their main process with SIGKILL from the host, as a crash or the OOM
-- killer would (`docker kill` would not do: Docker marks a container it
-- was asked to kill as stopped by hand, and its restart policy leaves it
-- down; so this needs root). They are killed in turn, one at a time,
-- KILLS times in all: each only once it has
-- run RUN_S seconds since its last start (so that Docker's restart backoff
-- is back to its first step), and the next kill only once the previous
-- container runs again. Latency: from just before the kill request to the
-- engine's own timestamp on the container's next start event, read by a
-- listener filtered to the label in C. Not "restart": Podman logs that
-- when its restart policy begins to act, some 70 ms before the container
-- runs again (and Docker logs none for its policy's restarts). JITTER_S (default
-- 0) delays each kill by a random 0..JITTER_S s more: for a polling remedy
-- (JITTER_S = its period), so that kills land at random points of its
-- cycle rather than always just after the tick that restarted the
-- previous container (which would measure its worst case only).
-- Prints "kills N",
-- "missed N" (not running again within 30 s), "p50_us", "p99_us",
-- "max_us", and "latency_us" lines, one per kill; removes its containers.

local moonpod = require "moonpod"
local events = require "moonpod.events"

local sock, image, contestant = arg[1], arg[2], arg[3]
local n_containers, kills, run_s = tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6])
local jitter = tonumber(arg[7] or "0")
assert(sock and image and contestant and n_containers and kills and run_s,
  "usage: remediation.lua SOCKET IMAGE CONTESTANT CONTAINERS KILLS RUN_S")

local WAIT_S = 30 -- the slowest remedy (the 5 s poll) is well under this

local client = moonpod.connect { socket_path = sock }
local tag = ("rem%d"):format(math.floor(moonpod.now() * 1000) % 100000000)
local last_start = {} -- id -> engine timestamp of its latest start

local listener = events.listener {
  client = client, event_types = { events.CONTAINER_START },
  container_filters = { ["label.bench_remediation"] = contestant },
  discover_existing_containers = false, sync_on_startup = false,
}
listener:add_event_handler(function(ev)
  if (last_start[ev.container_id] or 0) < ev.timestamp then last_start[ev.container_id] = ev.timestamp end
end)
listener:start()
moonpod.sleep(0.2) -- the stream is open

local ids = {}
for i = 1, n_containers do
  ids[i] = client:create_container {
    name = ("%s-%s-%d"):format(tag, contestant, i), image = image, network = "none",
    cmd = { "sh", "-c", "while true; do sleep 1; done" },
    labels = { bench_remediation = contestant },
    restart_policy = contestant == "engine" and "always" or nil,
  }
  client:start_container(ids[i])
end

local function wait_until(pred, seconds)
  local deadline = moonpod.monotonic() + seconds
  while not pred() do
    if moonpod.monotonic() > deadline then return false end
    moonpod.sleep(0.005)
  end
  return true
end

local lat, missed = {}, 0
for k = 1, kills do
  local id = ids[(k - 1) % #ids + 1]
  assert(wait_until(function() return last_start[id] ~= nil end, WAIT_S), "no start event for " .. id)
  -- the kill comes RUN_S after the engine says it started
  local due = last_start[id] + run_s
  if due > moonpod.now() then moonpod.sleep(due - moonpod.now()) end
  if jitter > 0 then moonpod.sleep(math.random() * jitter) end
  local pid = tostring(client:get_container(id).raw.State.Pid)
  local t_kill = moonpod.now()
  local r = moonpod.run { "kill", "-KILL", pid }
  assert(r.status == 0, "kill -KILL " .. pid .. ": " .. r.stderr)
  if wait_until(function() return last_start[id] > t_kill end, WAIT_S) then
    lat[#lat + 1] = last_start[id] - t_kill
  else
    missed = missed + 1
    io.stderr:write(("kill %d: %s not running again after %d s\n"):format(k, id:sub(1, 12), WAIT_S))
    client:start_container(id)
    if missed >= 3 then break end -- the remedy does not work here: no use going on
  end
end
listener:stop()
for _, id in ipairs(ids) do pcall(client.remove_container, client, id, { force = true }) end

local sorted = {}
for i, v in ipairs(lat) do sorted[i] = v end
table.sort(sorted)
local function pct(p) return #sorted > 0 and sorted[math.max(1, math.ceil(#sorted * p))] * 1e6 or -1 end
print("kills " .. #lat)
print("missed " .. missed)
print(("p50_us %.0f"):format(pct(0.5)))
print(("p99_us %.0f"):format(pct(0.99)))
print(("max_us %.0f"):format(pct(1)))
for _, v in ipairs(lat) do print(("latency_us %.0f"):format(v * 1e6)) end
