-- One-shot stats of many containers at once, one task per container.
--   moonpod tests/bench/stats.lua SOCKET LABEL
-- Lists the running containers carrying LABEL ("key=value"), then spawns one
-- task per container calling get_container_stats and joins them all. Prints
-- the number of samples, "mem_bytes <sum of memory_usage_bytes>" (proof the
-- samples were read) and "fetch_us <µs>" for the spawn-to-last-join span
-- alone, timed with the monotonic clock (connect and list are left out).
local moonpod = require "moonpod"

local sock, label = arg[1], arg[2]
if not sock or not label then
  io.stderr:write("usage: moonpod tests/bench/stats.lua SOCKET LABEL\n")
  os.exit(2)
end

local client = moonpod.connect{ socket_path = sock }
local ids = {}
for _, c in ipairs(client:list_containers{ filters = { label = label } }) do
  ids[#ids + 1] = c.id
end

local t0 = moonpod.monotonic()
local tasks = {}
for i, id in ipairs(ids) do
  tasks[i] = moonpod.spawn(client.get_container_stats, client, id)
end
local samples = {}
for i, task in ipairs(tasks) do
  samples[i] = task:join()
end
local elapsed = moonpod.monotonic() - t0

local mem = 0
for _, s in ipairs(samples) do mem = mem + (s.memory_usage_bytes or 0) end
print(#samples)
print(string.format("mem_bytes %d", mem))
print(string.format("fetch_us %.1f", elapsed * 1e6))
