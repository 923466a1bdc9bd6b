--- moonpod.repl: the interactive prompt.
--
-- Each entered chunk runs as its own task while the loop goes on (timers,
-- listeners, followed logs keep printing, above the line being typed).
-- Like lua.c: a line is tried as `return <line>` first, input goes on
-- while the chunk ends in `<eof>`, errors show their `__tostring` and a
-- short traceback, `_PROMPT`/`_PROMPT2` set the prompts. Ctrl-C cancels
-- the running chunk or drops the line being typed; Ctrl-D leaves.
--
-- What Ctrl-C closes: the streams the chunk itself opened (the task
-- records them, term.guard), kept anywhere. Not a stream an earlier chunk
-- opened that this one only read: that chunk ended well and left it to
-- the user, like a timer or a listener, which Ctrl-C never stops.

local moonpod = require "moonpod"
local pretty = require "moonpod.pretty"

local M = {}

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

-- ---- the globals a session starts with ----

local function client_metatable()
  return debug.getregistry()["moonpod.client"]
end

-- The session's connection to the default engine: made by whichever
-- needs it first, `client` or the fetch of container names.
local default_client

local function connect_default()
  if default_client == nil then default_client = moonpod.connect() end
  return default_client
end

--- Preloads env (default _G) for interactive use: `moonpod`, `events`,
--- `registry`, `stats` (when the module exists), `help`, and `client`,
--- connected with moonpod.connect() the first time it is used. Names
--- already set are left alone.
function M.preload(env)
  env = env or _G
  local function set(name, value)
    if rawget(env, name) == nil and value ~= nil then rawset(env, name, value) end
  end
  set("moonpod", moonpod)
  set("events", require "moonpod.events")
  set("registry", require "moonpod.registry")
  local ok, stats = pcall(require, "moonpod.stats")
  if ok then set("stats", stats) end
  set("help", function(...) return require("moonpod.doc").help(...) end)
  if getmetatable(env) == nil then
    setmetatable(env, {
      __index = function(t, k)
        if k == "client" then
          local c = connect_default()
          rawset(t, "client", c)
          return c
        end
      end,
    })
  end
  return env
end

-- ---- completion ----

local function add_keys(set, t, want_functions)
  if type(t) ~= "table" then return end
  for k, v in next, t do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and (not want_functions or type(v) == "function") then
      set[k] = true
    end
  end
end

-- The names reachable from v with `.` (fields) or `:` (methods).
local function members(v, methods_only)
  local set = {}
  if type(v) == "table" then add_keys(set, v, methods_only) end
  local mt = getmetatable(v)
  if type(mt) == "table" then
    add_keys(set, rawget(mt, "methods"), methods_only)
    local index = rawget(mt, "__index")
    for _ = 1, 5 do -- a class chain, not forever
      if type(index) ~= "table" then break end
      add_keys(set, index, methods_only)
      local imt = getmetatable(index)
      index = type(imt) == "table" and rawget(imt, "__index") or nil
    end
  end
  if v ~= nil and getmetatable(v) == client_metatable() and not methods_only then
    for _, f in ipairs { "runtime", "transport", "endpoint", "api_version", "server_version" } do set[f] = true end
  end
  return set
end

-- Looks a field up without running anything that could wait or connect:
-- raw first, then an __index table, then (userdata) __index as a function.
local function peek(v, k)
  if type(v) == "table" then
    local r = rawget(v, k)
    if r ~= nil then return r end
  end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  local index = rawget(mt, "__index")
  if type(index) == "table" then return peek(index, k) end
  if type(v) == "userdata" and type(index) == "function" then
    local ok, r = pcall(index, v, k)
    if ok then return r end
  end
  return nil
end

local function resolve(env, path)
  local v
  for name in path:gmatch("[^.:]+") do
    if v == nil then
      v = rawget(env, name)
      if v == nil and name == "client" then
        -- not connected yet: complete from what every client has
        local mt = client_metatable()
        v = mt and mt.methods
      end
    else
      v = peek(v, name)
    end
    if v == nil then return nil end
  end
  return v
end

local function sorted_matches(set, prefix, head)
  local out = {}
  for k in pairs(set) do
    if k:sub(1, #prefix) == prefix then out[#out + 1] = head .. k end
  end
  table.sort(out)
  return out
end

-- Containers' names and ids for completion inside a string argument of a
-- client method: refreshed in the background (completion can't wait),
-- first when the prompt starts. Through `client` when it is set (it may
-- be another engine's), else through the connection `client` will get,
-- without setting the global behind the user's back.
local containers = { names = {}, at = -math.huge, busy = false }

local function names_client(env)
  local c = rawget(env, "client")
  if c ~= nil then return c end
  return connect_default()
end

local function refresh_containers(env)
  if containers.busy then return end
  containers.busy = true
  moonpod.spawn(function()
    local ok, list = pcall(function()
      local c = names_client(env)
      return c:list_containers { all = true }
    end)
    containers.busy = false
    containers.at = moonpod.monotonic()
    if ok and type(list) == "table" then
      local names = {}
      for _, ct in ipairs(list) do
        if type(ct.name) == "string" then names[#names + 1] = ct.name end
        if type(ct.id) == "string" then names[#names + 1] = ct.id:sub(1, 12) end
      end
      containers.names = names
    end
  end)
end
M.refresh_containers = refresh_containers

local function complete_container(env, word)
  if moonpod.monotonic() - containers.at > 2 then refresh_containers(env) end
  local out = {}
  for _, n in ipairs(containers.names) do
    if n:sub(1, #word) == word then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

--- Completion candidates for `word`, the word before the cursor in `line`
--- (the line up to the cursor): globals, fields and methods of tables and
--- userdata, container names and ids inside a string argument of a client
--- method. Each candidate replaces the whole word.
function M.complete(line, word, env)
  env = env or _G
  local before = line:sub(1, #line - #word)
  if before:match("[%w_]+[:.][%w_]+%s*%(%s*[\"']$") then
    return complete_container(env, word)
  end
  local path, sep, partial = word:match("^([%w_.:]-)([.:])([%w_]*)$")
  if path and path ~= "" then
    local v = resolve(env, path)
    if v == nil then return {} end
    return sorted_matches(members(v, sep == ":"), partial, path .. sep)
  end
  local set = members(env, false)
  set.client = true
  for _, k in ipairs(KEYWORDS) do set[k] = true end
  return sorted_matches(set, word, "")
end

-- ---- the loop ----

local function message_of(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(mt) == "table" and rawget(mt, "__tostring") then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return ("(error object is a %s value)"):format(type(e))
end

-- The traceback, without the REPL's own frames, cut to a few lines.
local function short_traceback(e)
  local tb = debug.traceback(message_of(e), 3)
  local lines = {}
  for l in tb:gmatch("[^\n]+") do
    if l:find("in function 'xpcall'", 1, true) or l:find("moonpod/repl.lua", 1, true)
      or l:find("%[C%]: in %?$") then
      break
    end
    lines[#lines + 1] = l
  end
  if lines[#lines] == "stack traceback:" then lines[#lines] = nil end
  if #lines > 10 then
    local n = #lines
    lines = { table.unpack(lines, 1, 10) }
    lines[#lines + 1] = ("\t... (%d more)"):format(n - 10)
  end
  return table.concat(lines, "\n")
end

local function compile(src, env, first)
  if first then
    local f = load("return " .. src, "=stdin", "t", env)
    if f then return f end
  end
  local f, err = load(src, "=stdin", "t", env)
  if f then return f end
  if err:sub(-5) == "<eof>" then return nil, err, true end
  return nil, err
end

-- The message of a chunk that Ctrl-C stopped inside Lua (term.guard's hook).
local function interrupted(msg)
  return type(msg) == "string" and msg:match("^interrupted") ~= nil
end

-- The values a chunk returned, as shown. A call that returns a stream
-- returns what a generic for wants (the stream, nil, nil, the stream as
-- the to-be-closed value): the stream alone is shown.
local function shown(r)
  if r.n == 5 and r[3] == nil and r[4] == nil and rawequal(r[2], r[5]) and type(r[2]) == "userdata" then
    return table.pack(r[2])
  end
  return table.pack(table.unpack(r, 2, r.n))
end

-- Lua's own rules for what file:write takes, and its number format.
local function write_text(fname, ...)
  local parts = table.pack(...)
  for i = 1, parts.n do
    local v = parts[i]
    if math.type(v) == "float" then
      parts[i] = ("%.14g"):format(v)
    elseif type(v) == "number" then
      parts[i] = tostring(v)
    elseif type(v) ~= "string" then
      error(("bad argument #%d to '%s' (string expected, got %s)"):format(i, fname, type(v)), 3)
    end
  end
  return table.concat(parts, "", 1, parts.n)
end

--- Starts the REPL on the terminal (or, when stdin is not one, on plain
--- lines without prompts) and returns at once: lines arrive from the loop,
--- each runs as a task, and the process exits at the end of the input
--- (Ctrl-D). opts: { env = _G, history = "~/.moonpod_history" }.
function M.run(opts)
  opts = opts or {}
  local env = M.preload(opts.env or _G)
  local term = require "moonpod.term"
  local out = term.write
  local err_out = out -- on a terminal, errors too go above the prompt
  local pending, running

  local function prompt()
    local p = rawget(env, pending and "_PROMPT2" or "_PROMPT")
    term.prompt(p ~= nil and tostring(p) or (pending and ">> " or "> "))
  end

  local function run_chunk(fn)
    running = moonpod.spawn(function()
      term.guard() -- Ctrl-C: a cancel closes what the chunk opened ...
      local r = table.pack(xpcall(fn, short_traceback))
      if not r[1] and interrupted(r[2]) then
        term.close_opened() -- ... and so does a stop inside Lua
      end
      return r
    end)
    local ok, r = pcall(running.join, running)
    running = nil
    if not ok then
      out("\ninterrupted\n") -- after the terminal's ^C
    elseif r[1] then
      if r.n > 1 then
        out(pretty.results(shown(r)) .. "\n")
      end
    else
      local msg = tostring(r[2])
      -- stopped by Ctrl-C in the middle of Lua: after the terminal's ^C
      err_out((interrupted(msg) and "\n" or "") .. msg .. "\n")
    end
    refresh_containers(env)
  end

  local function on_line(line)
    if line == nil then
      term.stop()
      moonpod.exit(0)
      return
    end
    term.add_history(line)
    local src = pending and (pending .. "\n" .. line) or line
    local fn, err, more = compile(src, env, pending == nil)
    if more then
      pending = src
      return prompt()
    end
    pending = nil
    if fn then
      run_chunk(fn)
    else
      err_out(err .. "\n")
    end
    prompt()
  end

  local function on_interrupt(was_editing)
    if running then
      running:cancel()
    elseif was_editing then
      pending = nil
      prompt()
    end
  end

  local mode = term.start {
    on_line = on_line,
    on_interrupt = on_interrupt,
    complete = function(line, word) return M.complete(line, word, env) end,
    history = opts.history or ((os.getenv("HOME") or ".") .. "/.moonpod_history"),
  }
  if mode ~= "tty" then
    err_out = function(s) io.stderr:write(s) end
  else
    -- Output of every task goes above the line being typed.
    rawset(env, "print", function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      out(table.concat(parts, "\t", 1, parts.n) .. "\n")
    end)
    local stdout, stderr = io.stdout, io.stderr
    io.write = function(...)
      out(write_text("write", ...))
      return stdout
    end
    -- io.stdout:write and io.stderr:write (io.output():write too): the
    -- method all files share, diverted for these two only.
    local file_methods = getmetatable(stdout).__index
    local file_write = file_methods.write
    file_methods.write = function(f, ...)
      if rawequal(f, stdout) or rawequal(f, stderr) then
        out(write_text("write", ...), rawequal(f, stderr))
        return f
      end
      return file_write(f, ...)
    end
    refresh_containers(env) -- names ready for the first Tab in a string
    out(("moonpod %s — help() for the API, Ctrl-D to leave\n"):format(moonpod.version))
  end
  prompt()
end

return M
