--- moonpod top: a full-screen live view of the containers.
--
--   moonpod top [--interval SECONDS | -d SECONDS] [NAME=URL ...]
--
-- Containers with their status, CPU, memory, network and block I/O, and
-- sparklines of the last minutes of CPU and memory. Keys: c (sort by CPU),
-- m (memory), n (name), s (status), r (reverse), q or Ctrl-C (quit). With
-- NAME=URL arguments (`podman=unix:///run/podman/podman.sock`) it watches
-- those engines together through moonpod.multi.
--
-- Samples and their history come from moonpod.stats: one monitor per
-- engine, watching every running container. Written on the public API
-- only (moonpod, moonpod.stats, moonpod.term), so it doubles as an example
-- of a moonpod script.

local moonpod = require "moonpod"
local stats = require "moonpod.stats"
local term = require "moonpod.term"
local pretty = require "moonpod.pretty"

local M = {}

local SPARKS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }

-- The most history a sparkline spans, in seconds.
local WINDOW = 480

-- ---- sparklines ----

--- The seconds one sparkline cell covers, `elapsed` seconds after top
--- opened: `base` at first, doubling whenever the history no longer fits
--- in `cells` cells, up to `window` / `cells`. So the line fills within
--- the first minute instead of showing one cell for minutes, and later
--- spans the whole window.
function M.spark_step(elapsed, base, cells, window)
  local cap = math.max(base, window / cells)
  local step = base
  while step * cells < elapsed and step < cap do step = step * 2 end
  return math.min(step, cap)
end

--- Places history points (each with a `timestamp` at the start of its
--- step-long slot, as mon:history{ step = } gives them) in `cells` cells
--- ending with the slot of `now`: returns a table of cell -> points[field],
--- with holes where there is no point.
function M.cells(points, field, now, step, cells)
  local last = math.floor(now / step)
  local out = {}
  for _, p in ipairs(points) do
    local i = math.floor(p.timestamp / step + 0.5) - last + cells
    if i >= 1 and i <= cells and type(p[field]) == "number" then out[i] = p[field] end
  end
  return out
end

--- A sparkline of `cells` cells from `values` (cell -> number, holes
--- blank), scaled to `top` (default: their maximum; higher values raise it).
function M.sparkline(values, cells, top)
  local max = top or 0
  for i = 1, cells do
    if values[i] and values[i] > max then max = values[i] end
  end
  local out = {}
  for i = 1, cells do
    local v = values[i]
    if v == nil then
      out[i] = " "
    else
      local level = max > 0 and math.floor(v / max * (#SPARKS - 1) + 0.5) + 1 or 1
      out[i] = SPARKS[math.max(1, math.min(#SPARKS, level))]
    end
  end
  return table.concat(out)
end

-- ---- the monitors: one per engine ----

-- The engines watched: key -> client (nil while it is down). The key is
-- what the list puts in each container's runtime: the engine's name with
-- several engines, "podman" or "docker" with one.
local function engine_clients(st)
  if not st.multi then return { [st.client.runtime] = st.client } end
  local out = {}
  for _, name in ipairs(st.names) do out[name] = st.client.clients[name] end
  return out
end

local function start_monitor(st, client)
  local mon = stats.monitor { client = client, interval = st.step, history = { retention = st.window } }
  local ok, err = pcall(mon.watch_all, mon)
  if not ok then
    mon:close()
    error(err, 0)
  end
  return mon
end

-- How long an engine whose monitor could not start waits for another try.
local RETRY = 10

-- A monitor for each connected engine that has none yet; one that can't
-- start is noted, and tried again RETRY seconds later.
local function ensure_monitors(st, notes)
  local now = moonpod.monotonic()
  for key, client in pairs(engine_clients(st)) do
    local failed = st.failed[key]
    if not st.monitors[key] and not (failed and now < failed.at + RETRY) then
      local ok, mon = pcall(start_monitor, st, client)
      if ok then
        st.monitors[key], st.failed[key] = mon, nil
      else
        st.failed[key] = { at = now, err = tostring(mon) }
      end
    end
    if st.failed[key] then notes[#notes + 1] = key .. ": no stats: " .. st.failed[key].err end
  end
end

-- ---- sampling ----

-- One round: the containers, each running one with its monitor's latest
-- sample (nil until the monitor has one).
local function sample(st)
  local list, failed = st.client:list_containers { all = true }
  local notes = {}
  for name, err in pairs(failed or {}) do notes[#notes + 1] = name .. ": " .. tostring(err) end
  ensure_monitors(st, notes)
  table.sort(notes)
  local rows = {}
  for _, c in ipairs(list) do
    local row = { c = c }
    local mon = st.monitors[c.runtime]
    if c.status == "running" and mon then
      local ok, s = pcall(mon.latest, mon, c.id)
      if ok then row.s = s end
    end
    rows[#rows + 1] = row
  end
  return rows, notes
end

-- ---- drawing ----

local SORTS = {
  c = { "cpu", function(r) return r.s and r.s.cpu_percent or -1 end },
  m = { "memory", function(r) return r.s and r.s.memory_usage_bytes or -1 end },
  n = { "name", function(r) return r.c.name or "" end },
  s = { "status", function(r) return r.c.status or "" end },
}

--- Sorts rows ({ c = Container, s = ContainerStats | nil }) in place by
--- `key`: "c" (CPU) and "m" (memory) highest first, rows without a sample
--- last; "n" (name) and "s" (status) in alphabetical order; `reverse` turns
--- the order around. Ties go by name. Returns rows.
function M.sorted(rows, key, reverse)
  local get = SORTS[key][2]
  local numeric = key == "c" or key == "m"
  table.sort(rows, function(a, b)
    local x, y = get(a), get(b)
    if x == y then return (a.c.name or "") < (b.c.name or "") end
    if numeric ~= reverse then return x > y end
    return x < y
  end)
  return rows
end

-- s cut or padded to w characters (UTF-8: "—" is one column, three bytes).
local function fit(s, w)
  local n = utf8.len(s) or #s
  if n > w then
    local cut = utf8.offset(s, math.max(1, w)) or (w + 1)
    return s:sub(1, cut - 1) .. "~"
  end
  return s .. (" "):rep(w - n)
end

local function pair(a, b)
  return pretty.bytes(a) .. "/" .. pretty.bytes(b)
end

-- The CPU and memory sparklines of a container, `cells` wide, from its
-- engine's monitor.
local function sparks(st, c, cells, now)
  local step = M.spark_step(now - st.started, st.cell, cells, st.window)
  local mon = st.monitors[c.runtime]
  local points = {}
  if mon then
    local since = (math.floor(now / step) - cells + 1) * step
    local ok, got = pcall(mon.history, mon, c.id, { since = since, step = step })
    if ok and type(got) == "table" then points = got end
  end
  return M.sparkline(M.cells(points, "cpu_percent", now, step, cells), cells, 100),
    M.sparkline(M.cells(points, "memory_usage_bytes", now, step, cells), cells)
end

local function render(st, cols, rows_on_screen)
  local multi = st.multi
  local name_w = 12
  for _, r in ipairs(st.rows) do name_w = math.max(name_w, #(r.c.name or "")) end
  name_w = math.min(name_w, 40)
  local head = ("%-" .. name_w .. "s %s%-9s %6s %9s %5s %17s %17s %4s"):format("NAME", multi and "ENGINE  " or "",
    "STATUS", "CPU%", "MEM", "MEM%", "NET RX/TX", "BLOCK R/W", "PIDS")
  local base = #head
  local spark_w = math.min(30, math.floor((cols - base - 2) / 2))
  if spark_w >= 5 then head = head .. " " .. fit("CPU", spark_w) .. " " .. fit("MEM", spark_w) end
  local running = 0
  for _, r in ipairs(st.rows) do
    if r.c.status == "running" then running = running + 1 end
  end
  local lines = {
    fit(("moonpod top — %s — %d containers, %d running — %s — sort: %s%s (c m n s r, q quits)"):format(
      st.where, #st.rows, running, os.date("%H:%M:%S"), SORTS[st.sort][1], st.reverse and " reversed" or ""), cols),
    fit(st.notes[1] or "", cols),
    fit(head, cols),
  }
  local now = moonpod.now()
  for _, r in ipairs(M.sorted(st.rows, st.sort, st.reverse)) do
    if #lines >= rows_on_screen then break end
    local c, s = r.c, r.s
    local text = ("%-" .. name_w .. "s %s%-9s %6s %9s %5s %17s %17s %4s"):format(fit(c.name or c.id:sub(1, 12), name_w),
      multi and fit(tostring(c.runtime), 7) .. " " or "", c.status,
      s and ("%.1f"):format(s.cpu_percent or 0) or "-", s and pretty.bytes(s.memory_usage_bytes) or "-",
      s and ("%.1f"):format(s.memory_percent or 0) or "-",
      s and pair(s.network_rx_bytes, s.network_tx_bytes) or "-",
      s and pair(s.block_read_bytes, s.block_write_bytes) or "-", s and tostring(s.pids or "-") or "-")
    text = fit(text, math.min(cols, base))
    if spark_w >= 5 then
      local cpu, mem = sparks(st, c, spark_w, now)
      text = text .. " " .. cpu .. " " .. mem
    end
    lines[#lines + 1] = text
  end
  return lines
end

local function draw(st)
  local cols, rows = term.size()
  local lines = render(st, cols, rows)
  io.write("\27[H", table.concat(lines, "\27[K\n"), "\27[K\27[J")
  io.stdout:flush()
end

-- ---- the command ----

local function usage()
  return "usage: moonpod top [--interval SECONDS] [NAME=URL ...]"
end

--- The command line after `top` -> { interval = seconds (2), engines =
--- { name = config } | nil }; raises the usage on anything else.
function M.parse(args)
  local opts = { interval = 2, engines = nil }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--interval" or a == "-d" then
      opts.interval = tonumber(args[i + 1])
      if not opts.interval or not (opts.interval > 0 and opts.interval <= 3600) then error(usage(), 0) end
      i = i + 1
    elseif a:match("^[%w_-]+=.+") then
      local name, url = a:match("^([%w_-]+)=(.+)$")
      opts.engines = opts.engines or {}
      opts.engines[name] = url:match("^unix://(.+)") and { socket_path = url:match("^unix://(.+)") }
        or { remote_url = url }
    else
      error(usage(), 0)
    end
    i = i + 1
  end
  return opts
end

--- Runs top until q. args: the command line after `top`.
function M.main(args)
  local opts = M.parse(args or {})
  if not (term.isatty(0) and term.isatty(1)) then error("moonpod top needs a terminal", 0) end
  local client = opts.engines and moonpod.multi(opts.engines) or moonpod.connect()
  local names = {}
  for name in pairs(opts.engines or {}) do names[#names + 1] = name end
  table.sort(names)
  -- engines stream stats about once a second: the history is no finer;
  -- a sparkline cell spans two samples, as a slot of one would now and
  -- then miss its sample to the engines' jitter and show a hole
  local step = math.max(1, opts.interval)
  local st = {
    client = client, multi = opts.engines ~= nil, names = names, monitors = {}, failed = {},
    step = step, cell = 2 * step, window = math.max(WINDOW, 60 * step), started = moonpod.now(),
    rows = {}, notes = {}, sort = "c", reverse = false,
    where = opts.engines and "several engines" or (client.runtime .. " " .. client.endpoint),
  }
  -- The terminal is given back however this ends (q, an error, a cancel).
  local restore <close> = setmetatable({}, {
    __close = function()
      for _, mon in pairs(st.monitors) do pcall(mon.close, mon) end
      io.write("\27[?25h\27[?1049l")
      io.stdout:flush()
      term.raw(false)
    end,
  })
  term.raw(true)
  io.write("\27[?1049h\27[?25l")
  local sampler = moonpod.spawn(function()
    while true do
      local ok, rows, notes = pcall(sample, st)
      if ok then
        st.rows, st.notes = rows, notes
      else
        st.notes = { "error: " .. tostring(rows) }
      end
      draw(st)
      moonpod.sleep(opts.interval)
    end
  end)
  draw(st)
  while true do
    local k = term.read_key()
    if k == "q" or k == "Q" or k == "\3" or k == "eof" then break end
    if SORTS[k] then
      st.sort = k
    elseif k == "r" then
      st.reverse = not st.reverse
    end
    draw(st)
  end
  sampler:cancel()
end

return M
