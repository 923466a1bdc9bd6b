-- A program in a real terminal: tmux on a private server, driven with
-- send-keys and read back with capture-pane. Each session has its own tmux
-- server (-L), so specs never touch anyone's tmux, and the server is killed
-- when the session is.

local moonpod = require "moonpod"

local M = {}

local Session = {}
Session.__index = Session

local counter = 0

local function tmux(self, ...)
  local argv = { "tmux", "-L", self.server, ... }
  local r = moonpod.run(argv, { timeout = 30 })
  if not r.ok then
    error(("tmux %s failed (%d): %s"):format(table.concat({ ... }, " "), r.status, r.stderr), 3)
  end
  return r.stdout
end

--- Starts argv in a new terminal of cols x rows (default 100 x 30) with
--- `env` (a table of NAME = value) added to its environment. The pane
--- stays after the program ends, so its exit status can be read.
function M.start(argv, opts)
  opts = opts or {}
  counter = counter + 1
  local self = setmetatable({
    server = ("mpt-tmux-%d-%d-%d"):format(math.floor(moonpod.now() * 1000) % 100000000, counter,
      math.random(1, 1e6)),
  }, Session)
  local cmd = { "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
    "new-session", "-d", "-s", "main", "-x", tostring(opts.cols or 100), "-y", tostring(opts.rows or 30),
    "env" }
  local names = {}
  for k in pairs(opts.env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do cmd[#cmd + 1] = k .. "=" .. opts.env[k] end
  for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
  tmux(self, "-f", "/dev/null", table.unpack(cmd))
  self.socket = tmux(self, "display-message", "-p", "#{socket_path}"):gsub("%s+$", "")
  return self
end

--- Types text literally (no key names: "end" is not the End key).
function Session:type(text)
  tmux(self, "send-keys", "-t", "main", "-l", text)
end

--- Presses keys by tmux's names: "Enter", "Tab", "C-c", "C-d", "q" ...
function Session:keys(...)
  tmux(self, "send-keys", "-t", "main", ...)
end

--- Types a line and presses Enter.
function Session:line(text)
  self:type(text)
  self:keys("Enter")
end

--- The visible screen, trailing blank lines removed.
function Session:screen()
  return (tmux(self, "capture-pane", "-p", "-t", "main"):gsub("%s+$", ""))
end

--- Polls the screen until fn(screen) is true or `seconds` (default 10)
--- pass; returns the result and the last screen seen.
function Session:wait(fn, seconds)
  local deadline = moonpod.monotonic() + (seconds or 10)
  while true do
    local screen = self:screen()
    if fn(screen) then return true, screen end
    if moonpod.monotonic() > deadline then return false, screen end
    moonpod.sleep(0.05)
  end
end

--- Waits until the screen contains `text` (plain).
function Session:wait_text(text, seconds)
  return self:wait(function(s) return s:find(text, 1, true) ~= nil end, seconds)
end

-- The exit status of a zombie, from /proc/PID/stat's exit_code field (the
-- 52nd): tmux sometimes sees the pane's end before it reaps the process.
local function zombie_status(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("l") or ""
  f:close()
  local fields = {}
  for w in (stat:match("%) (.*)$") or ""):gmatch("%S+") do fields[#fields + 1] = w end
  -- fields[1] is the state (field 3 of the file)
  if fields[1] ~= "Z" or not fields[50] then return nil end
  local code = tonumber(fields[50])
  return code and (code >> 8) & 0xff
end

--- Whether the program has ended, and its exit status (nil until known).
function Session:status()
  local out = tmux(self, "display-message", "-p", "-t", "main", "#{pane_dead} #{pane_pid} #{pane_dead_status}")
  local dead, pid, status = out:match("^(%d) (%d+) ?(%d*)")
  if dead == "1" and status == "" then return true, zombie_status(pid) end
  return dead == "1", tonumber(status)
end

--- Waits for the program to end; returns its exit status (nil if it did not end).
function Session:wait_exit(seconds)
  local deadline = moonpod.monotonic() + (seconds or 10)
  while true do
    local dead, status = self:status()
    if dead and status then return status end
    if moonpod.monotonic() > deadline then return nil end
    moonpod.sleep(0.05)
  end
end

--- Kills the program and its tmux server, and removes the server's socket.
function Session:kill()
  moonpod.run({ "tmux", "-L", self.server, "kill-server" }, { timeout = 30 })
  if self.socket and self.socket ~= "" then os.remove(self.socket) end
end

return M
