-- Child moonpods that find no engine API, so that moonpod.connect falls
-- back to the transient Podman service or to a CLI (tests/spec/core/
-- fallback_spec.lua, cli_fallback_spec.lua).
--
-- The child's environment hides every API: no CONTAINER_HOST or
-- DOCKER_HOST, and XDG_RUNTIME_DIR an empty directory (no rootless
-- socket). What podman children use is the private test storage
-- (MOONPOD_PODMAN_ARGS, CONTAINERS_CONF from the harness's env.sh); the
-- docker CLI reaches the private dockerd through MOONPOD_DOCKER_HOST, and
-- for the docker CLI to be the one chosen, PATH holds only it.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local M = {}

M.BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
M.TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

--- A fresh, empty, private directory under the test tmp dir.
function M.tmpdir(tag)
  local dir = ("%s/%s"):format(M.TMP, engine.unique(tag or "fb"))
  assert(moonpod.run({ "mkdir", "-m", "0700", dir }).ok, "cannot create " .. dir)
  return dir
end

--- A system-wide engine socket that auto-detection always looks at (and
--- would answer before any fallback), or nil. These machines have none.
function M.system_socket()
  for _, path in ipairs { "/run/podman/podman.sock", "/var/run/docker.sock" } do
    if moonpod.run({ "test", "-S", path }).ok then return path end
  end
end

local docker_bin
--- A directory whose only program is the docker CLI.
local function docker_only_path()
  if not docker_bin then
    docker_bin = M.tmpdir("docker-bin")
    local docker = engine.cli_argv("docker")[1]
    if not docker:find("/", 1, true) then
      docker = moonpod.run({ "sh", "-c", 'command -v "$1"', "sh", docker }).stdout:gsub("%s+$", "")
    end
    assert(moonpod.run({ "ln", "-s", docker, docker_bin .. "/docker" }).ok)
  end
  return docker_bin
end

--- The environment of a child that finds no API. opts.cli = "docker" puts
--- only the docker CLI in PATH; opts.env adds or overrides variables.
function M.env(opts)
  opts = opts or {}
  local env = {
    CONTAINER_HOST = false,
    DOCKER_HOST = false,
    CONTAINER_CONNECTION = false,
    XDG_RUNTIME_DIR = M.tmpdir("xdg"),
    MOONPOD_PODMAN_ARGS = engine.env("MOONPOD_TEST_PODMAN_ARGS"),
    MOONPOD_DOCKER_HOST = false,
  }
  if opts.cli == "docker" then
    env.PATH = docker_only_path()
    env.MOONPOD_DOCKER_HOST = engine.env("MOONPOD_TEST_DOCKER_HOST")
  end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  return env
end

--- Runs a script in a child moonpod with M.env(opts); returns moonpod.run's result.
function M.script(code, opts)
  opts = opts or {}
  return moonpod.run({ M.BIN, "-e", code }, { env = M.env(opts), timeout = opts.timeout or 120 })
end

local prelude = [[
local moonpod = require "moonpod"
local json = moonpod.json
local function kind(f, ...)
  local ok, err = pcall(f, ...)
  if ok then return "ok" end
  return moonpod.is_error(err) and err.kind or tostring(err)
end
local function model(c)
  return { id = c.id, runtime = c.runtime, name = c.name, image = c.image, status = c.status,
           labels = c.labels, ports = c.ports, created_at = c.created_at }
end
local result = (function()
]]

--- Runs `body` (Lua, which may use `moonpod`, `kind(f, ...)` -> "ok" or the
--- error's kind, and `model(container)`, and returns a value) in a child
--- moonpod; returns that value, decoded from JSON. Raises with the child's
--- stderr when it fails. With opts.exit the child ends with os.exit once
--- it has written the value, whatever it left open.
function M.eval(body, opts)
  local code = prelude .. body .. "\nend)()\nio.write(json.encode(result == nil and json.null or result))\n"
  if opts and opts.exit then code = code .. "io.stdout:flush()\nos.exit(0)\n" end
  local r = M.script(code, opts)
  if r.status ~= 0 then
    error(("the child moonpod failed (status %s):\n%s"):format(tostring(r.status), r.stderr), 2)
  end
  return moonpod.json.decode(r.stdout), r
end

--- Live processes whose command line contains `text` (pgrep -f), as pids.
function M.processes(text)
  local r = moonpod.run { "pgrep", "-f", "--", text }
  local pids = {}
  for pid in r.stdout:gmatch("%d+") do
    if engine.alive(pid) then pids[#pids + 1] = pid end
  end
  return pids
end

return M
