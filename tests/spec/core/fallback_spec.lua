-- When no engine API answers, moonpod.connect starts a private Podman
-- service for the life of the process (start_service), or says what it
-- tried. Runs child moonpods whose environment hides every API
-- (helpers/fallback.lua); their podman uses the private test storage.

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local fallback = require "helpers.fallback"

local system_socket = fallback.system_socket()
-- auto-detection tries these before any fallback: with one there, nothing
-- here can be exercised
local describe_fallback = system_socket and pending or describe

describe_fallback("start_service", function()
  local name

  setup(function()
    name = engine.unique("svc")
    engine.container { engine = "podman", name = name, labels = { made = "by-the-cli" } }
  end)

  teardown(function()
    engine.remove_on("podman", name)
  end)

  local function gone(sock)
    return engine.wait_for(function() return #fallback.processes(sock) == 0 end, 10)
  end

  it("starts podman system service on a private socket, lists through it, and stops it", function()
    local tmp = fallback.tmpdir("svc")
    local r = fallback.script(([[
      local moonpod = require "moonpod"
      local client = moonpod.connect()
      print(client.runtime, client.transport, client.endpoint)
      local found
      for _, c in ipairs(client:list_containers { all = true }) do
        if c.name == %q then found = c end
      end
      print(found and found.labels.made or "missing")
    ]]):format(name), { env = { TMPDIR = tmp, MOONPOD_DEBUG = "1" } })
    assert.are.equal(0, r.status, r.stderr)
    local runtime, transport, endpoint, made = r.stdout:match("^(%S+)\t(%S+)\t(%S+)\n(%S+)\n$")
    assert.are.equal("podman", runtime, r.stdout)
    assert.are.equal("unix", transport)
    local sock = endpoint:match("^unix://(" .. tmp:gsub("%p", "%%%0") .. "/moonpod%-podman%-%w+/podman%.sock)$")
    assert.is_string(sock, endpoint)
    assert.are.equal("by-the-cli", made)
    -- the debug log says what was skipped and what moonpod started
    assert.matches("rootless podman [^\n]*No such file", r.stderr)
    assert.matches("started podman system service %(pid %d+%)", r.stderr)
    assert.matches("chose podman at unix://[^\n]*started by moonpod", r.stderr)
    assert.is_true(gone(sock), "podman system service still runs on " .. sock)
    assert.is_false(moonpod.run({ "test", "-e", sock }).ok, "the socket was left behind")
    assert.is_false(moonpod.run({ "sh", "-c", 'ls -d "$1"/moonpod-podman-*', "sh", tmp }).ok,
      "the private directory was left behind")
  end)

  it("serves every client of the process, and stops with the last one's close", function()
    local tmp = fallback.tmpdir("svc")
    local out = fallback.eval([[
      local a = moonpod.connect()
      local b = moonpod.connect()
      local sock = a.endpoint:gsub("^unix://", "")
      local function services()
        return moonpod.run({ "pgrep", "-f", "--", sock }).stdout:gsub("%s+$", "")
      end
      local both = services()
      a:close()
      local after_one = services()
      local listed = #b:list_containers { all = true } > 0
      b:close()
      local t0 = moonpod.monotonic()
      while services() ~= "" and moonpod.monotonic() - t0 < 10 do moonpod.sleep(0.05) end
      return { same = a.endpoint == b.endpoint, both = both, after_one = after_one, listed = listed,
               after_both = services(), socket_left = moonpod.run({ "test", "-e", sock }).ok }
    ]], { env = { TMPDIR = tmp } })
    assert.is_true(out.same)
    assert.matches("^%d+$", out.both) -- one service for both clients
    assert.are.equal(out.both, out.after_one)
    assert.is_true(out.listed)
    assert.are.equal("", out.after_both)
    assert.is_false(out.socket_left)
  end)

  it("leaves no service behind when moonpod exits or is killed", function()
    for _, how in ipairs { "os.exit(3)", "moonpod.sleep(60)" } do
      local tmp = fallback.tmpdir("svc")
      -- moonpod.run's timeout SIGKILLs the sleeper: only the kernel (pdeathsig) is left to act
      local r = fallback.script(([[
        local moonpod = require "moonpod"
        print(moonpod.connect().endpoint)
        io.stdout:flush()
        %s
      ]]):format(how), { env = { TMPDIR = tmp }, timeout = 5 })
      local sock = r.stdout:match("unix://(%S+)")
      assert.is_string(sock, how .. ": " .. r.stderr)
      assert.is_true(gone(sock), how .. ": podman system service still runs on " .. sock)
      -- a SIGKILLed moonpod can't remove its private directory
      moonpod.run { "rm", "-rf", "--", tmp }
    end
  end)

  it("reports a service that does not come up with what podman said", function()
    local out = fallback.eval([[
      local ok, err = pcall(moonpod.connect, { use_cli_fallback = false })
      return { ok = ok, kind = err.kind, message = err.message }
    ]], { env = { MOONPOD_PODMAN_ARGS = "--no-such-global-flag" } })
    assert.is_false(out.ok)
    assert.are.equal("connection", out.kind)
    assert.matches("podman system service %(pid %d+%) exited with status %d+ before it answered", out.message)
    assert.matches("unknown flag: %-%-no%-such%-global%-flag", out.message)
  end)

  it("without start_service and use_cli_fallback, says everything it looked at", function()
    local out, r = fallback.eval([[
      local ok, err = pcall(moonpod.connect, { start_service = false, use_cli_fallback = false })
      return { ok = ok, kind = err.kind, message = err.message }
    ]], { env = { MOONPOD_DEBUG = "1" } })
    assert.is_false(out.ok)
    assert.are.equal("connection", out.kind)
    for _, what in ipairs { "CONTAINER_HOST unset", "DOCKER_HOST unset", "rootless podman", "rootful podman",
      "docker /var/run/docker.sock", "podman system service: start_service is off",
      "podman and docker CLIs: use_cli_fallback is off" } do
      assert.is_truthy(out.message:find(what, 1, true), what .. " not in: " .. out.message)
    end
    assert.matches("not trying podman system service: start_service is off", r.stderr)
  end)

  it("an explicit socket that does not answer is never replaced by a fallback", function()
    local out = fallback.eval(([[
      local ok, err = pcall(moonpod.connect, { socket_path = %q })
      return { ok = ok, kind = err.kind, message = err.message }
    ]]):format(fallback.TMP .. "/no-such-engine.sock"))
    assert.is_false(out.ok)
    assert.are.equal("connection", out.kind)
    assert.matches("no such socket", out.message)
  end)

  it("finds a rootless Podman at $XDG_RUNTIME_DIR/podman/podman.sock", function()
    -- the private Podman's socket, where a user's rootless service puts its own
    local xdg = fallback.tmpdir("xdg-rootless")
    local sock = xdg .. "/podman/podman.sock"
    assert(moonpod.run({ "mkdir", xdg .. "/podman" }).ok)
    assert(moonpod.run({ "ln", "-s", engine.env("MOONPOD_TEST_PODMAN_SOCK"), sock }).ok)
    local out, r = fallback.eval(([[
      local c = moonpod.connect { start_service = false, use_cli_fallback = false }
      local found
      for _, ct in ipairs(c:list_containers { all = true }) do
        if ct.name == %q then found = ct.labels.made end
      end
      return { runtime = c.runtime, transport = c.transport, endpoint = c.endpoint, found = found or "missing" }
    ]]):format(name), { env = { XDG_RUNTIME_DIR = xdg, MOONPOD_DEBUG = "1" } })
    assert.are.equal("podman", out.runtime)
    assert.are.equal("unix", out.transport)
    assert.are.equal("unix://" .. sock, out.endpoint)
    assert.are.equal("by-the-cli", out.found)
    assert.matches("chose podman at unix://" .. sock:gsub("%p", "%%%0") .. " %(rootless podman", r.stderr)
    moonpod.run { "rm", "-rf", "--", xdg }
  end)

  it("finds Docker through DOCKER_HOST when no Podman answers, unless fallback_to_docker is false", function()
    local out = fallback.eval([[
      local c = moonpod.connect { start_service = false, use_cli_fallback = false }
      local ok, err = pcall(moonpod.connect, { fallback_to_docker = false, start_service = false,
                                               use_cli_fallback = false })
      return { runtime = c.runtime, endpoint = c.endpoint, listed = type(c:list_containers { all = true }),
               refused = not ok and err.kind or "connected", message = not ok and err.message or "" }
    ]], { env = { DOCKER_HOST = engine.env("MOONPOD_TEST_DOCKER_HOST") } })
    assert.are.equal("docker", out.runtime)
    assert.are.equal(engine.env("MOONPOD_TEST_DOCKER_HOST"), out.endpoint)
    assert.are.equal("table", out.listed)
    assert.are.equal("connection", out.refused)
    assert.is_nil(out.message:find("DOCKER_HOST", 1, true))
  end)
end)

