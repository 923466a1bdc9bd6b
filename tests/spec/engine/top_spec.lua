-- moonpod top's data in a real terminal (tmux) against the engine under
-- test: the columns, the sparklines and the sorting keys. (Opening, a late
-- container, resizing and q are in repl_spec.lua.)

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local tmux = require "helpers.tmux"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

local UNITS = { B = 1, KiB = 1024, MiB = 1024 ^ 2, GiB = 1024 ^ 3 }

local function bytes(text)
  local n, unit = text:match("^([%d.]+) (%a+)$")
  return tonumber(n) * assert(UNITS[unit], "unknown unit in " .. text)
end

-- The sparkline starting `from` (a byte offset) in line: its `cells`
-- characters.
local function cells_at(line, from, cells)
  local out = {}
  for _, code in utf8.codes(line:sub(from)) do
    if #out == cells then break end
    out[#out + 1] = utf8.char(code)
  end
  return table.concat(out)
end

local function glyphs(spark)
  local out = {}
  for _, code in utf8.codes(spark) do
    if code ~= 32 then out[#out + 1] = utf8.char(code) end
  end
  return out
end

-- The row of container `name` on the screen, its columns parsed; nil when
-- it is not there or has no sample yet. The sparklines are 30 cells wide
-- in a terminal 200 columns wide.
local function row_of(screen, name)
  for line in (screen .. "\n"):gmatch("([^\n]*)\n") do
    local rest = line:match("^" .. name:gsub("%p", "%%%0") .. "%s+(.*)$")
    if rest then
      local status, cpu, mem, mem_pct, rx, tx, rd, wr, pids, at = rest:match(
        "^(%a+)%s+([%d.]+)%s+([%d.]+ %a+)%s+([%d.]+)%s+([%d.]+ %a+)/([%d.]+ %a+)%s+([%d.]+ %a+)/([%d.]+ %a+)%s+(%d+) ()")
      if not status then return nil end
      local cpu_spark = cells_at(rest, at, 30)
      return {
        status = status, cpu = tonumber(cpu), mem = bytes(mem), mem_percent = tonumber(mem_pct),
        rx = bytes(rx), tx = bytes(tx), read = bytes(rd), write = bytes(wr), pids = tonumber(pids),
        cpu_spark = cpu_spark, mem_spark = cells_at(rest, at + #cpu_spark + 1, 30),
      }
    end
  end
end

-- The names in `names` in the order the screen shows them.
local function order(screen, names)
  local seen = {}
  for line in (screen .. "\n"):gmatch("([^\n]*)\n") do
    for _, n in ipairs(names) do
      if line:sub(1, #n + 1) == n .. " " then seen[#seen + 1] = n end
    end
  end
  return seen
end

describe("moonpod top's columns on " .. engine.name .. " #children", function()
  -- names sort as busy < heavy < idle < made
  local busy = engine.unique("top-1busy")
  local heavy = engine.unique("top-2heavy")
  local idle = engine.unique("top-3idle")
  local made = engine.unique("top-4made")
  local mine = { busy, heavy, idle, made }
  local s, home

  setup(function()
    engine.container { name = busy, cmd = "yes > /dev/null" }
    -- 40 MiB in a tmpfs count as the container's memory; a direct write
    -- is block I/O on both engines
    engine.container { name = heavy, cmd = "dd if=/dev/zero of=/dev/shm/m bs=1M count=40 2>/dev/null; "
      .. "dd if=/dev/zero of=/big bs=1M count=8 oflag=direct 2>/dev/null; echo ready; exec sleep 1000" }
    engine.container { name = idle, cmd = "exec sleep 1000" }
    engine.container { name = made, create_only = true }
    -- top starts once heavy is quiet, so no cell of its history shows the writes
    assert.is_true(engine.wait_for(function() return engine.cli("logs", heavy):find("ready", 1, true) ~= nil end, 30))
    home = (os.getenv("MOONPOD_TEST_TMP") or "/tmp") .. "/" .. engine.unique("home")
    assert(moonpod.run({ "mkdir", "-p", home }).ok)
    s = tmux.start({ BIN, "top", "--interval", "0.3" }, {
      cols = 200, rows = 150, env = { CONTAINER_HOST = "unix://" .. engine.socket(), HOME = home },
    })
  end)

  teardown(function()
    if s then
      s:keys("q")
      s:wait_exit()
      s:kill()
    end
    engine.remove(busy, heavy, idle, made)
    if home then moonpod.run { "rm", "-rf", home } end
  end)

  it("shows CPU, memory, network and block I/O, and CPU sparklines from the history", function()
    -- other tests share the machine's CPUs: the burner may get little of
    -- them for a while, so the view is watched until it has had its share
    local function raised(spark)
      local n = 0
      for _, g in ipairs(glyphs(spark)) do
        if g ~= "▁" then n = n + 1 end
      end
      return n
    end
    local ok, screen = s:wait(function(sc)
      local b, h, i = row_of(sc, busy), row_of(sc, heavy), row_of(sc, idle)
      return b and h and i and #glyphs(b.cpu_spark) >= 3 and #glyphs(h.cpu_spark) >= 3 and #glyphs(i.cpu_spark) >= 3
        and b.cpu >= 10 and raised(b.cpu_spark) >= 1
    end, 40)
    assert.is_true(ok, screen)
    local b, h, i = row_of(screen, busy), row_of(screen, heavy), row_of(screen, idle)
    -- a CPU burner next to two sleepers
    assert.is_true(b.cpu >= 10, screen)
    assert.is_true(h.cpu <= 3 and i.cpu <= 3, screen)
    assert.is_true(#glyphs(b.cpu_spark) <= 30)
    for _, g in ipairs(glyphs(h.cpu_spark)) do assert.are.equal("▁", g, screen) end
    for _, g in ipairs(glyphs(i.cpu_spark)) do assert.are.equal("▁", g, screen) end
    assert.is_true(raised(b.cpu_spark) >= 1, screen)
    -- memory: the 40 MiB in the tmpfs; block I/O: the 8 MiB written
    assert.is_true(h.mem >= 30 * 1024 ^ 2, screen)
    assert.is_true(b.mem < 20 * 1024 ^ 2 and i.mem < 20 * 1024 ^ 2, screen)
    assert.is_true(h.write >= 7 * 1024 ^ 2, screen)
    assert.is_true(#glyphs(h.mem_spark) >= 3, screen)
    -- no network (--network none); one process each
    for _, r in ipairs { b, h, i } do
      assert.are.same({ 0, 0, 1 }, { r.rx, r.tx, r.pids })
      assert.are.equal("running", r.status)
    end
    assert.matches(made:gsub("%p", "%%%0") .. "%s+created%s+%-%s+%-", screen)
  end)

  it("sorts by CPU, memory, status and name, and reverses with r", function()
    local function sorted_as(key, header, check)
      if key then s:keys(key) end
      local ok, screen = s:wait(function(sc)
        return sc:find("sort: " .. header .. " ", 1, true) ~= nil and check(order(sc, mine))
      end, 15)
      assert.is_true(ok, key .. ": " .. table.concat(order(screen, mine), " ") .. "\n" .. screen)
    end
    -- CPU: the burner first, the one without a sample last
    sorted_as("c", "cpu", function(o) return o[1] == busy and o[4] == made end)
    sorted_as("m", "memory", function(o) return o[1] == heavy and o[4] == made end)
    sorted_as("r", "memory reversed", function(o) return o[1] == made and o[4] == heavy end)
    sorted_as("c", "cpu reversed", function(o) return o[1] == made and o[4] == busy end)
    sorted_as("r", "cpu", function(o) return o[1] == busy and o[4] == made end)
    -- status: created before running, then by name
    sorted_as("s", "status", function(o) return table.concat(o, " ") == table.concat({ made, busy, heavy, idle }, " ") end)
    sorted_as("n", "name", function(o) return table.concat(o, " ") == table.concat(mine, " ") end)
    sorted_as("r", "name reversed", function(o) return table.concat(o, " ") == table.concat({ made, idle, heavy, busy }, " ") end)
  end)

  it("quits with q", function()
    s:keys("q")
    assert.are.equal(0, s:wait_exit(30))
  end)
end)
