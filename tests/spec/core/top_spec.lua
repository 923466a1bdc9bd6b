-- moonpod top's parts that need no engine: sorting rows, the sparklines'
-- time line, the command line, and the terminal module's reference.

local top = require "moonpod.top"

local function row(name, status, cpu, mem)
  return { c = { name = name, status = status }, s = cpu and { cpu_percent = cpu, memory_usage_bytes = mem } or nil }
end

local function names(rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.c.name end
  return out
end

describe("moonpod top's sorting", function()
  local function rows()
    return {
      row("web", "running", 5.0, 300),
      row("db", "running", 80.0, 100),
      row("old", "exited"),
      row("cache", "running", 5.0, 900),
      row("new", "created"),
      row("api", "paused", 0.0, 200),
    }
  end

  it("c and m: highest first, rows without a sample last, ties by name", function()
    assert.are.same({ "db", "cache", "web", "api", "new", "old" }, names(top.sorted(rows(), "c", false)))
    assert.are.same({ "cache", "web", "api", "db", "new", "old" }, names(top.sorted(rows(), "m", false)))
  end)

  it("n and s: alphabetical, status ties by name", function()
    assert.are.same({ "api", "cache", "db", "new", "old", "web" }, names(top.sorted(rows(), "n", false)))
    assert.are.same({ "new", "old", "api", "cache", "db", "web" }, names(top.sorted(rows(), "s", false)))
  end)

  it("reverse turns the order around, ties still by name", function()
    assert.are.same({ "new", "old", "api", "cache", "web", "db" }, names(top.sorted(rows(), "c", true)))
    assert.are.same({ "new", "old", "db", "api", "web", "cache" }, names(top.sorted(rows(), "m", true)))
    assert.are.same({ "web", "old", "new", "db", "cache", "api" }, names(top.sorted(rows(), "n", true)))
    assert.are.same({ "cache", "db", "web", "api", "old", "new" }, names(top.sorted(rows(), "s", true)))
  end)

  it("sorts in place and returns the same table", function()
    local t = rows()
    assert.are.equal(t, top.sorted(t, "n", false))
  end)
end)

describe("moonpod top's sparklines", function()
  it("cells start at the finest step and double as the history grows, up to the window", function()
    assert.are.equal(1, top.spark_step(0, 1, 30, 480))
    assert.are.equal(1, top.spark_step(30, 1, 30, 480))
    assert.are.equal(2, top.spark_step(31, 1, 30, 480))
    assert.are.equal(8, top.spark_step(200, 1, 30, 480))
    assert.are.equal(16, top.spark_step(10000, 1, 30, 480))
    -- a window that is not a power of two of the interval: capped at it
    assert.are.equal(480 / 25, top.spark_step(10000, 1, 25, 480))
    assert.are.equal(5, top.spark_step(100, 5, 30, 480))
  end)

  it("places points on a time line ending with the slot of now", function()
    local points = {
      { timestamp = 90, cpu_percent = 1 },  -- before the first cell
      { timestamp = 96, cpu_percent = 10 },
      { timestamp = 98, cpu_percent = 30 },
      { timestamp = 100, cpu_percent = 50 }, -- the slot of now (101.5)
    }
    assert.are.same({ [1] = 10, [2] = 30, [3] = 50 }, top.cells(points, "cpu_percent", 101.5, 2, 3))
    assert.are.same({ [2] = 10, [3] = 30 }, top.cells(points, "cpu_percent", 99, 2, 3))
    assert.are.same({}, top.cells({ { timestamp = 100 } }, "cpu_percent", 100, 1, 5))
  end)

  it("draws one cell per value, blank where there is none", function()
    assert.are.equal("▁▅█", top.sparkline({ 0, 50, 100 }, 3, 100))
    assert.are.equal("  ▁ █", top.sparkline({ [3] = 0, [5] = 100 }, 5, 100))
    assert.are.equal("▁▁▁", top.sparkline({ 0, 0, 0 }, 3))
    -- scaled to the largest when none is given, or when one goes over it
    assert.are.equal("▅█", top.sparkline({ 5, 10 }, 2))
    assert.are.equal("▅█", top.sparkline({ 100, 200 }, 2, 100))
    assert.are.equal("    ", top.sparkline({}, 4))
  end)
end)

describe("moonpod top's command line", function()
  it("takes --interval or -d, and NAME=URL engines", function()
    assert.are.same({ interval = 2 }, top.parse {})
    assert.are.same({ interval = 0.5 }, top.parse { "--interval", "0.5" })
    assert.are.same({ interval = 5 }, top.parse { "-d", "5" })
    assert.are.same({ interval = 2, engines = {
      p = { socket_path = "/run/p.sock" }, d = { remote_url = "tcp://h:2375" },
    } }, top.parse { "p=unix:///run/p.sock", "d=tcp://h:2375" })
  end)

  it("refuses a bad interval or an unknown argument with the usage", function()
    for _, args in ipairs { { "--interval" }, { "-d", "x" }, { "-d", "0" }, { "-d", "-1" }, { "-d", "4000" },
      { "--bogus" }, { "=x" } } do
      local ok, err = pcall(top.parse, args)
      assert.is_false(ok)
      assert.matches("^usage: moonpod top %[%-%-interval SECONDS", err)
    end
  end)

  it("refuses to run without a terminal", function()
    -- no stdin option: the child's stdin is /dev/null
    local r = require("moonpod").run({ os.getenv("MOONPOD_BIN") or "./moonpod", "top" }, { timeout = 30 })
    assert.are.equal(1, r.status)
    assert.matches("moonpod top needs a terminal", r.stderr)
  end)
end)

describe("moonpod.term in the API reference", function()
  it("documents what top uses of it, found by the function itself", function()
    local doc = require "moonpod.doc"
    local term = require "moonpod.term"
    for _, name in ipairs { "isatty", "size", "raw", "read_key" } do
      local e, section = doc.find(term[name])
      assert.is_table(e, name)
      assert.are.equal("term", section.name)
      assert.are.equal(1, e[1]:find("term." .. name .. "(", 1, true))
    end
    assert.matches("^%-%- term: ", doc.text("term"))
  end)
end)
