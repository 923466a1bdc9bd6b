-- `moonpod serve` as a child process against the engine under test:
-- isolation of faulty policies, SIGHUP reload, SIGTERM drain, systemd
-- readiness. Runs the binary under test (MOONPOD_BIN).

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function fresh_dir(tag)
  local dir = ("%s/%s"):format(TMP, engine.unique("serve-" .. tag))
  assert(moonpod.run({ "mkdir", "-p", dir }).ok)
  return dir
end

-- A policy that appends "<tag> <action> <name>" for every event it sees.
local function recorder(out, tag)
  return ([[
return {
  on_event = function(ev)
    local f = assert(io.open(%q, "a"))
    f:write(%q, " ", ev.action, " ", tostring(ev.container_name), "\n")
    f:close()
  end,
}
]]):format(out, tag)
end

-- Patterns below are plain text (container names have '-' in them).

-- Starts `moonpod serve args...` with its log in dir/serve.log; returns a
-- handle with the pid and a task whose result is moonpod.run's.
local function serve(dir, args, env)
  local argv = { "sh", "-c", 'echo $$ > "$1/serve.pid"; d=$1; shift; exec "$@" 2> "$d/serve.log"', "sh", dir, BIN, "serve" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local h = { dir = dir, log = dir .. "/serve.log" }
  h.task = moonpod.spawn(moonpod.run, argv, { env = env, timeout = 60 })
  assert(engine.wait_for(function() return read(dir .. "/serve.pid"):match("%d+") end, 10), "serve did not start")
  h.pid = read(dir .. "/serve.pid"):match("%d+")
  function h.logged(pattern)
    return engine.wait_for(function() return read(h.log):find(pattern, 1, true) ~= nil end, 20)
  end
  function h.signal(name)
    assert(moonpod.run({ "kill", "-" .. name, h.pid }).ok)
  end
  function h.stop()
    if engine.alive(h.pid) then h.signal("TERM") end
    return h.task:join()
  end
  return h
end

local function seen(path, pattern)
  return engine.wait_for(function() return read(path):find(pattern, 1, true) ~= nil end, 20)
end

describe("moonpod serve on " .. engine.name, function()
  local names, servers = {}, {}

  local function container(tag)
    local name = engine.unique(tag)
    names[#names + 1] = name
    engine.container { name = name, cmd = "true" }
    return name
  end

  local function start(dir, args, env)
    local h = serve(dir, args, env)
    servers[#servers + 1] = h
    return h
  end

  after_each(function()
    for _, h in ipairs(servers) do
      if engine.alive(h.pid) then moonpod.run { "kill", "-KILL", h.pid } end
      h.task:join()
    end
    servers = {}
    if #names > 0 then engine.remove(table.unpack(names)) end
    names = {}
  end)

  it("stops a failing, a runaway and a memory-hungry policy, and the others go on", function()
    local dir = fresh_dir("iso")
    local out = dir .. "/seen.txt"
    write(dir .. "/recorder.lua", recorder(out, "rec"))
    write(dir .. "/errors.lua", 'return { on_event = function(ev) error("bad policy on " .. ev.action) end }\n')
    write(dir .. "/runaway.lua", "return { on_event = function(ev) while true do end end }\n")
    write(dir .. "/hungry.lua", [[
local keep = {}
return { on_event = function(ev) while true do keep[#keep + 1] = ("x"):rep(1 << 20) .. #keep end end }
]])
    -- waits in its handler (a slow webhook, say), with room for one more
    -- event: loses its own events and holds up no one else
    write(dir .. "/slow.lua", [[
local moonpod = require "moonpod"
local events = require "moonpod.events"
local l = events.listener { event_buffer_size = 1 }
l:add_event_handler(function(ev) moonpod.sleep(60) end)
l:start()
]])
    -- top-level code with its own events.listener, reading the shared stream
    write(dir .. "/toplevel.lua", ([[
local events = require "moonpod.events"
local l = events.listener { event_types = { "start" } }
l:add_event_handler(function(ev)
  local f = assert(io.open(%q, "a"))
  f:write("top ", ev.action, " ", ev.container_name, " shared=", tostring(l.source:stats().shared), "\n")
  f:close()
end)
l:start()
]]):format(out))
    local h = start(dir, { "--memory-limit", "16", "--time-limit", "0.5", "--drain-timeout", "0.5", dir })
    assert.is_true(h.logged("serve: ready: 6 of 6 policies running"), read(h.log))

    local first = container("iso1")
    assert.is_true(seen(out, "rec start " .. first), read(out))
    assert.is_true(h.logged("policy 'runaway' stopped: a handler ran over its time budget"), read(h.log))
    assert.is_true(h.logged("policy 'hungry' stopped: it reached its memory limit of 16777216 bytes"), read(h.log))

    -- after the others were stopped, the recorder still acts
    local second = container("iso2")
    assert.is_true(seen(out, "rec start " .. second), read(out))
    assert.is_true(seen(out, "top start " .. second .. " shared=true"), read(out))

    local r = h.stop()
    assert.are.equal(0, r.status, read(h.log))
    local log = read(h.log)
    assert.matches("policy 'errors'[^\n]*bad policy on start", log)
    assert.matches("policy 'recorder': running; starts=1 errors=0 timeouts=0 memory_faults=0", log)
    assert.matches("policy 'runaway': failed; starts=1 errors=0 timeouts=1 memory_faults=0", log)
    assert.matches("policy 'hungry': failed; starts=1 errors=0 timeouts=0 memory_faults=1", log)
    assert.matches("policy 'toplevel': running; starts=1 errors=0 timeouts=0 memory_faults=0", log)
    assert.matches("policy 'slow' falls behind: 1 event dropped so far", log)
    local dropped = tonumber(log:match("policy 'slow': running;[^\n]* events_dropped=(%d+)"))
    assert.is_true(dropped >= 1, log)
    -- the slow handler was still waiting: the drain bound ended it
    assert.matches("1 task still running after the drain timeout of 0.5 s; stopping them", log)
    local errors = tonumber(log:match("policy 'errors': running; starts=1 errors=(%d+)"))
    assert.is_true(errors >= 2, log) -- at least one event of each container
  end)

  it("reloads a changed policy on SIGHUP and keeps the old one when the new one does not load", function()
    local dir = fresh_dir("hup")
    local out = dir .. "/seen.txt"
    local file = dir .. "/rec.lua"
    write(file, recorder(out, "v1"))
    local h = start(dir, { file }, { MOONPOD_LOG_FORMAT = "json" })
    assert.is_true(h.logged("ready: 1 of 1 policies running"), read(h.log))
    local a = container("hup1")
    assert.is_true(seen(out, "v1 start " .. a), read(out))

    write(file, "return { on_event = function(ev) end,, }\n")
    h.signal("HUP")
    assert.is_true(h.logged("the changed file does not load; the running version goes on"), read(h.log))
    local b = container("hup2")
    assert.is_true(seen(out, "v1 start " .. b), read(out))

    write(file, recorder(out, "v2"))
    h.signal("HUP")
    assert.is_true(h.logged("policy 'rec' reloaded"), read(h.log))
    local c = container("hup3")
    assert.is_true(seen(out, "v2 start " .. c), read(out))
    assert.is_nil(read(out):find("v1 start " .. c, 1, true))

    assert.are.equal(0, h.stop().status)
    local lines = {}
    for line in read(h.log):gmatch("[^\n]+") do lines[#lines + 1] = moonpod.json.decode(line) end
    local opened, stream, last = 0, nil, nil
    for _, l in ipairs(lines) do
      if l.msg:find("one event stream from", 1, true) then opened = opened + 1 end
      stream = l.msg:match("^serve: shared event stream: (.*)") or stream
      last = l.msg
    end
    -- the stream was opened once and never had to reconnect, reloads or not
    assert.are.equal(1, opened)
    assert.matches("reconnects=0$", stream)
    assert.is_true(tonumber(stream:match("received=(%d+)")) >= 9) -- create, start, die... of 3 containers
    assert.matches("policy 'rec': running; starts=2 errors=0 timeouts=0 memory_faults=0 reloads=1 reload_failures=1", last)
  end)

  it("drains a running handler on SIGTERM and exits 0; stops what outlives the drain bound", function()
    local dir = fresh_dir("term")
    local out = dir .. "/seen.txt"
    write(dir .. "/slow.lua", ([[
local moonpod = require "moonpod"
return {
  events = { "start" },
  on_event = function(ev)
    local f = assert(io.open(%q, "a")) f:write("begin\n") f:close()
    moonpod.sleep(1)
    f = assert(io.open(%q, "a")) f:write("done\n") f:close()
  end,
}
]]):format(out, out))
    local h = start(dir, { "--drain-timeout", "20", dir })
    assert.is_true(h.logged("ready: 1 of 1"), read(h.log))
    container("term1")
    assert.is_true(seen(out, "begin"), read(out))
    h.signal("TERM")
    local r = h.task:join()
    assert.are.equal(0, r.status, read(h.log))
    assert.are.equal("begin\ndone\n", read(out))
    assert.matches("serve: drained; exiting", read(h.log))

    -- a task that never ends is stopped at the drain bound, still exit 0
    local dir2 = fresh_dir("term2")
    write(dir2 .. "/forever.lua", [[
local moonpod = require "moonpod"
moonpod.spawn(function() while true do moonpod.sleep(60) end end)
]])
    local h2 = start(dir2, { "--drain-timeout", "0.3", dir2 })
    assert.is_true(h2.logged("ready: 1 of 1"), read(h2.log))
    h2.signal("INT")
    assert.are.equal(0, h2.task:join().status, read(h2.log))
    assert.matches("1 task still running after the drain timeout of 0.3 s; stopping them", read(h2.log))
  end)

  it("tells systemd it is ready, feeds the watchdog and says it stops", function()
    local dir = fresh_dir("notify")
    local sock, got = dir .. "/notify.sock", dir .. "/notify.txt"
    local receiver = moonpod.spawn(moonpod.run,
      { "sh", "-c", 'echo $$ > "$1"; exec socat -u UNIX-RECV:"$2" CREATE:"$3"', "sh", dir .. "/socat.pid", sock, got },
      { timeout = 60 })
    assert.is_true(engine.wait_for(function() return moonpod.run({ "test", "-S", sock }).ok end, 10), "socat did not bind")
    write(dir .. "/idle.lua", "return {}\n")
    local h = start(dir, { dir .. "/idle.lua" }, { NOTIFY_SOCKET = sock, WATCHDOG_USEC = "100000" })
    assert.is_true(seen(got, "READY=1"), read(got))
    assert.is_true(seen(got, "WATCHDOG=1"), read(got))
    assert.are.equal(0, h.stop().status, read(h.log))
    assert.is_true(seen(got, "STOPPING=1"), read(got))
    moonpod.run { "kill", read(dir .. "/socat.pid"):match("%d+") }
    receiver:join()
  end)
end)
