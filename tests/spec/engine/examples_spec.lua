-- The example scripts run against a real engine and say what they should.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

describe("scripts/examples on " .. engine.name, function()
  local name = engine.unique("example")

  setup(function()
    engine.container { name = name, labels = { shown = "yes" } }
  end)

  teardown(function()
    engine.remove(name)
  end)

  it("basic_operations lists the containers with their status", function()
    local r = moonpod.run({ BIN, "scripts/examples/basic_operations.lua" }, { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^connected to " .. engine.name, r.stdout)
    local line = r.stdout:match("\n%s*(" .. name:gsub("%p", "%%%0") .. "[^\n]*)")
    assert.is_string(line, r.stdout)
    assert.matches("running", line)
    assert.matches("shown=yes", line)
  end)

  it("listener_performance counts the events it saw while it listened", function()
    local run = moonpod.spawn(moonpod.run, { BIN, "scripts/examples/listener_performance.lua", "3" }, { timeout = 60 })
    moonpod.sleep(1) -- the listener is up
    for _ = 1, 3 do
      engine.cli("pause", name)
      engine.cli("unpause", name)
    end
    local r = run:join()
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Events/sec: %d+%.%d%d", r.stdout)
    assert.matches("Buffer utilization: 0%.0%%", r.stdout)
    local processed = tonumber(r.stdout:match("processed (%d+)"))
    assert.is_true(processed >= 6, r.stdout)
    assert.matches("dropped 0, handler errors 0, reconnects 0", r.stdout)
  end)
end)
