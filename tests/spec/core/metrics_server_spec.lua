-- The HTTP server behind /metrics and /healthz, without any engine: what
-- it answers, what it refuses (and counts), keep-alive, and the text
-- exposition format checked by promtool.

local moonpod = require "moonpod"
local metrics_server = require "moonpod.metrics_server"

local function curl(...)
  return moonpod.run({ "curl", "-s", "-o", "-", "-w", "\n%{http_code}", ... }, { timeout = 30 })
end

local function split(r)
  return r.stdout:match("^(.*)\n(%d+)$")
end

describe("metrics server", function()
  local server, calls
  local text = moonpod.metrics_text {
    { name = "demo_total", type = "counter", help = "A demo counter.", samples = { { labels = { who = "a" }, value = 3 } } },
  }

  before_each(function()
    calls = 0
    server = metrics_server.start {
      collect = function() calls = calls + 1; return text end,
    }
  end)

  after_each(function() server:close() end)

  local function url(path) return "http://127.0.0.1:" .. server.port .. path end

  it("serves /metrics with the exposition content type and /healthz", function()
    local r = moonpod.run { "curl", "-s", "-i", url("/metrics") }
    assert.matches("HTTP/1.1 200 OK\r\n", r.stdout, 1, true)
    assert.matches("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", r.stdout, 1, true)
    assert.matches('demo_total{who="a"} 3\n', r.stdout, 1, true)
    local body, code = split(curl(url("/healthz")))
    assert.are.equal("200", code)
    assert.are.equal("ok\n", body)
    assert.are.equal(1, calls)
  end)

  it("answers 404 for other paths and 405 for other methods; HEAD has no body", function()
    assert.are.equal("404", select(2, split(curl(url("/other")))))
    assert.are.equal("405", select(2, split(curl("-X", "DELETE", url("/metrics")))))
    local r = moonpod.run { "curl", "-s", "-I", url("/metrics") }
    assert.matches("^HTTP/1.1 200", r.stdout)
    assert.not_matches("demo_total", r.stdout)
  end)

  it("keeps a connection alive across requests", function()
    local r = moonpod.run { "curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n", url("/metrics"), url("/healthz") }
    assert.are.equal("1\n0\n", r.stdout)
  end)

  it("refuses request bodies and oversized heads, and counts them", function()
    assert.are.equal("413", select(2, split(curl("--data", "x=1", url("/metrics")))))
    assert.are.equal("431", select(2, split(curl("-H", "X-Big: " .. ("a"):rep(10000), url("/metrics")))))
    local s = server:stats()
    assert.are.equal(1, s.bad_requests)
    assert.are.equal(1, s.too_large)
    assert.are.equal(0, calls)
  end)

  it("answers 500 when the collector fails, and goes on", function()
    server:close()
    server = metrics_server.start { collect = function() error("collector broke") end }
    assert.are.equal("500", select(2, split(curl(url("/metrics")))))
    assert.are.equal("200", select(2, split(curl(url("/healthz")))))
    assert.are.equal(1, server:stats().errors)
  end)

  it("refuses an address that is not an IP", function()
    assert.has_error(function() metrics_server.start { host = "not an ip", collect = function() return "" end } end)
  end)
end)

describe("metrics_text", function()
  it("escapes label values and help, and promtool accepts the result", function()
    local t = moonpod.metrics_text {
      { name = "odd_value", type = "gauge", help = "back\\slash and\nnewline",
        samples = { { labels = { v = 'quote " back \\ nl \n end' }, value = 1.5 }, { value = 0 / 0 } } },
      { name = "big_total", type = "counter", samples = { { value = 2 ^ 60 } } },
    }
    assert.matches('odd_value{v="quote \\" back \\\\ nl \\n end"} 1.5\n', t, 1, true)
    assert.matches("odd_value NaN\n", t, 1, true)
    assert.matches("# HELP odd_value back\\\\slash and\\nnewline\n", t, 1, true)
    local r = moonpod.run({ "promtool", "check", "metrics" }, { stdin = t })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("refuses bad names, types and values", function()
    assert.has_error(function() moonpod.metrics_text { { name = "bad-name", samples = {} } } end)
    assert.has_error(function() moonpod.metrics_text { { name = "ok", type = "histogram", samples = {} } } end)
    assert.has_error(function() moonpod.metrics_text { { name = "ok", samples = { { value = "x" } } } } end)
    assert.has_error(function() moonpod.metrics_text { { name = "ok", samples = { { labels = { ["a-b"] = 1 }, value = 1 } } } } end)
  end)
end)
