-- The moonpod contestant of the remediation bench (tests/bench/remediation.sh):
-- a `moonpod serve` policy that starts again every container labelled
-- bench_remediation=moonpod as soon as it dies. Nothing else: no grace
-- period, no backoff, so that what is measured is the event path and the
-- start request.
--
--   CONTAINER_HOST=unix://SOCKET moonpod serve tests/bench/remediation_policy.lua

local moonpod = require "moonpod"

return {
  name = "bench-remediation",
  events = { "die" },
  filters = { ["label.bench_remediation"] = "moonpod" },
  on_event = function(ev, client)
    -- the bench removes its containers with force at the end: those are gone
    local ok, err = pcall(client.start_container, client, ev.container_id)
    if not ok and not moonpod.is_error(err, "not_found") and not moonpod.is_error(err, "conflict") then
      moonpod.log.warn("start %s: %s", ev.container_id:sub(1, 12), tostring(err))
    end
  end,
}
