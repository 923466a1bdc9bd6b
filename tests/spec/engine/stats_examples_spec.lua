-- The specification's HealthMonitor and MetricsCollector examples
-- (scripts/examples) against a real engine.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

describe("stats examples on " .. engine.name .. " #children", function()
  local made = {}

  teardown(function()
    if #made > 0 then engine.remove(table.unpack(made)) end
  end)

  local function burner(tag)
    local name = engine.unique(tag)
    made[#made + 1] = name
    engine.container { name = name, cmd = "yes > /dev/null" }
    return name
  end

  it("health_monitor reports a container over its CPU threshold", function()
    local name = burner("hot")
    -- a low threshold: on a loaded 2-CPU machine `yes` may get well under one CPU
    local r = moonpod.run({ BIN, "scripts/examples/health_monitor.lua", "6", "5" }, { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^watching %d+ running container%(s%) on " .. engine.name, r.stdout)
    assert.matches("unhealthy container detected: " .. name:gsub("%p", "%%%0") .. " %(cpu [%d.]+%%", r.stdout)
  end)

  it("metrics_collector collects at start and summarises the run at the end", function()
    local probe = moonpod.http_server {} -- a free port for the script's /metrics
    local port = probe:port()
    probe:close()
    local run = moonpod.spawn(moonpod.run, { BIN, "scripts/examples/metrics_collector.lua", "12", tostring(port) },
      { timeout = 60 })
    moonpod.sleep(1.5)
    local name = burner("coll")
    -- stopped once the script has sampled it (a busy engine can take seconds)
    local sampled = engine.wait_for(function()
      local r = moonpod.run { "curl", "-s", "http://127.0.0.1:" .. port .. "/metrics" }
      return r.stdout:find('name="' .. name .. '"', 1, true) ~= nil
    end, 9)
    engine.cli("kill", name)
    assert.is_true(sampled, "the script's /metrics shows the container")
    local r = run:join()
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("metrics on http://127%.0%.0%.1:%d+/metrics", r.stdout)
    assert.matches("start " .. name:gsub("%p", "%%%0") .. ": memory %d+ bytes", r.stdout)
    local n, avg = r.stdout:match("die " .. name:gsub("%p", "%%%0") .. ": (%d+) sample%(s%), cpu avg ([%d.]+)%%")
    assert.is_string(n, r.stdout)
    assert.is_true(tonumber(n) >= 1)
    assert.is_true(tonumber(avg) > 5, "a burner's CPU: " .. avg)
  end)
end)
