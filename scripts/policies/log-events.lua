-- A minimal policy for `moonpod serve`: logs every container that dies,
-- with its exit code, and how many containers run, once a minute.
--
--   moonpod serve scripts/policies/log-events.lua

local moonpod = require "moonpod"

return {
  events = { "die" },
  on_event = function(ev)
    moonpod.log.info("%s died (exit code %s)", ev.container_name or ev.container_id, tostring(ev.exit_code))
  end,
  every = {
    [60] = function(client)
      moonpod.log.info("%d containers running", #client:list_containers())
    end,
  },
}
