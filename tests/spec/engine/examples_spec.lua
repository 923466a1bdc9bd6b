-- The example scripts run against a real engine and say what they should.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

describe("scripts/examples on " .. engine.name .. " #children", function()
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
    -- a running container's CPU and memory follow its line
    local after = r.stdout:sub(r.stdout:find(line, 1, true) + #line)
    assert.matches("^\n%s+CPU: %d+%.%d%%\n%s+Memory: %d+%.%d%%\n", after)
  end)

  it("event_monitor prints the start and die events of a container until it has seen enough", function()
    local other = engine.unique("evmon")
    engine.container { name = other, create_only = true }
    local run = moonpod.spawn(moonpod.run, { BIN, "scripts/examples/event_monitor.lua", "40", "3", other },
      { timeout = 60 })
    -- started and stopped until the script has seen three events: it may
    -- come up at any point of a start, a die and (maybe) a stop, and any
    -- three in a row hold a start and a die
    for _ = 1, 20 do
      if run:status() == "done" then break end
      engine.cli("start", other)
      engine.cli("stop", "-t", "0", other)
    end
    local r = run:join()
    engine.remove(other)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^listening %(%d+ container%(s%) known%)", r.stdout)
    local esc = other:gsub("%p", "%%%0")
    assert.matches("\nContainer start: " .. esc .. "\n", r.stdout)
    -- on Podman a stop is not always reported as such: a die always is
    assert.matches("\nContainer die: " .. esc .. "\n", r.stdout)
    assert.matches("\n3 event%(s%)\n$", r.stdout)
  end)

  it("event_monitor stops after its time with nothing to show", function()
    local r = moonpod.run({ BIN, "scripts/examples/event_monitor.lua", "1", "5", engine.unique("none") },
      { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    -- discovery knows every container (the setup's at least); the filter is on events
    local known = tonumber(r.stdout:match("^listening %((%d+) container%(s%) known%)\n0 event%(s%)\n$"))
    assert.is_true(known and known >= 1, r.stdout)
  end)

  it("stats_stream prints the samples of one container and stops after the count asked", function()
    local r = moonpod.run({ BIN, "scripts/examples/stats_stream.lua", name, "3" }, { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^streaming stats of " .. name:gsub("%p", "%%%0") .. " %(%x+%) on " .. engine.name, r.stdout)
    local n = 0
    for mem, pids in r.stdout:gmatch("\nCPU: %d+%.%d%%  memory: (%d+) / %d+ bytes %([%d.]+%%%)  pids: (%d+)") do
      n = n + 1
      assert.is_true(tonumber(mem) > 0 and tonumber(pids) >= 1, r.stdout)
    end
    assert.are.equal(3, n, r.stdout)
    assert.matches("\n3 sample%(s%)\n$", r.stdout)
  end)

  it("stats_stream says what is wrong with a container that does not exist", function()
    local r = moonpod.run({ BIN, "scripts/examples/stats_stream.lua", engine.unique("absent") }, { timeout = 60 })
    assert.are_not.equal(0, r.status)
    assert.matches("not_found", r.stderr)
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
