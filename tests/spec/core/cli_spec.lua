-- The script runner behaves like the `lua` interpreter, with the loop.
-- Runs the binary under test (MOONPOD_BIN) as a child process.

local moonpod = require "moonpod"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

local function run(args, opts)
  local argv = { BIN }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  opts = opts or {}
  opts.timeout = opts.timeout or 30
  return moonpod.run(argv, opts)
end

local function script(name, text)
  local path = ("%s/mp-cli-%d-%s"):format(TMP, math.floor(moonpod.now() * 1e6) % 1000000000, name)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("moonpod as a Lua interpreter", function()
  it("-v prints the version", function()
    local r = run { "-v" }
    assert.are.equal(0, r.status)
    assert.matches("^moonpod " .. moonpod.version:gsub("%.", "%%.") .. " %(Lua 5%.4", r.stdout)
  end)

  it("-e runs code, in order with -l", function()
    local r = run { "-l", "mp=moonpod", "-e", "print(mp.version)", "-e", "print(1 + 1)" }
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal(moonpod.version .. "\n2\n", r.stdout)
  end)

  it("passes arguments in arg and ...", function()
    local path = script("args.lua", "print(arg[0], arg[1], arg[2], #arg, ...)\nprint(arg[-1] ~= nil)")
    local r = run { path, "one", "two" }
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal(path .. "\tone\ttwo\t2\tone\ttwo\ntrue\n", r.stdout)
  end)

  it("skips a shebang line", function()
    local path = script("shebang.lua", "#!/usr/bin/env moonpod\nprint('ran')\n")
    local r = run { path }
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("ran\n", r.stdout)
  end)

  it("exits 1 with a traceback on an uncaught error", function()
    local path = script("boom.lua", "local function f() error('boom') end\nf()\n")
    local r = run { path }
    assert.are.equal(1, r.status)
    assert.matches("^moonpod: [^\n]*boom%.lua:1: boom\nstack traceback:\n", r.stderr)
    assert.matches("in local 'f'", r.stderr)
  end)

  it("survives a child that exits without reading its stdin", function()
    -- 4 MB cannot sit in a pipe: the write meets a reader that has gone
    local r = run { "-e", [[
      local moonpod = require "moonpod"
      for _, input in ipairs { "", string.rep("x", 4 * 1024 * 1024) } do
        local c = moonpod.run({ "true" }, { stdin = input })
        print(c.ok, c.status)
      end]] }
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("true\t0\ntrue\t0\n", r.stdout)
  end)

  it("ends, like lua, when its stdout is a pipe nobody reads any more", function()
    -- a shell only to build the pipeline under test: `moonpod ... | head -n 1`
    local r = moonpod.run({ "sh", "-c", '"$0" -e "while true do print(1) end" | head -n 1', BIN },
      { timeout = 30 })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("1\n", r.stdout)
  end)

  it("exits 1 when the error comes after a wait", function()
    local r = run { "-e", "require'moonpod'.sleep(0.01) error('late')" }
    assert.are.equal(1, r.status)
    assert.matches("late", r.stderr)
    assert.matches("stack traceback", r.stderr)
  end)

  it("reports an error object through its __tostring", function()
    local r = run { "-e", "error(setmetatable({}, {__tostring = function() return 'custom!' end}))" }
    assert.are.equal(1, r.status)
    assert.matches("^moonpod: custom!", r.stderr)
  end)

  it("reports syntax errors and missing files without running anything", function()
    local r = run { "-e", "print('no')", "-e", "x = = 1" }
    assert.are.equal(1, r.status)
    assert.are.equal("", r.stdout)
    assert.matches("%(command line%):1:", r.stderr)
    local r2 = run { TMP .. "/no-such-script.lua" }
    assert.are.equal(1, r2.status)
    assert.matches("cannot open", r2.stderr)
  end)

  it("runs stdin for - and when stdin is not a terminal", function()
    local r = run({ "-" , "x" }, { stdin = "print('from stdin', ...)" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("from stdin\tx\n", r.stdout)
    local r2 = run({}, { stdin = "print(#arg)" })
    assert.are.equal("0\n", r2.stdout)
  end)

  it("rejects unknown options with the usage", function()
    local r = run { "-z" }
    assert.are.equal(1, r.status)
    assert.matches("unrecognized option '%-z'", r.stderr)
    assert.matches("usage:", r.stderr)
    assert.matches("needs argument", run({ "-e" }).stderr)
  end)

  it("runs LUA_INIT first, unless -E", function()
    local r = run({ "-e", "print(X)" }, { env = { LUA_INIT = "X = 'init'" } })
    assert.are.equal("init\n", r.stdout)
    local r2 = run({ "-E", "-e", "print(X)" }, { env = { LUA_INIT = "X = 'init'" } })
    assert.are.equal("nil\n", r2.stdout)
  end)
end)

describe("moonpod's process lifetime", function()
  it("waits for tasks and timers the script started", function()
    local r = run { "-e", [[
      local m = require "moonpod"
      m.spawn(function() m.sleep(0.05) print("late task") end)
      local n = 0
      m.every(0.01, function(t) n = n + 1 if n == 3 then print("timer done") t:stop() end end)
      print("main done")
    ]] }
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^main done\n", r.stdout)
    assert.matches("late task", r.stdout)
    assert.matches("timer done", r.stdout)
  end)

  it("moonpod.exit and os.exit end at once with their code", function()
    local r = run { "-e", [[
      local m = require "moonpod"
      m.every(0.01, function() end)
      m.spawn(function() m.sleep(0.02) print("bye") m.exit(3) end)
    ]] }
    assert.are.equal(3, r.status)
    assert.are.equal("bye\n", r.stdout)
    assert.are.equal(1, run({ "-e", "os.exit(false)" }).status)
    assert.are.equal(0, run({ "-e", "os.exit(true, true)" }).status)
    assert.are.equal(5, run({ "-e", "pcall(function() coroutine.wrap(function() os.exit(5) end)() end) print('no')" }).status)
  end)

  it("reports a failed task by name and goes on", function()
    local r = run { "-e", [[
      local m = require "moonpod"
      m.spawn(function() error("task trouble") end)
      m.sleep(0.02)
      print("still here")
    ]] }
    assert.are.equal(0, r.status)
    assert.are.equal("still here\n", r.stdout)
    assert.matches("moonpod: task %d+ %(%(command line%):%d+%): [^\n]*task trouble", r.stderr)
  end)

  it("ends at once when the main chunk fails, whatever else runs", function()
    local t0 = moonpod.now()
    local r = run { "-e", [[
      local m = require "moonpod"
      m.every(0.01, function() end)
      m.sleep(0.02)
      error("main fails")
    ]] }
    assert.are.equal(1, r.status)
    assert.is_true(moonpod.now() - t0 < 10)
  end)

  it("logs one line per message, JSON when asked", function()
    local code = "local log = require('moonpod').log log.info('n=%d', 5) log.warn('careful')"
    local r = run { "-e", code }
    assert.matches("INFO  n=5\n", r.stderr)
    assert.matches("WARN  careful\n", r.stderr)
    local rj = run({ "-e", code }, { env = { MOONPOD_LOG_FORMAT = "json" } })
    local lines = {}
    for line in rj.stderr:gmatch("[^\n]+") do lines[#lines + 1] = moonpod.json.decode(line) end
    assert.are.equal(2, #lines)
    assert.are.equal("info", lines[1].level)
    assert.are.equal("n=5", lines[1].msg)
    assert.is_number(lines[1].ts)
  end)
end)

describe("moonpod.run", function()
  it("runs an argv without a shell and collects its output", function()
    local r = moonpod.run { "echo", "$HOME", "a b" }
    assert.are.equal(0, r.status)
    assert.is_true(r.ok)
    assert.are.equal("$HOME a b\n", r.stdout)
  end)

  it("reports exit status, stderr, stdin, env and timeouts", function()
    local r = moonpod.run({ "sh", "-c", "cat; echo \"$V\" >&2; exit 4" }, { stdin = "in\n", env = { V = "vee" } })
    assert.are.same({ 4, false, "in\n", "vee\n" }, { r.status, r.ok, r.stdout, r.stderr })
    local slow = moonpod.run({ "sleep", "10" }, { timeout = 0.1 })
    assert.is_true(slow.timed_out)
    assert.are.equal(9, slow.signal)
  end)

  it("bounds what it keeps of the output, and says so", function()
    local r = moonpod.run({ "head", "-c", "100000", "/dev/zero" }, { max_output = 1000 })
    assert.are.equal(1000, #r.stdout)
    assert.are.equal(99000, r.dropped_bytes)
  end)

  it("raises when the program can't be started", function()
    assert.has_error(function() moonpod.run { "/no/such/program" } end,
      "moonpod.run: cannot start '/no/such/program': no such file or directory")
    assert.has_error(function() moonpod.run {} end)
  end)

  it("lets other tasks run while it waits", function()
    local ticks = 0
    local t = moonpod.every(0.01, function() ticks = ticks + 1 end)
    moonpod.run { "sleep", "0.1" }
    t:stop()
    assert.is_true(ticks >= 5)
  end)
end)
