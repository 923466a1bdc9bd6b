-- The stats monitor watching many containers for a while.
--   moonpod tests/bench/monitor.lua SOCKET LABEL SECONDS [handler]
-- Watches the running containers carrying LABEL ("key=value") at a 1 s
-- interval with a day of history on, for SECONDS; with "handler", an
-- on_sample handler also sees every sample as a Lua table. Prints what it
-- took in: "containers N", "received N" (samples from the engine), "samples N"
-- (those kept in the history), "history_bytes N", "lua_bytes N".
local moonpod = require "moonpod"
local stats = require "moonpod.stats"

local sock, label, seconds, handler = arg[1], arg[2], tonumber(arg[3]), arg[4] == "handler"
if not sock or not label or not seconds then
  io.stderr:write("usage: moonpod tests/bench/monitor.lua SOCKET LABEL SECONDS [handler]\n")
  os.exit(2)
end

local mon = stats.monitor {
  client = moonpod.connect { socket_path = sock }, interval = 1, history = { retention = 86400 },
}
local seen = 0
if handler then mon:on_sample(function() seen = seen + 1 end) end
local n = mon:watch_all { filters = { label = { label } } }
moonpod.sleep(seconds)
local s = mon:stats()
print(("containers %d"):format(n))
print(("received %d"):format(s.samples_received))
print(("samples %d"):format(s.samples_kept))
print(("handled %d"):format(seen))
print(("history_bytes %d"):format(s.history_bytes))
print(("lua_bytes %d"):format(math.floor(collectgarbage("count") * 1024)))
mon:close()
