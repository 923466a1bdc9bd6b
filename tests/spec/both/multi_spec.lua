-- moonpod.multi: one object over both private engines. Containers are made
-- and checked with each engine's own CLI; faults (an engine that stalls, an
-- engine that comes up late) use the fake engine.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local FAKE = os.getenv("MOONPOD_FAKE_ENGINE") or "build/release/fake-engine"
local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

local serial = 0

local made = {}

-- A socket path of our own under TMP; removed after each test.
local function tmp_socket()
  serial = serial + 1
  local sock = ("%s/multi-%d-%d.sock"):format(TMP, math.floor(moonpod.now() * 1000) % 100000000, serial)
  made[#made + 1] = sock
  return sock
end

-- Starts a fake engine on sock with the given routes; returns the task
-- running it (cancelling the task kills the fake).
local function fake(sock, routes)
  local ready = sock .. ".ready"
  os.remove(ready)
  local argv = { FAKE, sock, "--ready-file", ready }
  for _, r in ipairs(routes or {}) do
    argv[#argv + 1] = "--route"
    argv[#argv + 1] = r
  end
  local runner = moonpod.spawn(moonpod.run, argv)
  for _ = 1, 500 do
    local f = io.open(ready)
    if f then
      f:close()
      return runner
    end
    moonpod.sleep(0.01)
  end
  runner:cancel()
  error("the fake engine did not come up: " .. FAKE)
end

local function both(extra)
  local configs = {
    podman = { socket_path = engine.socket("podman") },
    docker = { socket_path = engine.socket("docker") },
  }
  for k, v in pairs(extra or {}) do configs[k] = v end
  return configs
end

local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a failure")
  assert.is_true(moonpod.is_error(err), "expected an error object, got " .. tostring(err))
  return err
end

local function state_on(e, name)
  return engine.cli_on(e, "inspect", "--format", "{{.State.Status}}", name)
end

local function by_name(list)
  local out = {}
  for _, c in ipairs(list) do out[c.name] = c end
  return out
end

describe("moonpod.multi", function()
  local prefix = engine.unique("multi")
  local on_podman = prefix .. "-p"   -- only on Podman
  local on_docker = prefix .. "-d"   -- only on Docker
  local twin = prefix .. "-twin"     -- on both
  local other = engine.unique("mx")  -- made and removed by single tests
  local multis, runners = {}, {}

  local function open(configs)
    local m = moonpod.multi(configs)
    multis[#multis + 1] = m
    return m
  end

  setup(function()
    engine.container { engine = "podman", name = on_podman }
    engine.container { engine = "docker", name = on_docker }
    engine.container { engine = "podman", name = twin }
    engine.container { engine = "docker", name = twin }
  end)

  teardown(function()
    engine.remove_on("podman", on_podman, twin)
    engine.remove_on("docker", on_docker, twin, other .. "-gone", other .. "-more-docker", other .. "-new-docker")
    engine.remove_on("podman", other .. "-rm", other .. "-more-podman", other .. "-new-podman")
  end)

  after_each(function()
    for _, m in ipairs(multis) do m:close() end
    for _, r in ipairs(runners) do r:cancel() end
    for _, sock in ipairs(made) do
      os.remove(sock)
      os.remove(sock .. ".ready")
    end
    multis, runners, made = {}, {}, {}
  end)

  it("reports every engine and gives each one's client", function()
    local m = open(both())
    local info = m:engines()
    for _, name in ipairs { "podman", "docker" } do
      assert.are.equal(name, info[name].runtime)
      assert.are.equal("unix", info[name].transport)
      assert.are.equal("unix://" .. engine.socket(name), info[name].endpoint)
      assert.is_true(info[name].up)
      assert.is_nil(info[name].error)
      assert.are.equal(name, m.clients[name].runtime)
    end
    assert.are.same({ podman = true, docker = true }, m:ping())
    assert.are.equal(m.clients.docker, m:on("docker"))
  end)

  it("merges both engines' lists, each container named after its engine", function()
    local m = open(both())
    local list, failed = m:list_containers { all = true, filters = { name = prefix } }
    assert.are.same({}, failed)
    assert.are.equal(4, #list)
    local seen = {}
    for _, c in ipairs(list) do
      seen[c.runtime .. " " .. c.name] = true
      assert.are.equal("running", c.status)
    end
    assert.are.same({
      ["podman " .. on_podman] = true, ["podman " .. twin] = true,
      ["docker " .. on_docker] = true, ["docker " .. twin] = true,
    }, seen)
  end)

  it("names containers after the config's keys, not the engine kind", function()
    local m = open { left = { socket_path = engine.socket("podman") }, right = { socket_path = engine.socket("docker") } }
    local list = by_name(m:list_containers { filters = { name = prefix } })
    assert.are.equal("left", list[on_podman].runtime)
    assert.are.equal("right", list[on_docker].runtime)
    assert.are.equal("right", m:get_container(on_docker).runtime)
    assert.are.equal("podman", m:engines().left.runtime)
    -- events too, replayed or followed, and the stream still closes
    local replayed = 0
    for ev in m:get_events("left", { since = moonpod.now() - 3600, ["until"] = moonpod.now(),
                                     filters = { container = on_podman } }) do
      assert.are.equal("left", ev.runtime)
      replayed = replayed + 1
    end
    assert.is_true(replayed > 0, "no event of " .. on_podman)
    local live = m:get_events("right", { filters = { container = on_docker } })
    m:restart_container(on_docker, { timeout = 1 })
    local ev = live()
    assert.are.equal("right", ev.runtime)
    assert.are.equal(on_docker, ev.container_name)
    assert.is_table(live:stats())
    live:close()
    assert.is_nil(live())
  end)

  it("routes an operation to the engine that has the container", function()
    local m = open(both())
    local c = m:get_container(on_docker)
    assert.are.equal("docker", c.runtime)
    assert.are.equal(on_docker, c.name)
    m:stop_container(on_docker, { timeout = 1 })
    assert.are.equal("exited", state_on("docker", on_docker))
    assert.are.equal("running", state_on("podman", on_podman))
    m:start_container(on_docker)
    assert.are.equal("running", state_on("docker", on_docker))
    -- by id, remembered from a list
    local listed = by_name(m:list_containers { filters = { name = prefix } })
    m:restart_container(listed[on_podman].id, { timeout = 1 })
    assert.are.equal("running", state_on("podman", on_podman))
    assert.are.equal("podman", m:get_container(listed[on_podman].id).runtime)
  end)

  it("raises a conflict for a name that is on both engines, unless told which", function()
    local m = open(both())
    local err = failure(m.get_container, m, twin)
    assert.are.equal("conflict", err.kind)
    assert.matches("docker, podman", err.message)
    assert.are.same({ "docker", "podman" }, err.engines)
    local err2 = failure(m.stop_container, m, twin, { timeout = 1 })
    assert.are.equal("conflict", err2.kind)
    assert.are.equal("running", state_on("docker", twin))
    assert.are.equal("running", state_on("podman", twin))
    -- picked explicitly
    assert.are.equal("docker", m:get_container(twin, { runtime = "docker" }).runtime)
    assert.are.equal("podman", m:on("podman"):get_container(twin).runtime)
    local ok, msg = pcall(m.get_container, m, twin, { runtime = "nope" })
    assert.is_false(ok)
    assert.matches("no engine named 'nope'", msg)
  end)

  it("raises not_found for a container no engine has", function()
    local m = open(both())
    local err = failure(m.start_container, m, prefix .. "-missing")
    assert.are.equal("not_found", err.kind)
    assert.are.equal(404, err.status_code)
    assert.matches("docker, podman", err.message)
  end)

  it("asks again when a remembered container has gone", function()
    local m = open(both())
    local name = other .. "-gone"
    engine.container { engine = "docker", name = name }
    local id = by_name(m:list_containers { filters = { name = name } })[name].id
    engine.remove_on("docker", name)
    local err = failure(m.get_container, m, id)
    assert.are.equal("not_found", err.kind)
  end)

  it("removes through the owning engine", function()
    local m = open(both())
    local name = other .. "-rm"
    engine.container { engine = "podman", name = name, create_only = true }
    m:remove_container(name)
    assert.are.same({}, m:list_containers { all = true, filters = { name = name } })
  end)

  it("reports an engine that is down, and still answers with the others", function()
    local m = open(both { gone = { socket_path = "/nonexistent/x.sock" } })
    assert.is_nil(m.clients.gone)
    local info = m:engines()
    assert.is_false(info.gone.up)
    assert.are.equal("connection", info.gone.error.kind)
    assert.are.equal("unix:///nonexistent/x.sock", info.gone.endpoint)
    assert.is_nil(info.gone.runtime)
    assert.is_true(info.podman.up and info.docker.up)
    local list, failed = m:list_containers { filters = { name = prefix } }
    assert.are.equal("connection", failed.gone.kind)
    assert.is_nil(failed.podman)
    assert.is_nil(failed.docker)
    local names = by_name(list)
    assert.are.equal("podman", names[on_podman].runtime)
    assert.are.equal("docker", names[on_docker].runtime)
    assert.are.equal("connection", m:ping().gone.kind)
    -- a container found on an engine that answers is still reachable
    assert.are.equal("docker", m:get_container(on_docker).runtime)
    assert.are.equal("connection", failure(m.on, m, "gone").kind)
  end)

  it("connects an engine that was down once it comes up", function()
    local sock = tmp_socket()
    local m = open(both { late = { socket_path = sock } })
    assert.is_false(m:engines().late.up)
    runners[#runners + 1] = fake(sock, { "/v1.41/containers/json=json:[]" })
    local _, failed = m:list_containers()
    assert.are.same({}, failed)
    assert.is_true(m:engines().late.up)
    assert.are.equal("docker", m.clients.late.runtime)
  end)

  it("asks the engines concurrently: a stalled one costs its timeout, once", function()
    local configs = both()
    for _, name in ipairs { "slow1", "slow2" } do
      local sock = tmp_socket()
      runners[#runners + 1] = fake(sock, { "/v1.41/containers=stall" })
      configs[name] = { socket_path = sock, request_timeout = 2 }
    end
    local m = open(configs)
    local t0 = moonpod.now()
    local list, failed = m:list_containers { filters = { name = prefix } }
    local took = moonpod.now() - t0
    assert.are.equal("timeout", failed.slow1.kind)
    assert.are.equal("timeout", failed.slow2.kind)
    assert.are.equal(4, #list)
    assert.is_true(took >= 1.9, ("took %.2fs"):format(took))
    assert.is_true(took < 3.5, ("took %.2fs: the engines were asked one after the other"):format(took))
    -- the same for finding a container's engine: all are asked, at once
    t0 = moonpod.now()
    assert.are.equal("docker", m:get_container(on_docker).runtime)
    took = moonpod.now() - t0
    assert.is_true(took < 3.5, ("took %.2fs"):format(took))
  end)

  for _, e in ipairs { "podman", "docker" } do
    it("routes every per-container method to " .. e .. " when the container is there", function()
      local m = open(both())
      local name = other .. "-more-" .. e
      engine.container { engine = e, name = name, cmd = "echo hello; trap 'exit 3' TERM; while true; do sleep 0.2; done" }
      local id = engine.cli_on(e, "inspect", "--format", "{{.Id}}", name)
      m:pause_container(name)
      assert.are.equal("paused", state_on(e, name))
      m:unpause_container(name)
      assert.are.equal("running", state_on(e, name))
      local logs = m:get_container_logs(name, { tail = 10 })
      assert.are.equal("hello", logs[1].text)
      local stats = m:get_container_stats(name)
      assert.are.equal(id, stats.container_id)
      assert.is_number(stats.cpu_percent)
      assert.is_true(stats.pids >= 1)
      local sampled = 0
      for s in m:get_container_stats(name, { stream = true }) do
        assert.are.equal(id, s.container_id)
        sampled = sampled + 1
        if sampled == 2 then break end
      end
      local waiter = moonpod.spawn(function() return m:wait_container(name) end)
      m:kill_container(name, { signal = "SIGTERM" })
      assert.are.equal(3, waiter:join())
      assert.are.equal("exited", state_on(e, name))
      m:remove_container(name)
      assert.are.same({}, m:list_containers { all = true, filters = { name = name } })
    end)
  end

  it("passes engine-wide calls to the named engine", function()
    local m = open(both())
    assert.is_table(m:get_version("docker"))
    assert.are.equal(m.clients.podman.server_version, m:get_version("podman").Version)
    local ok, msg = pcall(m.get_system_info, m, "nope")
    assert.is_false(ok)
    assert.matches("no engine named 'nope'", msg)
  end)

  it("creates on the named engine, and routes the new id there", function()
    local m = open(both())
    local since = moonpod.now()
    local made_on = {}
    for _, e in ipairs { "podman", "docker" } do
      local name = other .. "-new-" .. e
      made_on[e] = name
      local id = m:create_container(e, { name = name, image = engine.image(e), network = "none",
                                         cmd = "trap 'exit 0' TERM; while true; do sleep 0.2; done" })
      assert.are.equal(id, engine.cli_on(e, "inspect", "--format", "{{.Id}}", name))
      assert.are.equal("created", state_on(e, name))
      m:start_container(id)
      assert.are.equal("running", state_on(e, name))
      local c = m:get_container(id)
      assert.are.equal(e, c.runtime)
      assert.are.equal(name, c.name)
    end
    -- each engine's events come from that engine only
    for _, e in ipairs { "podman", "docker" } do
      local mine, theirs = {}, 0
      local other_engine = e == "podman" and "docker" or "podman"
      for ev in m:get_events(e, { since = since, ["until"] = moonpod.now(), filters = { type = "container" } }) do
        if ev.container_name == made_on[e] then mine[#mine + 1] = ev.action end
        if ev.container_name == made_on[other_engine] then theirs = theirs + 1 end
      end
      assert.matches("create.*start", table.concat(mine, " "))
      assert.are.equal(0, theirs, e .. " reported the other engine's container")
    end
    local ok, msg = pcall(m.create_container, m, "nope", { image = "x" })
    assert.is_false(ok)
    assert.matches("no engine named 'nope'", msg)
  end)

  it("lists the named engine's pods, and says Docker has none to list", function()
    local m = open(both())
    local pod = engine.unique("mpod")
    engine.cli_on("podman", "pod", "create", "--label", "made=multi", "--name", pod)
    local ok, pods = pcall(m.list_pods, m, "podman")
    engine.cli_on("podman", "pod", "rm", "-f", pod)
    assert.is_true(ok, tostring(pods))
    local found
    for _, p in ipairs(pods) do
      if p.name == pod then found = p end
    end
    assert.is_table(found, "the pod is not in the list")
    assert.are.equal("multi", found.labels.made)
    assert.are.equal("unsupported", failure(m.list_pods, m, "docker").kind)
  end)

  it("closes every client; later calls raise", function()
    local m = open(both())
    local docker = m.clients.docker
    m:close()
    assert.is_nil(m.clients.docker)
    assert.has_error(function() docker:ping() end, "the client is closed")
    assert.has_error(function() m:list_containers() end, "the multi client is closed")
    m:close()
  end)

  it("rejects what is not a table of configs", function()
    assert.has_error(function() moonpod.multi("podman") end)
    assert.has_error(function() moonpod.multi { podman = "x" } end)
    local ok, msg = pcall(moonpod.multi, { podman = { bogus = true } })
    assert.is_false(ok)
    assert.matches("podman: unknown config field 'bogus'", msg)
  end)
end)
