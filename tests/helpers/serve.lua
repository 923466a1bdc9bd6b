--- `moonpod serve` as a child process (the binary under test, MOONPOD_BIN),
--- with its log in a file: serve.start(dir, args, env) -> handle
--- { pid, log, logged(text, seconds), log_text(), signal(name), stop() }.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local M = {}

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

function M.read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function M.start(dir, args, env)
  local argv = { "sh", "-c", 'echo $$ > "$1/serve.pid"; d=$1; shift; exec "$@" 2> "$d/serve.log"', "sh", dir, BIN, "serve" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local h = { dir = dir, log = dir .. "/serve.log" }
  h.task = moonpod.spawn(moonpod.run, argv, { env = env, timeout = 120 })
  assert(engine.wait_for(function() return M.read(dir .. "/serve.pid"):match("%d+") end, 10), "serve did not start")
  h.pid = M.read(dir .. "/serve.pid"):match("%d+")
  function h.log_text() return M.read(h.log) end
  --- waits until the log has `text` (plain) in it
  function h.logged(text, seconds)
    return engine.wait_for(function() return M.read(h.log):find(text, 1, true) ~= nil end, seconds or 20)
  end
  function h.signal(name)
    moonpod.run { "kill", "-" .. name, h.pid }
  end
  function h.stop()
    if engine.alive(h.pid) then h.signal("TERM") end
    local r = h.task:join()
    if engine.alive(h.pid) then moonpod.run { "kill", "-KILL", h.pid } end
    return r
  end
  return h
end

return M
