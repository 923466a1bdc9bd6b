-- What a spec needs to know about the engine it runs against.
--
-- The suite runs every spec under tests/spec/engine once per engine, with
-- MOONPOD_TEST_ENGINE set to "podman" or "docker" and the private engines
-- started by scripts/dev/engines.sh (their settings come from its env.sh).
-- Containers are made with the engine's own CLI, so that a spec checks
-- moonpod against what the engine says, not against moonpod itself.

local moonpod = require "moonpod"

local M = {}

local function env(name)
  local v = os.getenv(name)
  assert(v and v ~= "", name .. " is not set: run the specs through scripts/dev/test.sh")
  return v
end

M.name = os.getenv("MOONPOD_TEST_ENGINE") or "podman"

--- The private engine's socket path, for the named engine (default: the one under test).
function M.socket(name)
  return env(((name or M.name) == "podman") and "MOONPOD_TEST_PODMAN_SOCK" or "MOONPOD_TEST_DOCKER_SOCK")
end

--- The test image's name on the named engine.
function M.image(name)
  return env(((name or M.name) == "podman") and "MOONPOD_TEST_PODMAN_IMAGE" or "MOONPOD_TEST_DOCKER_IMAGE")
end

local function split_words(s)
  local out = {}
  for w in (s or ""):gmatch("%S+") do out[#out + 1] = w end
  return out
end

--- argv prefix that drives the named engine's CLI against the private engine.
function M.cli_argv(name)
  name = name or M.name
  if name == "podman" then
    local argv = { "podman" }
    for _, w in ipairs(split_words(env("MOONPOD_TEST_PODMAN_ARGS"))) do argv[#argv + 1] = w end
    return argv
  end
  -- the Debian client speaks the engine's own API version
  -- closed at once: a handle left to the collector shows in fd counts
  local f = io.open("/usr/bin/docker")
  local docker = f and "/usr/bin/docker" or "docker"
  if f then f:close() end
  return { docker, "--host", env("MOONPOD_TEST_DOCKER_HOST") }
end

-- The suite points CONTAINER_HOST at the engine for moonpod's sake; the
-- podman CLI would take it as a request to work remotely.
local cli_env = { CONTAINER_HOST = false, DOCKER_HOST = false }

--- Runs the named engine's CLI with the given arguments; returns trimmed
--- stdout, raises with stderr on failure.
function M.cli_on(name, ...)
  local argv = M.cli_argv(name)
  for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  local r = moonpod.run(argv, { timeout = 120, env = cli_env })
  if not r.ok then
    error(("%s failed (%d): %s"):format(table.concat(argv, " "), r.status, r.stderr), 2)
  end
  return (r.stdout:gsub("%s+$", ""))
end

--- M.cli_on for the engine under test.
function M.cli(...)
  return M.cli_on(M.name, ...)
end

local counter = 0

--- A container name no other test run uses.
function M.unique(prefix)
  counter = counter + 1
  return ("mpt-%s-%d-%d"):format(prefix or "c", math.floor(moonpod.now() * 1000) % 100000000, counter)
end

--- A spec's create(spec) -> id, name on the client client_of() returns:
--- a unique name from prefix, the test image and no network unless spec
--- says otherwise; each name is added to made, for the spec's teardown.
function M.creator(client_of, prefix, made)
  return function(spec)
    spec.name = spec.name or M.unique(prefix)
    spec.image = spec.image or M.image()
    spec.network = spec.network or "none"
    made[#made + 1] = spec.name
    return client_of():create_container(spec), spec.name
  end
end

--- Starts a container with the CLI: opts { name, labels = {k=v}, cmd = "shell code",
--- create_only = false, engine = M.name }. Returns its id.
function M.container(opts)
  local on = opts.engine or M.name
  local args = { opts.create_only and "create" or "run" }
  if not opts.create_only then args[#args + 1] = "-d" end
  args[#args + 1] = "--network"
  args[#args + 1] = "none"
  args[#args + 1] = "--name"
  args[#args + 1] = opts.name or M.unique()
  for k, v in pairs(opts.labels or {}) do
    args[#args + 1] = "--label"
    args[#args + 1] = k .. "=" .. v
  end
  args[#args + 1] = M.image(on)
  args[#args + 1] = "sh"
  args[#args + 1] = "-c"
  args[#args + 1] = opts.cmd or "trap 'exit 0' TERM; while true; do sleep 0.2; done"
  return M.cli_on(on, table.unpack(args))
end

--- Removes containers by name or id from the named engine, ignoring those already gone.
--- Podman's `rm -f` removes nothing at all, and still exits 0, when one of
--- the names is unknown; so on Podman each name is removed on its own (all
--- at once, without waiting for a stop signal the container may ignore).
function M.remove_on(name, ...)
  local function rm(...)
    local argv = M.cli_argv(name)
    for _, a in ipairs({ "rm", "-f", ... }) do argv[#argv + 1] = a end
    moonpod.run(argv, { timeout = 120, env = cli_env })
  end
  if name ~= "podman" then return rm(...) end
  local tasks = {}
  for _, c in ipairs({ ... }) do tasks[#tasks + 1] = moonpod.spawn(rm, "-t", "0", c) end
  for _, t in ipairs(tasks) do t:join() end
end

--- M.remove_on for the engine under test.
function M.remove(...)
  return M.remove_on(M.name, ...)
end

--- The state of a container as the engine's CLI reports it.
function M.state(name)
  return M.cli("inspect", "--format", "{{.State.Status}}", name)
end

--- A setting from the harness's env.sh; raises when it is missing.
M.env = env

--- This process's pid (moonpod's, also under valgrind).
function M.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("l"):match("^(%d+)")
  f:close()
  return pid
end

--- Whether process `pid` exists and is not a zombie (a reparented zombie
--- waits for PID 1 to reap it: it is gone for every practical purpose).
function M.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("l") or ""
  f:close()
  return not stat:match("^%d+ %(.*%) Z")
end

--- The live children of this process whose command name is `comm`.
function M.children(comm)
  local r = moonpod.run { "pgrep", "-P", M.pid(), "-x", comm }
  local pids = {}
  for pid in r.stdout:gmatch("%d+") do
    if M.alive(pid) then pids[#pids + 1] = pid end
  end
  return pids
end

--- Polls `fn` every 50 ms until it returns true or `seconds` pass; returns its last result.
function M.wait_for(fn, seconds)
  local deadline = moonpod.monotonic() + (seconds or 5)
  while not fn() do
    if moonpod.monotonic() > deadline then return fn() end
    moonpod.sleep(0.05)
  end
  return true
end

return M
