-- Cold start: connect, list every container once, print how many.
--   moonpod tests/bench/cold.lua [SOCKET]
-- Without SOCKET the endpoint is auto-detected (CONTAINER_HOST, DOCKER_HOST, ...).
local moonpod = require "moonpod"

local client = moonpod.connect(arg[1] and { socket_path = arg[1] } or {})
print(#client:list_containers{ all = true })
