-- The listener across an engine that is killed (SIGKILL) and started again
-- while its containers change. Each test runs an engine of its own — a
-- second Podman API service on the private storage, a second dockerd on the
-- harness's containerd (its own namespace and data root) — so that killing
-- it leaves the suite's engines alone.
--
-- Podman keeps its events in a file: everything that happened while the
-- service was down is replayed after the reconnect. Docker keeps its events
-- in memory: what happened while it was down is gone, and the listener
-- reports it as a gap and resyncs its registry.

local moonpod = require "moonpod"
local events = require "moonpod.events"
local registry_mod = require "moonpod.registry"
local engine = require "helpers.engine"

local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"
local LOOP = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
local CLI_ENV = { CONTAINER_HOST = false, DOCKER_HOST = false }

local function run(argv, opts)
  opts = opts or {}
  opts.timeout = opts.timeout or 60
  opts.env = opts.env or CLI_ENV
  local r = moonpod.run(argv, opts)
  assert(r.ok, table.concat(argv, " ") .. " failed: " .. r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

local function answers(sock)
  local ok, c = pcall(moonpod.connect, { socket_path = sock, request_timeout = 2 })
  return ok and pcall(c.ping, c)
end

-- Runs argv as a long-lived engine in a task; waits until sock answers.
local function start_engine(argv, sock, log)
  local task = moonpod.spawn(moonpod.run, argv, { timeout = 600, env = CLI_ENV })
  assert(engine.wait_for(function() return answers(sock) end, 30), "no answer on " .. sock .. " (log: " .. log .. ")")
  return task
end

-- Unmounts what a killed dockerd left mounted under dir (its data root is
-- a bind mount of itself, once per start).
local function unmount_under(dir)
  for _ = 1, 10 do
    local points = {}
    for line in io.lines("/proc/self/mounts") do
      local point = line:match("^%S+ (%S+)")
      if point and point:sub(1, #dir) == dir then points[#points + 1] = point end
    end
    if #points == 0 then return end
    table.sort(points, function(a, b) return #a > #b end)
    for _, p in ipairs(points) do moonpod.run { "umount", p } end
  end
end

local function kill9(pid)
  run { "kill", "-KILL", pid }
  engine.wait_for(function() return not engine.alive(pid) end, 10)
end

local function count(list, value)
  local n = 0
  for _, v in ipairs(list) do if v == value then n = n + 1 end end
  return n
end

local function snapshot(list)
  local out = {}
  for _, c in ipairs(list) do out[#out + 1] = ("%s %s %s"):format(c.id, c.name, c.status) end
  table.sort(out)
  return table.concat(out, "\n")
end

-- A listener with a registry, collecting "name action" strings.
local function listen(client, registry)
  local l = events.listener({ client = client, reconnect_delay = 0.2, max_reconnect_attempts = 100 }, registry)
  local seen = {}
  l:add_event_handler(function(ev)
    seen[#seen + 1] = (ev.container_name or "?") .. " " .. ev.action
  end)
  l:start()
  return l, seen
end

describe("the listener across an engine restart", function()
  it("on Podman, gets every change made while the service was down", function()
    local dir = TMP .. "/" .. engine.unique("pdr")
    run { "mkdir", "-p", dir }
    local sock, log = dir .. "/podman.sock", dir .. "/podman.log"
    local service = engine.cli_argv("podman")
    for _, a in ipairs { "system", "service", "--time=0", "unix://" .. sock } do service[#service + 1] = a end
    local function podman(...)
      local argv = engine.cli_argv("podman")
      for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
      return run(argv)
    end
    local function service_pid()
      return run({ "pgrep", "-n", "-f", "unix://" .. sock })
    end

    local svc = start_engine(service, sock, log)
    local client = moonpod.connect { socket_path = sock }
    local registry = registry_mod.new()
    local l, seen = listen(client, registry)
    local tag = engine.unique("rs")
    local names = {}
    for _, x in ipairs { "a", "b", "c" } do
      names[x] = tag .. "-" .. x
      local id = client:create_container { name = names[x], image = engine.image("podman"), network = "none",
                                            cmd = { "sh", "-c", LOOP }, labels = { rs = tag } }
      client:start_container(id)
    end
    assert.is_true(engine.wait_for(function() return count(seen, names.c .. " start") == 1 end, 10))

    kill9(service_pid())
    svc:join()
    -- while the service is down, the CLI changes every container
    podman("stop", "-t", "0", names.a)
    podman("rm", "-f", "-t", "0", names.b)
    podman("pause", names.c)
    names.d = tag .. "-d"
    podman("run", "-d", "--network", "none", "--label", "rs=" .. tag, "--name", names.d, engine.image("podman"), "sh", "-c", LOOP)

    svc = start_engine(service, sock, log)
    local want = { names.a .. " die", names.b .. " remove", names.c .. " pause", names.d .. " create", names.d .. " start" }
    engine.wait_for(function()
      for _, w in ipairs(want) do if count(seen, w) == 0 then return false end end
      return true
    end, 20)
    for _, w in ipairs(want) do assert.are.equal(1, count(seen, w), w .. " in: " .. table.concat(seen, ", ")) end
    for _, x in ipairs { "a", "b", "c" } do -- nothing from before is delivered twice
      assert.are.equal(1, count(seen, names[x] .. " create"))
      assert.are.equal(1, count(seen, names[x] .. " start"))
    end
    local s = l:get_stats()
    assert.is_true(s.reconnects >= 1)
    assert.are.equal(0, s.gaps)
    assert.are.equal(snapshot(client:list_containers { all = true, filters = { label = "rs=" .. tag } }),
                     snapshot(registry:list { label = "rs=" .. tag }))
    l:stop()
    for _, n in pairs(names) do podman("rm", "-f", "-t", "0", n) end
    kill9(service_pid())
    svc:join()
    run { "rm", "-rf", dir }
  end)

  it("on Docker, reports what the restarted engine could not replay as a gap, and resyncs", function()
    local dir = TMP .. "/" .. engine.unique("ddr")
    local sock = dir .. "/docker.sock"
    run { "mkdir", "-p", dir }
    local f = assert(io.open(dir .. "/daemon.json", "w"))
    f:write(('{ "deprecated-key-path": "%s/key.json", "shutdown-timeout": 1 }'):format(dir))
    f:close()
    local harness = engine.env("MOONPOD_ENGINES_DIR")
    local ns = engine.unique("ns")
    local dockerd = {
      "dockerd", "--config-file", dir .. "/daemon.json", "--host", "unix://" .. sock,
      "--containerd", harness .. "/run/containerd.sock",
      "--containerd-namespace", ns, "--containerd-plugins-namespace", ns .. "-plugins",
      "--data-root", dir .. "/data", "--exec-root", dir .. "/exec", "--pidfile", dir .. "/dockerd.pid",
      "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
    }
    local function docker(...)
      local argv = { "docker", "--host", "unix://" .. sock, ... }
      return run(argv)
    end
    local function dockerd_pid()
      local p = assert(io.open(dir .. "/dockerd.pid"))
      local pid = p:read("l")
      p:close()
      return pid
    end

    local daemon = start_engine(dockerd, sock, dir)
    docker("import", "--change", 'CMD ["/bin/sh"]', harness .. "/image/rootfs.tar", "mpt-img:latest")
    local client = moonpod.connect { socket_path = sock }
    local registry = registry_mod.new()
    local l, seen = listen(client, registry)
    local tag = engine.unique("rs")
    local ids = {}
    for i = 1, 3 do
      ids[i] = client:create_container { name = tag .. "-" .. i, image = "mpt-img:latest", network = "none",
                                         cmd = { "sh", "-c", LOOP }, labels = { rs = tag } }
      client:start_container(ids[i])
    end
    assert.is_true(engine.wait_for(function() return count(seen, tag .. "-3 start") == 1 end, 10))
    assert.are.equal(3, #registry:list { label = "rs=" .. tag, status = "running" })

    -- killed: the containers go on without it; one of them dies meanwhile
    local pid1 = docker("inspect", "--format", "{{.State.Pid}}", ids[1])
    kill9(dockerd_pid())
    daemon:join()
    kill9(pid1)

    daemon = start_engine(dockerd, sock, dir)
    -- the restarted dockerd finds the containers it lost and stops them
    local want
    assert.is_true(engine.wait_for(function()
      local listed = client:list_containers { all = true, filters = { label = "rs=" .. tag } }
      want = snapshot(listed)
      for _, c in ipairs(listed) do if c.status ~= "exited" then return false end end
      return snapshot(registry:list { label = "rs=" .. tag }) == want
    end, 30), "registry:\n" .. snapshot(registry:list { label = "rs=" .. tag }) .. "\nengine:\n" .. want)
    local s = l:get_stats()
    assert.is_true(s.reconnects >= 1)
    -- what the engine said of it reached the handlers; what it could not
    -- say (the container that died while it was down) is counted as a gap.
    -- Nothing goes unaccounted; a change that the resync found and an event
    -- told again later counts in both.
    local told = 0
    for i = 1, 3 do told = told + count(seen, tag .. "-" .. i .. " die") end
    assert.is_true(s.gaps >= 1)
    assert.is_true(told + s.gaps >= 3, ("told %d, gaps %d"):format(told, s.gaps))
    l:stop()
    docker("rm", "-f", ids[1], ids[2], ids[3])
    docker("rmi", "mpt-img:latest")
    run { "kill", "-TERM", dockerd_pid() } -- a clean stop unmounts its data root
    daemon:join()
    unmount_under(dir)
    run { "rm", "-rf", "--one-file-system", dir }
  end)
end)
