-- The REPL and `moonpod top` in a real terminal (tmux) against the engine
-- under test, and the same globals for code piped in.

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local tmux = require "helpers.tmux"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

-- Each session gets a fresh HOME: its history file goes there, not into
-- the user's home, and starts empty.
local function engine_env()
  local home = TMP .. "/" .. engine.unique("home")
  assert(moonpod.run({ "mkdir", "-p", home }).ok)
  return {
    CONTAINER_HOST = "unix://" .. engine.socket(),
    HOME = home,
    MOONPOD_LOG_FORMAT = "text",
  }
end

local function last_line(screen)
  return screen:match("([^\n]*)$")
end

-- The lines of the screen that are exactly `text`.
local function count_lines(screen, pattern)
  local n = 0
  for l in (screen .. "\n"):gmatch("([^\n]*)\n") do
    if l:match(pattern) then n = n + 1 end
  end
  return n
end

describe("the REPL on " .. engine.name, function()
  local logger = engine.unique("repl-log")
  local named = engine.unique("repl-name")
  local s

  setup(function()
    engine.container { name = logger, cmd = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.1; done" }
    engine.container { name = named }
  end)

  teardown(function()
    engine.remove(logger, named)
  end)

  local env

  before_each(function()
    env = engine_env()
    s = tmux.start({ BIN }, { env = env })
    assert.is_true((s:wait(function(sc) return last_line(sc) == ">" end)), s:screen())
  end)

  after_each(function()
    s:kill()
    moonpod.run { "rm", "-rf", env.HOME }
  end)

  it("prints expressions, runs statements, continues incomplete chunks and exits on Ctrl-D", function()
    s:line("1 + 1")
    assert.is_true((s:wait_text("> 1 + 1\n2\n>")), s:screen())
    s:line("for i = 1, 3 do")
    assert.is_true((s:wait(function(sc) return last_line(sc) == ">>" end)), s:screen())
    s:line("print('n' .. i * 10)")
    s:line("end")
    assert.is_true((s:wait_text("n10\nn20\nn30\n>")), s:screen())
    s:line("{ b = 2, a = { 1, 2 }, 'x' }")
    assert.is_true((s:wait_text('{ "x", a = { 1, 2 }, b = 2 }')), s:screen())
    s:line("error(moonpod.error('conflict', 'it clashed'))")
    assert.is_true((s:wait_text("conflict: it clashed\nstack traceback:\n")), s:screen())
    s:line("client:get_container('" .. named .. "')")
    assert.is_true((s:wait_text("<Container " .. named .. " running ")), s:screen())
    s:line("_PROMPT = 'mp$ '; _PROMPT2 = 'mp+ '")
    s:line("do")
    assert.is_true((s:wait(function(sc) return last_line(sc) == "mp+" end)), s:screen())
    s:line("end")
    assert.is_true((s:wait(function(sc) return last_line(sc) == "mp$" end)), s:screen())
    s:keys("C-d")
    assert.are.equal(0, s:wait_exit())
    local f = assert(io.open(env.HOME .. "/.moonpod_history"))
    local history = f:read("a")
    f:close()
    assert.truthy(history:find("\n1\\040+\\0401\n", 1, true), history) -- libedit's encoding of "1 + 1"
  end)

  it("recalls a line typed in an earlier session with Up", function()
    s:line("'from the ' .. 'first session'")
    assert.is_true((s:wait_text("from the first session")), s:screen())
    s:keys("C-d")
    assert.are.equal(0, s:wait_exit())
    s:kill()
    s = tmux.start({ BIN }, { env = env }) -- same HOME, so the same history file
    assert.is_true((s:wait(function(sc) return last_line(sc) == ">" end)), s:screen())
    s:keys("Up")
    assert.is_true((s:wait_text("> 'from the ' .. 'first session'")), s:screen())
    s:keys("Enter")
    assert.is_true((s:wait_text('"from the first session"\n>')), s:screen())
  end)

  it("-i SCRIPT runs the script, then prompts with its globals", function()
    local path = env.HOME .. "/start.lua"
    local f = assert(io.open(path, "w"))
    f:write("x = 41\nprint('script ran')\n")
    f:close()
    s:kill()
    s = tmux.start({ BIN, "-i", path }, { env = env })
    assert.is_true((s:wait(function(sc)
      return sc:find("script ran\n", 1, true) and last_line(sc) == ">"
    end)), s:screen())
    s:line("x + 1")
    assert.is_true((s:wait_text("> x + 1\n42\n>")), s:screen())
  end)

  it("completes a method of the client", function()
    s:type("client:st")
    s:keys("Tab", "Tab") -- the first inserts what is common, the second lists
    assert.is_true((s:wait(function(sc)
      return sc:find("start_container", 1, true) and sc:find("stop_container", 1, true)
    end)), s:screen())
    s:keys("C-c")
    assert.is_true((s:wait(function(sc) return last_line(sc) == ">" end)), s:screen())
    s:type("client:unp")
    s:keys("Tab")
    assert.is_true((s:wait_text("> client:unpause_container")), s:screen())
  end)

  it("completes methods of a connected client, a timer, a stream and a task", function()
    s:line("client:ping()")
    assert.is_true((s:wait_text("> client:ping()\ntrue")), s:screen())
    s:line("t = moonpod.every(60, function() end)")
    s:line("ev = client:get_events{}")
    s:line("k = moonpod.spawn(moonpod.sleep, 60)")
    s:line("type(t), type(ev), type(k)")
    assert.is_true((s:wait(function(sc) return sc:find('"userdata"%s+"userdata"%s+"userdata"') end)), s:screen())
    for _, case in ipairs {
      { "client:unp", "client:unpause_container" }, { "client.runt", "client.runtime" },
      { "t:ac", "t:active" }, { "t:sto", "t:stop" }, { "ev:cl", "ev:close" }, { "k:jo", "k:join" }, { "k:can", "k:cancel" },
    } do
      s:type(case[1])
      s:keys("Tab")
      assert.is_true((s:wait(function(sc) return last_line(sc) == "> " .. case[2] end)), case[1] .. "\n" .. s:screen())
      s:keys("C-c")
      assert.is_true((s:wait(function(sc) return last_line(sc) == ">" end)), s:screen())
    end
    s:line("t:stop(); ev:close(); k:cancel()")
  end)

  -- A fresh session: the names are fetched when the prompt starts, through
  -- a connection of completion's own (`client` not used yet).
  it("completes a container name and an id prefix inside a string argument", function()
    local id = engine.cli("inspect", "--format", "{{.Id}}", named)
    moonpod.sleep(0.5)
    local function complete(partial, want)
      s:type('client:get_container("' .. partial)
      s:keys("Tab")
      local function done(sc) return last_line(sc) == '> client:get_container("' .. want end
      if not s:wait(done, 3) then s:keys("Tab") end -- once more, if the names were late
      assert.is_true((s:wait(done)), s:screen())
      s:type('")')
      s:keys("Enter")
      assert.is_true((s:wait_text("<Container " .. named)), s:screen())
      s:line("print('--')")
      assert.is_true((s:wait(function(sc) return last_line(sc) == ">" and sc:find("\n%-%-\n>$") end)), s:screen())
    end
    complete(named:sub(1, #named - 3), named)
    complete(id:sub(1, 6), id:sub(1, 12))
  end)

  it("shows a timer's output, io.stdout:write and io.stderr:write above the line being typed", function()
    s:line("t = moonpod.every(0.1, function() print('tick') moonpod.log.warn('warned') "
      .. "io.stdout:write('otick\\n') io.stderr:write('etick', '\\n') end)")
    s:type("unfinished = ")
    local ok, screen = s:wait(function(sc)
      return count_lines(sc, "^tick$") >= 3 and count_lines(sc, "^%S+Z WARN%s+warned$") >= 3
        and count_lines(sc, "^otick$") >= 3 and count_lines(sc, "^etick$") >= 3
        and last_line(sc) == "> unfinished ="
    end)
    assert.is_true(ok, screen)
    -- nothing printed into the typed line
    assert.are.equal(0, count_lines(screen, "tick.*unfinished"))
    assert.are.equal(0, count_lines(screen, "unfinished.*tick"))
    assert.are.equal(0, count_lines(screen, "warned.*unfinished"))
    s:type("40 + 2")
    s:keys("Enter")
    s:line("t:stop(); return unfinished")
    assert.is_true((s:wait_text("\n42\n")), s:screen())
    -- Lua's own errors for what write can't take
    s:line("io.stdout:write({})")
    assert.is_true((s:wait_text("bad argument #1 to 'write' (string expected, got table)")), s:screen())
    s:keys("C-d")
    assert.are.equal(0, s:wait_exit(30))
  end)

  it("shows a listener handler's output above the line being typed", function()
    local late = engine.unique("repl-seen")
    finally(function() engine.remove(late) end)
    s:line("l = events.listener{ event_types = { 'start' }, container_filters = { name = '" .. late .. "' } }")
    s:line("l:add_event_handler(function(e) print('seen ' .. e.action .. ' ' .. e.container_name) end)")
    s:line("l:start()")
    s:line("print('started')")
    assert.is_true((s:wait_text("\nstarted\n>")), s:screen())
    s:type("half = 6 *")
    engine.container { name = late }
    local ok, screen = s:wait(function(sc)
      return count_lines(sc, "^seen start " .. late:gsub("%p", "%%%0") .. "$") == 1 and last_line(sc) == "> half = 6 *"
    end, 30)
    assert.is_true(ok, screen)
    s:type(" 7")
    s:keys("Enter")
    s:line("l:stop(); return half")
    assert.is_true((s:wait_text("\n42\n")), s:screen())
  end)

  it("shows a log followed in a spawned task above the line being typed", function()
    s:line("f = moonpod.spawn(function() for l in client:get_container_logs('" .. logger
      .. "', { follow = true, tail = 1 }) do print('followed ' .. l.text) end end)")
    s:type("half = 6 *")
    local ok, screen = s:wait(function(sc)
      return count_lines(sc, "^followed line%-%d+$") >= 3 and last_line(sc) == "> half = 6 *"
    end)
    assert.is_true(ok, screen)
    assert.are.equal(0, count_lines(screen, "followed.*half"))
    assert.are.equal(0, count_lines(screen, "half.*followed"))
    s:type(" 7")
    s:keys("Enter")
    s:line("f:cancel(); return half")
    assert.is_true((s:wait_text("\n42\n")), s:screen())
  end)

  it("cancels a followed log with Ctrl-C and closes its stream", function()
    s:line("logs = client:get_container_logs('" .. logger .. "', { follow = true, tail = 1 })")
    -- the stream is the loop's to-be-closed value, as in `for l in client:get_container_logs(...)`
    s:line("for l in logs, nil, nil, logs do print('got ' .. l.text) end")
    assert.is_true((s:wait(function(sc) return count_lines(sc, "^got line%-%d+$") >= 3 end)), s:screen())
    s:keys("C-c")
    assert.is_true((s:wait(function(sc) return sc:find("interrupted\n>", 1, true) ~= nil end)), s:screen())
    s:line("tostring(logs)")
    assert.is_true((s:wait_text('"moonpod stream (closed')), s:screen())
  end)

  -- The chunk's streams are those it opened, wherever it keeps them; one
  -- opened by an earlier chunk stays open for the next (as a timer would).
  it("Ctrl-C closes the streams the chunk opened, kept in globals, not those it only read", function()
    s:line("older = client:get_container_logs('" .. logger .. "', { follow = true, tail = 1 })")
    assert.is_true((s:wait(function(sc) return last_line(sc) == ">" and sc:find("older = ", 1, true) end)), s:screen())
    s:line("newer = client:get_container_logs('" .. logger .. "', { follow = true, tail = 1 }) "
      .. "while true do print('o ' .. older:next().text, 'n ' .. newer:next().text) end")
    assert.is_true((s:wait(function(sc) return count_lines(sc, "^o line%-%d+%s+n line%-%d+$") >= 3 end)), s:screen())
    s:keys("C-c")
    assert.is_true((s:wait(function(sc) return sc:find("interrupted\n>", 1, true) ~= nil end)), s:screen())
    s:line("tostring(newer), tostring(older):match('^moonpod stream %(open')")
    assert.is_true((s:wait(function(sc)
      return sc:find('"moonpod stream %(closed, 0 queued%)"%s+"moonpod stream %(open"')
    end)), s:screen())
    s:line("older:next().text")
    assert.is_true((s:wait(function(sc) return sc:find('\n"line%-%d+"\n>$') ~= nil end)), s:screen())
    -- stopped inside Lua (no wait to cancel): the same
    s:line("busy = client:get_container_logs('" .. logger .. "', { follow = true }) print('spinning') while true do end")
    assert.is_true((s:wait_text("\nspinning")), s:screen())
    s:keys("C-c")
    assert.is_true((s:wait_text("\ninterrupted\n")), s:screen())
    s:line("tostring(busy)")
    assert.is_true((s:wait_text('"moonpod stream (closed, 0 queued)"')), s:screen())
    s:line("older:close()")
    s:keys("C-d")
    assert.are.equal(0, s:wait_exit(30))
  end)

  it("shows a stream returned by a call as the stream alone", function()
    s:line("client:get_events{}")
    local ok, screen = s:wait(function(sc) return sc:find("> client:get_events{}\n", 1, true) and last_line(sc) == ">" end)
    assert.is_true(ok, screen)
    local shown = screen:match("> client:get_events{}\n([^\n]*)\n")
    assert.matches("^<?moonpod stream %(open, %d+ queued%)>?$", shown)
  end)

  it("interrupts a chunk busy in Lua with Ctrl-C", function()
    s:line("print('spinning') n = 0 while true do n = n + 1 end")
    assert.is_true((s:wait_text("\nspinning")), s:screen())
    s:keys("C-c")
    assert.is_true((s:wait_text("\ninterrupted\n>")), s:screen())
    s:line("n > 0")
    assert.is_true((s:wait_text("> n > 0\ntrue\n>")), s:screen())
  end)

  it("help() shows the API reference", function()
    s:line("help(client.get_container_stats)")
    assert.is_true((s:wait_text("client:get_container_stats(id, opts?) -> ContainerStats | stream")), s:screen())
  end)
end)

-- The mechanism under the REPL's Ctrl-C, on its own: only a task that
-- asked (term.guard, as each chunk does) has its streams closed with it.
describe("the streams a task opened on " .. engine.name, function()
  it("close when it is cancelled if it tracks them, and only then", function()
    local term = require "moonpod.term"
    local client = moonpod.connect { socket_path = engine.socket() }
    local function cancelled_opener(track)
      local got = {}
      local t = moonpod.spawn(function()
        if track then term.guard() end
        got.stream = client:get_events {}
        got.dropped = client:get_events {} -- collected before the cancel: nothing to close
        got.dropped = nil
        moonpod.sleep(60)
      end)
      while not got.stream do moonpod.sleep(0.01) end
      collectgarbage()
      t:cancel()
      return got.stream
    end
    assert.are.equal("moonpod stream (closed, 0 queued)", tostring(cancelled_opener(true)))
    local kept = cancelled_opener(false)
    assert.matches("^moonpod stream %(open", tostring(kept))
    kept:close()
    -- a tracking task that ends well leaves its streams open
    local t = moonpod.spawn(function()
      term.guard()
      return client:get_events {}
    end)
    local s = t:join()
    assert.matches("^moonpod stream %(open", tostring(s))
    s:close()
    client:close()
  end)
end)

describe("moonpod top on " .. engine.name, function()
  local late = engine.unique("top-late")

  teardown(function()
    engine.remove(late)
  end)

  it("shows a container started after it opened, and quits with q", function()
    local env = engine_env()
    local s = tmux.start({ BIN, "top", "--interval", "0.3" }, { env = env, cols = 150, rows = 40 })
    local ok, screen = s:wait_text("NAME")
    if ok then
      assert.matches("^moonpod top — " .. engine.name, screen)
      assert.is_nil(screen:find(late, 1, true))
      engine.container { name = late }
      ok, screen = s:wait(function(sc) return sc:match(late:gsub("%p", "%%%0") .. "%s+running") ~= nil end, 30)
    end
    if ok then -- sorting keys
      s:keys("n")
      ok, screen = s:wait_text("sort: name")
    end
    if ok then -- a narrower window: the view is redrawn to fit it
      moonpod.run { "tmux", "-L", s.server, "resize-window", "-t", "main", "-x", "60" }
      ok, screen = s:wait(function(sc)
        local first = sc:match("^[^\n]*")
        return utf8.len(first) <= 60 and first:sub(-1) == "~"
      end)
    end
    s:keys("q")
    local status = s:wait_exit()
    s:kill()
    moonpod.run { "rm", "-rf", env.HOME }
    assert.is_true(ok, screen)
    assert.are.equal(0, status)
  end)
end)

describe("code piped into moonpod on " .. engine.name, function()
  it("runs with the REPL's globals, without prompts or escape codes", function()
    local r = moonpod.run({ BIN, "-" }, {
      stdin = "print(#client:list_containers() >= 0, type(events), type(registry))\n",
      env = { CONTAINER_HOST = "unix://" .. engine.socket() }, timeout = 60,
    })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("true\ttable\ttable\n", r.stdout)
  end)

  it("-i with piped lines prints results like the prompt, without prompts", function()
    local r = moonpod.run({ BIN, "-i" }, {
      stdin = "1 + 1\nfor i = 1, 2 do\nprint(i)\nend\nclient.runtime\n",
      env = { CONTAINER_HOST = "unix://" .. engine.socket() }, timeout = 60,
    })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal('2\n1\n2\n"' .. engine.name .. '"\n', r.stdout)
    assert.is_nil(r.stdout:find("\27", 1, true))
  end)
end)
