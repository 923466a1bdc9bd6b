-- N sequential list_containers calls in one process.
--   moonpod tests/bench/loop.lua N [SOCKET]
-- Prints the count of the last list, then "loop_us <µs>" for the N calls
-- alone, timed with the monotonic clock: connect (and its /_ping request)
-- is left out, as for the peers.
local moonpod = require "moonpod"

local n = math.tointeger(tonumber(arg[1] or ""))
if not n or n < 1 then
  io.stderr:write("usage: moonpod tests/bench/loop.lua N [SOCKET]\n")
  os.exit(2)
end

local client = moonpod.connect(arg[2] and { socket_path = arg[2] } or {})
local list
local t0 = moonpod.monotonic()
for _ = 1, n do
  list = client:list_containers{ all = true }
end
local elapsed = moonpod.monotonic() - t0
print(#list)
print(string.format("loop_us %.1f", elapsed * 1e6))
