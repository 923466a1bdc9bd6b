-- The fault-injecting fake engine (tests/fake/fake_engine.c), for faults a
-- real engine can't be made to produce on demand.

local moonpod = require "moonpod"

local M = {}

local FAKE = os.getenv("MOONPOD_FAKE_ENGINE") or "build/release/fake-engine"
M.TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

local serial = 0

--- Starts a fake engine with routes like "/v1.41/containers=garbage" and
--- extra flags; returns its socket path and the task running it
--- (cancelling the task kills the fake).
function M.start(routes, flags)
  serial = serial + 1
  local sock = ("%s/fake-%d-%d.sock"):format(M.TMP, math.floor(moonpod.now() * 1000) % 100000000, serial)
  local ready = sock .. ".ready"
  os.remove(ready)
  local argv = { FAKE, sock, "--ready-file", ready }
  for _, f in ipairs(flags or {}) do argv[#argv + 1] = f end
  for _, r in ipairs(routes or {}) do
    argv[#argv + 1] = "--route"
    argv[#argv + 1] = r
  end
  local runner = moonpod.spawn(moonpod.run, argv)
  for _ = 1, 500 do
    local f = io.open(ready)
    if f then
      f:close()
      return sock, runner
    end
    moonpod.sleep(0.01)
  end
  runner:cancel()
  error("the fake engine did not come up: " .. FAKE)
end

--- Writes `text` to a fresh file under the test tmp dir; returns its path.
function M.file(name, text)
  serial = serial + 1
  local path = ("%s/fake-data-%d-%s"):format(M.TMP, serial, name)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

--- One Docker multiplexed log frame.
function M.frame(stream, payload)
  return string.char(stream, 0, 0, 0) .. string.pack(">I4", #payload) .. payload
end

--- Number of open file descriptors of this process.
--- Also returns what they are, one "fd -> target" line each.
function M.open_fds()
  -- The child lists our fds only at the end of its stdin: by the time we
  -- close that, spawning it is over, our copies of its ends of the pipes are
  -- closed and so is our end of its stdin. Listing at once raced with the
  -- spawn and counted some of them now and then.
  local r = moonpod.run({ "sh", "-c", 'cat >/dev/null && exec ls -l "/proc/$1/fd"', "sh", tostring(M.pid()) },
    { stdin = "go\n" })
  local n, what = 0, {}
  for line in r.stdout:gmatch("[^\n]+") do
    local fd, target = line:match("(%d+) %-> (.*)$")
    if fd then
      n = n + 1
      what[#what + 1] = fd .. " -> " .. target
    end
  end
  return n, table.concat(what, "\n")
end

local pid
--- This process's pid (the parent of a child we start).
function M.pid()
  if not pid then
    local r = moonpod.run { "sh", "-c", "echo $PPID" }
    pid = tonumber(r.stdout)
  end
  return pid
end

return M
