--- moonpod: drive Podman and Docker from Lua.
--
-- `local moonpod = require "moonpod"`. The C core (src/) provides the
-- engine client, tasks, timers, JSON and logging; this module is the public
-- face and the place for the parts written in Lua.

local core = require "moonpod.core"

local moonpod = {}
for name, value in pairs(core) do
  moonpod[name] = value
end
moonpod.multi = function(configs) return require("moonpod.multi").new(configs) end -- loaded on first use

return moonpod
