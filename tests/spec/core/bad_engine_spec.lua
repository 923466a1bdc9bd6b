-- Bad input from an engine: every fault gives an error object with the
-- right kind and a message a user understands — never a crash or a hang.
-- A real engine can't be made to misbehave on demand, so these use the
-- fault-injecting fake engine (tests/fake/fake_engine.c).

local moonpod = require "moonpod"

local fake_engine = require "helpers.fake"
local fake = fake_engine.start
local TMP = fake_engine.TMP

local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a failure")
  assert.is_true(moonpod.is_error(err), "expected an error object, got " .. tostring(err))
  return err
end

-- pcall(fn, ...) in a task: its results, or a failure of the test when it
-- is still waiting after `seconds` (instead of a test that hangs).
local function within(seconds, fn, ...)
  local task = moonpod.spawn(pcall, fn, ...)
  local over = { done = true, failed = true, cancelled = true }
  local deadline = moonpod.monotonic() + seconds
  while not over[task:status()] and moonpod.monotonic() < deadline do moonpod.sleep(0.05) end
  if not over[task:status()] then
    task:cancel()
    error(("still waiting after %g s"):format(seconds), 2)
  end
  return task:join()
end

describe("a misbehaving engine", function()
  local runners = {}
  local function engine(routes, cfg)
    local sock, runner = fake(routes)
    runners[#runners + 1] = runner
    cfg = cfg or {}
    cfg.socket_path = sock
    return moonpod.connect(cfg), sock
  end

  after_each(function()
    for _, r in ipairs(runners) do r:cancel() end
    runners = {}
  end)

  it("a missing socket is a connection error that says so", function()
    local err = failure(moonpod.connect, { socket_path = TMP .. "/no-engine-here.sock" })
    assert.are.equal("connection", err.kind)
    assert.matches("no such socket", err.message)
    assert.matches("no%-engine%-here%.sock", err.message)
    assert.is_nil(err.status_code)
  end)

  it("a socket nobody listens on is a connection error", function()
    local client, sock = engine()
    runners[1]:cancel()
    moonpod.sleep(0.05)
    local err = failure(client.list_containers, client)
    assert.are.equal("connection", err.kind)
    assert.matches(sock:gsub("%p", "%%%0"), err.message)
  end)

  it("a connection closed without an answer is a connection error", function()
    local client = engine { "/v1.41/containers=close" }
    local err = failure(client.list_containers, client)
    assert.are.equal("connection", err.kind)
    assert.matches("closed the connection", err.message)
    -- the client is still usable afterwards
    assert.is_true(client:ping())
  end)

  it("a body that is not JSON is a protocol error", function()
    local client = engine { "/v1.41/containers=garbage" }
    local err = failure(client.list_containers, client)
    assert.are.equal("protocol", err.kind)
    assert.matches("not JSON", err.message)
  end)

  it("a body shorter than its Content-Length is a protocol error", function()
    local client, sock = engine { "/v1.41/containers=truncate" }
    local err = failure(client.get_container, client, "x")
    assert.are.equal("protocol", err.kind)
    assert.matches("truncated", err.message)
    assert.matches(sock:gsub("%p", "%%%0"), err.message)
    -- the client is still usable afterwards
    assert.is_true(client:ping())
  end)

  it("an engine that never answers times out", function()
    local client = engine({ "/v1.41/containers=stall" }, { request_timeout = 0.3 })
    local t0 = moonpod.now()
    local err = failure(client.list_containers, client)
    assert.are.equal("timeout", err.kind)
    assert.is_true(moonpod.now() - t0 < 5)
  end)

  it("an error status keeps the engine's message and body", function()
    local client = engine { [[/v1.41/containers=status:500:{"message":"disk on fire"}]] }
    local err = failure(client.list_containers, client)
    assert.are.equal("api", err.kind)
    assert.are.equal(500, err.status_code)
    assert.matches("disk on fire", err.message)
    assert.are.equal("disk on fire", err.response_data.message)
  end)

  it("an error status with a body that is not JSON still explains itself", function()
    local client = engine { "/v1.41/containers=status:502:<html>bad gateway</html>" }
    local err = failure(client.list_containers, client)
    assert.are.equal("api", err.kind)
    assert.are.equal(502, err.status_code)
    assert.matches("bad gateway", err.message)
  end)

  it("a list that is not a list is a protocol error", function()
    local client = engine { [[/v1.41/containers/json=json:{"not":"a list"}]] }
    local err = failure(client.list_containers, client)
    assert.are.equal("protocol", err.kind)
  end)

  it("without API headers on /_ping, the version comes from /version", function()
    local sock, runner = fake({}, { "--no-api-headers" })
    runners[#runners + 1] = runner
    local client = moonpod.connect { socket_path = sock }
    assert.are.equal("docker", client.runtime)
    assert.are.equal("1.41", client.api_version)
  end)

  it("a /version that is not JSON then fails the connect", function()
    local sock, runner = fake({ "/version=garbage" }, { "--no-api-headers" })
    runners[#runners + 1] = runner
    local err = failure(moonpod.connect, { socket_path = sock })
    assert.are.equal("protocol", err.kind)
    assert.matches("not JSON", err.message)
  end)

  it("a response larger than the bound is cut and reported", function()
    local client = engine { "/v1.41/containers=huge" }
    local err = failure(client.list_containers, client)
    assert.are.equal("protocol", err.kind)
    assert.matches("larger than", err.message)
  end)

  it("a connect that never completes times out after connect_timeout", function()
    local port_file = fake_engine.file("port", "")
    local _, runner = fake({}, { "--tcp-no-accept", port_file })
    runners[#runners + 1] = runner
    local port = tonumber(io.open(port_file):read("l"))
    local url = "tcp://127.0.0.1:" .. port
    -- the listener's one backlog slot: taken by a connection nobody serves
    local first = moonpod.spawn(pcall, moonpod.connect, { remote_url = url, request_timeout = 10 })
    runners[#runners + 1] = first
    moonpod.sleep(0.2)
    local t0 = moonpod.now()
    local err = failure(moonpod.connect, { remote_url = url, connect_timeout = 0.5 })
    assert.are.equal("timeout", err.kind)
    assert.matches("[Cc]onnect", err.message)
    assert.is_true(moonpod.now() - t0 < 5)
  end)

  it("a list of logs obeys the request timeout; followed logs wait", function()
    local client = engine({ "/v1.41/containers/x/logs=stall" }, { request_timeout = 0.5 })
    -- in a task, so that a read that never ends fails the test instead of hanging it
    local ok, err = within(3, client.get_container_logs, client, "x", { tail = 10 })
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err))
    assert.are.equal("timeout", err.kind)
    local follower = moonpod.spawn(function()
      for _ in client:get_container_logs("x", { follow = true }) do end
    end)
    moonpod.sleep(1.2)
    assert.are.equal("waiting", follower:status()) -- a stream has no request timeout
    follower:cancel()
  end)

  it("a list of logs that stalls mid-frame times out", function()
    local file = fake_engine.file("half.bin", fake_engine.frame(1, "2026-11-28T15:40:24Z a whole line\n") ..
      fake_engine.frame(1, "2026-11-28T15:40:25Z and half"):sub(1, 20))
    local client = engine({ "/v1.41/containers/x/logs=chunks:" .. file }, { request_timeout = 0.5 })
    local ok, err = within(3, client.get_container_logs, client, "x")
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err))
    assert.are.equal("timeout", err.kind)
  end)

  it("a body that stalls half-way times out", function()
    local file = fake_engine.file("half.json", '[{"Id":"a","Names":["/a"],"State":"running"},')
    local client = engine({ "/v1.41/containers=chunks:" .. file }, { request_timeout = 0.3 })
    local err = failure(client.list_containers, client)
    assert.are.equal("timeout", err.kind)
  end)

  it("a 50 MB answer is read; one past the bound is refused, not buffered", function()
    local item = '{"Id":"%d","Names":["/c%d"],"State":"running","Labels":{"pad":"' .. ("p"):rep(400) .. '"}}'
    local function list(n)
      local parts = {}
      for i = 1, n do parts[i] = item:format(i, i) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local big = fake_engine.file("50mb.json", list(110000))
    local too_big = fake_engine.file("70mb.json", list(160000))
    local client = engine { "/v1.41/containers/json=file:" .. big, "/v1.41/containers=file:" .. too_big }
    local all = client:list_containers()
    assert.are.equal(110000, #all)
    assert.are.equal("c110000", all[110000].name)
    all = nil
    collectgarbage()
    local err = failure(client.get_container, client, "x")
    assert.are.equal("protocol", err.kind)
    assert.matches("larger than", err.message)
    os.remove(big)
    os.remove(too_big)
  end)

  it("auto-detection tries the next place when one fails", function()
    local _, sock = engine()
    local r = moonpod.run({ os.getenv("MOONPOD_BIN") or "./moonpod", "-e",
      "local c = require('moonpod').connect() print(c.endpoint)" },
      { env = { CONTAINER_HOST = "unix://" .. TMP .. "/nothing.sock", DOCKER_HOST = "unix://" .. sock } })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("unix://" .. sock .. "\n", r.stdout)
  end)
end)
