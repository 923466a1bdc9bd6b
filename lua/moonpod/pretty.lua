--- moonpod.pretty: values shown the way the REPL shows them.
--
-- Tables are nested and their keys sorted; the API's models (containers,
-- stats, events, log lines, pods) become readable one-liners; long lists
-- are cut with a count; cycles and depth are bounded. Iteration is raw
-- (`next`), so a model's lazily built `raw` is never built just to be shown.

local M = {}

local WIDTH = 78        -- a table that fits on one line stays on one line
local MAX_ITEMS = 20    -- list items shown before "... N more"
local MAX_DEPTH = 5

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
    return named[c] or ("\\%03d"):format(c:byte())
  end) .. '"'
end

--- Bytes as a short human-readable size ("1.5 MiB").
function M.bytes(n)
  if type(n) ~= "number" then return "?" end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  return i == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[i])
end

local function short_id(id)
  return type(id) == "string" and id:sub(1, 12) or tostring(id)
end

local function clock(ts)
  if type(ts) ~= "number" then return "?" end
  return os.date("!%H:%M:%S", math.floor(ts))
end

-- One-liners for the API's models, recognised by their fields.
local models = {
  {
    test = function(t) return rawget(t, "cpu_percent") ~= nil and rawget(t, "container_id") ~= nil end,
    show = function(t)
      return ("<ContainerStats %s cpu %.1f%% mem %s/%s net rx %s tx %s blk r %s w %s pids %s>"):format(
        short_id(t.container_id), t.cpu_percent or 0, M.bytes(t.memory_usage_bytes),
        M.bytes(t.memory_limit_bytes), M.bytes(t.network_rx_bytes), M.bytes(t.network_tx_bytes),
        M.bytes(t.block_read_bytes), M.bytes(t.block_write_bytes), tostring(t.pids))
    end,
  },
  {
    test = function(t) return rawget(t, "action") ~= nil and rawget(t, "type") ~= nil end,
    show = function(t)
      return ("<ContainerEvent %s %s %s %s>"):format(clock(t.timestamp), t.action,
        tostring(t.container_name or "-"), short_id(t.container_id))
    end,
  },
  {
    test = function(t) return rawget(t, "status") ~= nil and rawget(t, "image") ~= nil and rawget(t, "id") ~= nil end,
    show = function(t)
      return ("<Container %s %s %s %s%s>"):format(tostring(t.name), t.status, short_id(t.id),
        tostring(t.image), t.runtime and (" on " .. tostring(t.runtime)) or "")
    end,
  },
  {
    test = function(t) return rawget(t, "containers") ~= nil and rawget(t, "status") ~= nil and rawget(t, "id") ~= nil end,
    show = function(t)
      return ("<Pod %s %s %s, %d containers>"):format(tostring(t.name), t.status, short_id(t.id),
        type(t.containers) == "table" and #t.containers or 0)
    end,
  },
  {
    test = function(t)
      return rawget(t, "stream") ~= nil and rawget(t, "text") ~= nil and rawget(t, "timestamp") ~= nil
    end,
    show = function(t) return ("<%s %s %s>"):format(t.stream, clock(t.timestamp), quote(t.text)) end,
  },
}

local function model_line(t)
  for _, m in ipairs(models) do
    if m.test(t) then return m.show(t) end
  end
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local type_order = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  return "[" .. (type(k) == "string" and quote(k) or tostring(k)) .. "]"
end

local show

-- The items of a table: { text } for the list part, { key = text } after.
local function items(t, depth, seen)
  local out, n = {}, 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  for i = 1, math.min(n, MAX_ITEMS) do
    out[#out + 1] = show(rawget(t, i), depth + 1, seen)
  end
  if n > MAX_ITEMS then
    out[#out + 1] = ("... %d more (%d in all)"):format(n - MAX_ITEMS, n)
  end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do
    local v = rawget(t, k)
    local text = (k == "raw" and type(v) == "table") and "{...}" or show(v, depth + 1, seen)
    out[#out + 1] = key_text(k) .. " = " .. text
  end
  return out
end

local function indent(s)
  return (s:gsub("\n", "\n  "))
end

-- Short single-line items share lines; anything else gets its own.
local function fill(parts)
  local lines, cur = {}, nil
  for _, p in ipairs(parts) do
    local short = #p <= 24 and not p:find("\n")
    if short and cur and #cur + #p + 2 <= WIDTH then
      cur = cur .. ", " .. p
    else
      if cur then lines[#lines + 1] = cur end
      cur = "  " .. indent(p)
      if not short then
        lines[#lines + 1] = cur
        cur = nil
      end
    end
  end
  if cur then lines[#lines + 1] = cur end
  return lines
end

local function show_table(t, depth, seen)
  if seen[t] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[t] = true
  local parts = items(t, depth, seen)
  seen[t] = nil
  if #parts == 0 then return "{}" end
  local flat = "{ " .. table.concat(parts, ", ") .. " }"
  if #flat <= WIDTH and not flat:find("\n") then return flat end
  return "{\n" .. table.concat(fill(parts), ",\n") .. "\n}"
end

show = function(v, depth, seen)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "table" then
    if has_tostring(v) then return tostring(v) end
    return model_line(v) or show_table(v, depth, seen)
  end
  if tv == "number" and math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^53 then
    return ("%.1f"):format(v)
  end
  return tostring(v)
end

--- The text of one value, as the REPL prints it.
function M.format(v)
  return show(v, 0, {})
end

--- The results of a call (n of them in a table.pack) on one line each, tab-separated like lua.c.
function M.results(packed)
  local parts = {}
  for i = 1, packed.n do parts[i] = M.format(packed[i]) end
  return table.concat(parts, "\t")
end

return M
