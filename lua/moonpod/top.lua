--- moonpod top: a full-screen live view of the containers.
--
--   moonpod top [--interval SECONDS] [NAME=URL ...]
--
-- Containers with their status, CPU, memory, network and block I/O, and
-- sparklines of the last minutes of CPU and memory. Keys: c (sort by CPU),
-- m (memory), n (name), s (status), r (reverse), q or Ctrl-C (quit). With
-- NAME=URL arguments (`podman=unix:///run/podman/podman.sock`) it watches
-- those engines together through moonpod.multi.
--
-- Written on the public API only (plus the terminal module the REPL uses),
-- so it doubles as an example of a moonpod script.

local moonpod = require "moonpod"
local term = require "moonpod.term"
local pretty = require "moonpod.pretty"

local M = {}

local SPARKS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }

-- ---- history: the seam ----
--
-- A history keeps the last samples of each container. This one is a ring
-- in Lua filled from one-shot client:get_container_stats calls; a history
-- backed by moonpod.stats' monitor (mon:history) can replace it by giving
-- the same two methods.

--- A history of at most `capacity` samples per container:
--- h:add(id, sample) and h:series(id, field, n) -> at most n numbers, oldest
--- first, covering the whole history (consecutive samples averaged when
--- there are more than n).
function M.ring_history(capacity)
  local by_id = {}
  local h = {}
  function h:add(id, sample)
    local ring = by_id[id]
    if not ring then
      ring = {}
      by_id[id] = ring
    end
    ring[#ring + 1] = sample
    if #ring > capacity then table.remove(ring, 1) end
  end
  function h:series(id, field, n)
    local ring, out = by_id[id] or {}, {}
    local group = math.max(1, math.ceil(#ring / n))
    for first = 1, #ring, group do
      local sum, count = 0, 0
      for i = first, math.min(#ring, first + group - 1) do
        sum = sum + (ring[i][field] or 0)
        count = count + 1
      end
      out[#out + 1] = sum / count
    end
    return out
  end
  function h:forget(keep)
    for id in pairs(by_id) do
      if not keep[id] then by_id[id] = nil end
    end
  end
  return h
end

--- A history read from a stats monitor (moonpod.stats), which samples on
--- its own: h:series(id, field, n) gives the last `window` seconds in at
--- most n points.
function M.monitor_history(mon, window)
  local h = {}
  function h.add() end
  function h.forget() end
  function h:series(id, field, n)
    local ok, points = pcall(mon.history, mon, id, { since = moonpod.now() - window, step = math.max(1, window / n) })
    local out = {}
    if ok then
      for _, p in ipairs(points) do out[#out + 1] = p[field] or 0 end
    end
    return out
  end
  function h:latest(id)
    local ok, s = pcall(mon.latest, mon, id)
    return ok and s or nil
  end
  return h
end

--- A sparkline of `values` (numbers), scaled to `top` (default: their maximum).
function M.sparkline(values, top)
  local max = top or 0
  for _, v in ipairs(values) do
    if v > max then max = v end
  end
  local out = {}
  for i, v in ipairs(values) do
    local level = max > 0 and math.floor(v / max * (#SPARKS - 1) + 0.5) + 1 or 1
    out[i] = SPARKS[math.max(1, math.min(#SPARKS, level))]
  end
  return table.concat(out)
end

-- ---- sampling ----

local function list_all(client)
  local list, failed = client:list_containers { all = true }
  local notes = {}
  for name, err in pairs(failed or {}) do notes[#notes + 1] = name .. ": " .. tostring(err) end
  table.sort(notes)
  return list, notes
end

-- One round: the containers, and a stats sample of each running one (all
-- asked at once: Podman batches them into one request).
local function sample(client, history)
  local list, notes = list_all(client)
  local tasks = {}
  for _, c in ipairs(list) do
    if c.status == "running" and history.latest then
      local s = history:latest(c.id)
      tasks[c.id] = { join = function() return s end }
    elseif c.status == "running" then
      tasks[c.id] = moonpod.spawn(function() return client:get_container_stats(c.id) end)
    end
  end
  local rows, keep = {}, {}
  for _, c in ipairs(list) do
    local row = { c = c }
    if tasks[c.id] then
      local ok, s = pcall(tasks[c.id].join, tasks[c.id])
      if ok and type(s) == "table" then
        row.s = s
        history:add(c.id, s)
      end
    end
    keep[c.id] = true
    rows[#rows + 1] = row
  end
  history:forget(keep)
  return rows, notes
end

-- ---- drawing ----

local SORTS = {
  c = { "cpu", function(r) return r.s and r.s.cpu_percent or -1 end },
  m = { "memory", function(r) return r.s and r.s.memory_usage_bytes or -1 end },
  n = { "name", function(r) return r.c.name or "" end },
  s = { "status", function(r) return r.c.status or "" end },
}

local function sorted(rows, key, reverse)
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
  for _, r in ipairs(sorted(st.rows, st.sort, st.reverse)) do
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
      local cpu = st.history:series(c.id, "cpu_percent", spark_w)
      local mem = st.history:series(c.id, "memory_usage_bytes", spark_w)
      -- sparklines are as many cells as values, not bytes: pad by count
      text = text .. " " .. M.sparkline(cpu, 100) .. (" "):rep(spark_w - #cpu) .. " " .. M.sparkline(mem)
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

local function parse(args)
  local opts = { interval = 2, engines = nil }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--interval" or a == "-d" then
      opts.interval = tonumber(args[i + 1])
      if not opts.interval or opts.interval <= 0 then error(usage(), 0) end
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
  local opts = parse(args or {})
  if not (term.isatty(0) and term.isatty(1)) then error("moonpod top needs a terminal", 0) end
  local client = opts.engines and moonpod.multi(opts.engines) or moonpod.connect()
  -- one engine: the stats monitor samples every running container and keeps
  -- their history (the sparklines show its last 8 minutes); several: a ring
  -- of one-shot samples per engine
  local has_stats, stats = pcall(require, "moonpod.stats")
  local mon
  if has_stats and not opts.engines then
    mon = stats.monitor { client = client, interval = opts.interval, history = { retention = 480 } }
    mon:watch_all()
  end
  local st = {
    rows = {}, notes = {}, sort = "c", reverse = false, multi = opts.engines ~= nil,
    history = mon and M.monitor_history(mon, 480) or M.ring_history(240),
    where = opts.engines and "several engines" or (client.runtime .. " " .. client.endpoint),
  }
  -- The terminal is given back however this ends (q, an error, a cancel).
  local restore <close> = setmetatable({}, {
    __close = function()
      io.write("\27[?25h\27[?1049l")
      io.stdout:flush()
      term.raw(false)
    end,
  })
  term.raw(true)
  io.write("\27[?1049h\27[?25l")
  local sampler = moonpod.spawn(function()
    while true do
      local ok, rows, notes = pcall(sample, client, st.history)
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
  if mon then mon:close() end
end

return M
