#!/usr/bin/env moonpod
-- Container statistics streaming (the specification's "Streaming
-- Operations" example): one stats stream for one container, a line per
-- sample as the engine sends it.
--
--   moonpod scripts/examples/stats_stream.lua CONTAINER [samples]
--
-- CONTAINER is a name or id. Stops after `samples` samples (default: when
-- the container stops or on Ctrl-C); breaking out of the loop closes the
-- stream.

local moonpod = require "moonpod"

local target = arg[1]
if not target then
  io.stderr:write("usage: moonpod scripts/examples/stats_stream.lua CONTAINER [samples]\n")
  os.exit(2)
end
local limit = tonumber(arg[2])

local client = moonpod.connect()
local c = client:get_container(target)
print(("streaming stats of %s (%s) on %s"):format(c.name, c.id:sub(1, 12), client.runtime))
io.stdout:flush()

local n = 0
for s in client:get_container_stats(c.id, { stream = true }) do
  n = n + 1
  print(("CPU: %.1f%%  memory: %d / %d bytes (%.1f%%)  pids: %d"):format(s.cpu_percent, s.memory_usage_bytes,
    s.memory_limit_bytes, s.memory_percent, s.pids))
  io.stdout:flush()
  if limit and n >= limit then break end
end
print(("%d sample(s)"):format(n))
