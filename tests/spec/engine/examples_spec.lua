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
end)
