-- Reads a container's whole log as a stream of lines.
--   moonpod tests/bench/logs.lua SOCKET CONTAINER
-- Iterates get_container_logs(id, { stream = true }) to the end, counting
-- lines and text bytes. Prints "lines <n>", "bytes <n>" and "read_us <µs>"
-- for the read alone (monotonic clock, connect left out).
local moonpod = require "moonpod"

local sock, id = arg[1], arg[2]
if not sock or not id then
  io.stderr:write("usage: moonpod tests/bench/logs.lua SOCKET CONTAINER\n")
  os.exit(2)
end

local client = moonpod.connect{ socket_path = sock }
local lines, bytes = 0, 0
local t0 = moonpod.monotonic()
for line in client:get_container_logs(id, { stream = true }) do
  lines = lines + 1
  bytes = bytes + #line.text
end
local elapsed = moonpod.monotonic() - t0
print(string.format("lines %d", lines))
print(string.format("bytes %d", bytes))
print(string.format("read_us %.1f", elapsed * 1e6))
