--- A real HTTP receiver on loopback (tests/helpers/webhook_receiver.py) as
--- a child process: receiver.start(dir, fail_first) -> { url, posts(), refused(), stop() }.

local moonpod = require "moonpod"

local M = {}

local read = require("helpers.serve").read
local wait_for = require("helpers.engine").wait_for

--- Starts the receiver writing into dir (created); the first `fail_first`
--- POSTs to /hook are answered 503. Raises when it does not come up.
function M.start(dir, fail_first)
  assert(moonpod.run({ "mkdir", "-p", dir }).ok)
  local argv = { "sh", "-c", 'echo $$ > "$1/receiver.pid"; exec python3 "$2" "$1" "$3"', "sh", dir,
    "tests/helpers/webhook_receiver.py", tostring(fail_first or 0) }
  local r = { dir = dir }
  r.task = moonpod.spawn(moonpod.run, argv, { timeout = 300 })
  assert(wait_for(function() return read(dir .. "/port"):match("^%d+$") ~= nil end, 10), "the receiver did not start")
  r.pid = read(dir .. "/receiver.pid"):match("%d+")
  r.base = "http://127.0.0.1:" .. read(dir .. "/port")
  r.url = r.base .. "/hook"
  --- the bodies POSTed to /hook, decoded, in order
  function r.posts()
    local list = {}
    for line in read(dir .. "/posts"):gmatch("[^\n]+") do list[#list + 1] = moonpod.json.decode(line) end
    return list
  end
  function r.refused()
    local n = 0
    for _ in read(dir .. "/refused"):gmatch("503") do n = n + 1 end
    return n
  end
  function r.wait_posts(n, seconds)
    return wait_for(function() return #r.posts() >= n end, seconds or 20)
  end
  function r.stop()
    moonpod.run { "kill", r.pid }
    r.task:join()
  end
  return r
end

return M
