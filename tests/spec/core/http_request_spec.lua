-- moonpod.http.request, the HTTP client scripts use for webhooks, against a
-- real HTTP server on loopback (tests/helpers/webhook_receiver.py); and the
-- notify module's webhook retries built on it.

local moonpod = require "moonpod"
local receiver = require "helpers.receiver"

local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

describe("moonpod.http.request", function()
  local r

  setup(function()
    r = receiver.start(("%s/http-request-%d"):format(TMP, math.floor(moonpod.now() * 1000)), 2)
  end)

  teardown(function() r.stop() end)

  it("sends the method, headers and body and returns status, headers and body", function()
    local res = moonpod.http.request {
      method = "PUT", url = r.base .. "/echo", body = "hello",
      headers = { ["X-Token"] = "abc", ["Content-Type"] = "text/plain" },
    }
    assert.are.equal(200, res.status)
    assert.are.equal("application/json", res.headers["content-type"])
    assert.are.equal(tostring(#res.body), res.headers["content-length"])
    assert.matches("^BaseHTTP", res.headers.server)
    local echo = moonpod.json.decode(res.body)
    assert.are.equal("PUT", echo.method)
    assert.are.equal("/echo", echo.path)
    assert.are.equal("hello", echo.body)
    assert.are.equal("abc", echo.headers["x-token"])
    assert.are.equal("text/plain", echo.headers["content-type"])
  end)

  it("GETs by default and POSTs when there is a body", function()
    assert.are.equal("GET", moonpod.json.decode(moonpod.http.request { url = r.base .. "/e" }.body).method)
    assert.are.equal("POST", moonpod.json.decode(moonpod.http.request { url = r.base .. "/e", body = "{}" }.body).method)
  end)

  it("returns an error status as a response, not an error", function()
    local res = moonpod.http.request { url = r.base .. "/status/503" }
    assert.are.equal(503, res.status)
    assert.are.equal("status 503", res.body)
    assert.are.equal(404, moonpod.http.request { url = r.base .. "/status/404" }.status)
  end)

  it("raises a timeout error when the answer is late", function()
    local t0 = moonpod.monotonic()
    local ok, err = pcall(moonpod.http.request, { url = r.base .. "/slow/5", timeout = 0.3 })
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err, "timeout"), tostring(err))
    assert.is_true(moonpod.monotonic() - t0 < 4)
  end)

  it("raises a connection error when nothing listens", function()
    local ok, err = pcall(moonpod.http.request, { url = "http://127.0.0.1:1/", timeout = 5 })
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err, "connection"), tostring(err))
    assert.matches("127.0.0.1:1", err.message, 1, true)
  end)

  it("refuses a response larger than max_body with a clear error", function()
    local ok, err = pcall(moonpod.http.request, { url = r.base .. "/big/5000", max_body = 1000 })
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err, "protocol"), tostring(err))
    assert.matches("larger than max_body", err.message, 1, true)
    assert.are.equal(5000, #moonpod.http.request { url = r.base .. "/big/5000", max_body = 5000 }.body)
  end)

  it("joins a repeated response header and keeps a bounded number of them", function()
    local few = moonpod.http.request { url = r.base .. "/headers/2" }
    assert.are.equal("v1", few.headers["x-many-1"])
    assert.are.equal("a=1, b=2", few.headers["set-cookie"])
    local many = moonpod.http.request { url = r.base .. "/headers/500" }
    assert.are.equal(200, many.status)
    local n = 0
    for _ in pairs(many.headers) do n = n + 1 end
    assert.are.equal(64, n)
    assert.are.equal("v0", many.headers["x-many-0"])
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() moonpod.http.request { url = "ftp://x" } end)
    assert.has_error(function() moonpod.http.request { url = r.base, method = "get me" } end)
    assert.has_error(function() moonpod.http.request { url = r.base, headers = { ["X-A"] = "a\r\nX-B: b" } } end)
    assert.has_error(function() moonpod.http.request { url = r.base, timeout = -1 } end)
    assert.has_error(function() moonpod.http.request { url = r.base, body = {} } end)
  end)

  it("lets other tasks run while it waits", function()
    local ticks = 0
    local t = moonpod.spawn(function()
      for _ = 1, 5 do moonpod.sleep(0.05); ticks = ticks + 1 end
    end)
    moonpod.http.request { url = r.base .. "/slow/0.6" }
    assert.are.equal(5, ticks)
    t:join()
  end)

  it("notify.webhook retries a refusing receiver with backoff until it takes the alert", function()
    local notify = require "moonpod.notify"
    local alert, hook = notify.alerter { policy = "spec", webhook = { url = r.url, backoff = 0.1, retries = 4 } }
    alert { event = "tested", container = "c1" }
    assert.is_true(r.wait_posts(1, 10))
    local post = r.posts()[1]
    assert.are.equal("tested", post.event)
    assert.are.equal("spec", post.policy)
    assert.are.equal(2, r.refused())
    -- the receiver has the POST before the sender has the answer
    assert.is_true(require("helpers.engine").wait_for(function() return hook.stats.sent == 1 end, 10))
    assert.are.equal(3, hook.stats.attempts)
  end)

  it("notify.webhook gives up after its retries and counts the failure", function()
    local notify = require "moonpod.notify"
    local hook = notify.webhook { url = r.base .. "/status/500", backoff = 0.05, retries = 2 }
    hook { event = "lost" }
    assert.is_true(require("helpers.engine").wait_for(function() return hook.stats.failed == 1 end, 10))
    assert.are.equal(3, hook.stats.attempts)
    assert.are.equal(0, hook.stats.sent)
  end)
end)
