--- moonpod.serve: the service's own state (not a policy's): opens the
-- event stream that every policy's listener shares (src/serve.c).

local core = require "moonpod.core"

local M = {}

local shared = {}

--- serve.host(start): connects to the engine, shares its event stream,
--- then calls start() to start the policies. Without an engine the
--- policies start anyway and connect (and fail) on their own.
function M.host(start)
  local ok, client = pcall(core.connect)
  if ok then
    -- a service keeps trying: the stream comes back whenever the engine does
    local source = core.event_source(client,
      { auto_reconnect = true, reconnect_delay = 1, max_reconnect_attempts = -1 })
    source:share()
    shared.client, shared.source = client, source
    core.log.info("serve: one event stream from %s (%s), shared by every policy", client.endpoint, client.runtime)
  else
    core.log.warn("serve: no engine answers (%s); each policy connects on its own", tostring(client))
  end
  start()
end

--- serve.stats() -> the shared stream's counters, or nil without an engine
function M.stats()
  return shared.source and shared.source:stats()
end

return M
