-- Turns what tests/bench/run.sh measured into the tables it prints and
-- writes to build/bench/results.md. Plain lua5.4, so the report does not
-- depend on the binary being measured.
--
--   lua5.4 tests/bench/report.lua OUTDIR RESULTS_MD ENGINE...
--
-- OUTDIR/ENGINE/meta holds "key<TAB>value" lines; OUTDIR/ENGINE/TOOL/ holds
-- hyperfine exports (cold.json, loop-R.json, cli-loop.json), the programs'
-- own output (loop-R.out: "loop_us <µs>"), rss_kb, loop_n, or skip (why the
-- tool could not run).

local TOOLS = { "floor", "moonpod", "docker-cli", "docker-py", "dockerode" }
local LABEL = {
  floor = "floor (libcurl+cJSON, C)",
  moonpod = "moonpod",
  ["docker-cli"] = "docker CLI (ps -aq)",
  ["docker-py"] = "docker-py",
  dockerode = "dockerode",
}
local TARGET_COLD, TARGET_RSS_MB, TARGET_CALL = 1.3, 8, 1.1

local out_dir, md_path = arg[1], arg[2]
local engines = table.move(arg, 3, #arg, 1, {})
if not out_dir or not md_path or #engines == 0 then
  io.stderr:write("usage: lua5.4 report.lua OUTDIR RESULTS_MD ENGINE...\n")
  os.exit(2)
end

local function slurp(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function first_line(path)
  local s = slurp(path)
  return s and s:match("^([^\n]*)")
end

-- hyperfine writes one result per export here, with numbers in plain
-- notation and "stddev": null for a single run; a pattern read is enough and
-- keeps the report free of a JSON library.
local NUM = "(-?[%d.]+[eE]?[-+]?%d*)"
local function hyperfine(path)
  local s = slurp(path)
  if not s then return nil end
  local r = {
    mean = tonumber(s:match('"mean"%s*:%s*' .. NUM)),
    stddev = tonumber(s:match('"stddev"%s*:%s*' .. NUM)),
    times = {},
  }
  local list = s:match('"times"%s*:%s*(%b[])')
  for v in (list or ""):gmatch("[-%d.eE+]+") do
    r.times[#r.times + 1] = tonumber(v)
  end
  return r.mean and r or nil
end

local function mean_sd(xs)
  local n = #xs
  if n == 0 then return nil end
  local sum = 0
  for _, x in ipairs(xs) do sum = sum + x end
  local mean = sum / n
  if n == 1 then return mean, nil end
  local ss = 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return mean, math.sqrt(ss / (n - 1))
end

local function median(xs)
  if #xs == 0 then return nil end
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local function read_meta(engine)
  local meta = {}
  for line in (slurp(out_dir .. "/" .. engine .. "/meta") or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([^\t]+)\t(.*)$")
    if k then meta[k] = v end
  end
  return meta
end

local function read_tool(engine, tool)
  local dir = out_dir .. "/" .. engine .. "/" .. tool .. "/"
  local t = { skip = first_line(dir .. "skip") }
  local cold = hyperfine(dir .. "cold.json")
  if cold then
    t.cold_ms, t.cold_sd_ms = cold.mean * 1e3, cold.stddev and cold.stddev * 1e3
  end
  local kb = tonumber(first_line(dir .. "rss_kb") or "")
  t.rss_mb = kb and kb / 1024
  t.loop_n = tonumber(first_line(dir .. "loop_n") or "")
  if not t.loop_n then return t end

  local cli = hyperfine(dir .. "cli-loop.json")
  if cli then
    -- N whole processes: the per-call time is a whole process' time.
    local total = 0
    for _, x in ipairs(cli.times) do total = total + x end
    t.call_us, t.call_sd_us = cli.mean * 1e6, cli.stddev and cli.stddev * 1e6
    t.loop_ms, t.whole_ms, t.reps = total * 1e3, total * 1e3, 1
    return t
  end
  local calls, loops, wholes = {}, {}, {}
  for r = 1, math.huge do
    local whole = hyperfine(dir .. "loop-" .. r .. ".json")
    local us = tonumber((slurp(dir .. "loop-" .. r .. ".out") or ""):match("loop_us%s+([%d.]+)"))
    if not whole or not us then break end
    calls[#calls + 1] = us / t.loop_n
    loops[#loops + 1] = us / 1e3
    wholes[#wholes + 1] = whole.mean * 1e3
  end
  t.reps = #calls
  t.call_us, t.call_sd_us = mean_sd(calls)
  t.loop_ms = mean_sd(loops)
  t.whole_ms = mean_sd(wholes)
  return t
end

local function fmt(x, digits)
  if not x then return "—" end
  return string.format("%." .. (digits or 1) .. "f", x)
end

local function pm(x, sd, digits)
  if not x then return "—" end
  if not sd then return fmt(x, digits) end
  return fmt(x, digits) .. " ± " .. fmt(sd, digits)
end

local function ratio(x, base)
  if not x or not base or base == 0 then return "—" end
  return string.format("%.2f×", x / base)
end

-- A table is a header row plus rows of cells; rendered both as aligned text
-- for the terminal and as markdown for results.md.
local function render_text(rows)
  local width = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      width[i] = math.max(width[i] or 0, utf8.len(cell) or #cell)
    end
  end
  local lines = {}
  for n, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local pad = string.rep(" ", width[i] - (utf8.len(cell) or #cell))
      cells[i] = i == 1 and cell .. pad or pad .. cell
    end
    lines[#lines + 1] = table.concat(cells, " | ")
    if n == 1 then
      local rule = {}
      for i = 1, #row do rule[i] = string.rep("-", width[i]) end
      lines[#lines + 1] = table.concat(rule, "-+-")
    end
  end
  return table.concat(lines, "\n")
end

local function render_md(rows)
  local lines = {}
  for n, row in ipairs(rows) do
    lines[#lines + 1] = "| " .. table.concat(row, " | ") .. " |"
    if n == 1 then
      local rule = {}
      for i = 1, #row do rule[i] = i == 1 and "---" or "---:" end
      lines[#lines + 1] = "| " .. table.concat(rule, " | ") .. " |"
    end
  end
  return table.concat(lines, "\n")
end

local function verdict(ok, detail)
  if ok == nil then return "n/a (" .. detail .. ")" end
  return (ok and "yes" or "no") .. " (" .. detail .. ")"
end

local text, md = {}, {}
local function both(s_text, s_md)
  text[#text + 1] = s_text
  md[#md + 1] = s_md or s_text
end

-- ---- one-shot stats of many containers (OUTDIR/ENGINE/stats/TOOL/) ----

local STATS_TOOLS = { "floor", "floor-each", "moonpod", "docker-cli", "docker-py", "dockerode", "dockerode-oneshot" }
local TARGET_STATS = 1.2

local function stats_label(tool, engine, n)
  if tool == "floor" then
    return engine == "docker" and "floor (libcurl multi+cJSON, C)" or "floor (libcurl+cJSON, C)"
  end
  return ({
    ["floor-each"] = "floor, per container (libcurl multi)",
    moonpod = "moonpod",
    ["docker-cli"] = "docker CLI (stats --no-stream)",
    ["docker-py"] = "docker-py",
    dockerode = "dockerode",
    ["dockerode-oneshot"] = "dockerode, one-shot=true",
  })[tool]
end

-- What each tool asks of the engine, in a few words.
local function stats_asks(tool, engine, n)
  local docker = engine == "docker"
  return ({
    floor = docker and string.format("%s × one-shot, concurrent", n)
      or string.format("1 libpod request for all %s", n),
    ["floor-each"] = string.format("%s × libpod stats, concurrent", n),
    moonpod = docker and string.format("%s tasks: one-shot + inspect each", n)
      or string.format("%s tasks: libpod stats each", n),
    ["docker-cli"] = "1 process, stream=false each",
    ["docker-py"] = string.format("%s threads: stream=false", n),
    dockerode = "Promise.all: stream=false",
    ["dockerode-oneshot"] = "Promise.all: stream=false&one-shot=true",
  })[tool]
end

local function read_stats(engine, tool)
  local dir = out_dir .. "/" .. engine .. "/stats/" .. tool .. "/"
  local t = { skip = first_line(dir .. "skip") }
  local fetch, whole = {}, {}
  for r = 1, math.huge do
    local out = slurp(dir .. "rep-" .. r .. ".out")
    local wall = tonumber(first_line(dir .. "rep-" .. r .. ".wall_us") or "")
    if not out or not wall then break end
    local us = tonumber(out:match("fetch_us%s+([%d.]+)"))
    -- The docker CLI prints no time of its own: its fetch is its process.
    fetch[#fetch + 1] = (us or wall) / 1e3
    whole[#whole + 1] = wall / 1e3
    t.process_only = not us
  end
  t.reps = #fetch
  t.fetch_mean_ms, t.fetch_sd_ms = mean_sd(fetch)
  t.fetch_ms = median(fetch)
  t.whole_ms = mean_sd(whole)
  return t
end

local function stats_section(engine, meta)
  if not meta.stats_path then return end
  local n = meta.stats_containers or "?"
  local res = {}
  for _, tool in ipairs(STATS_TOOLS) do res[tool] = read_stats(engine, tool) end
  local floor, mp = res.floor, res.moonpod
  local head = string.format("-- one-shot stats of %s running containers, all at once " ..
    "(moonpod and the floor GET %s%s) --", n, meta.stats_path,
    meta.stats_mode == "all" and "&containers=… ×" .. n or "")
  local note = string.format("load average %s at start, %s at end", meta.stats_loadavg or "?",
    meta.stats_loadavg_end or "?")
  if engine == "docker" then
    note = note .. string.format(".\nDocker's stats collector samples once a second: a batch waits for " ..
      "its next tick, so ~1 s is the engine's, not the client's (%s s of quiet before each run). " ..
      "Without one-shot (docker-py 5.0.3 has none, dockerode by default, the CLI) Docker waits " ..
      "for a second sample.", meta.stats_settle or "?")
  else
    note = note .. ".\nThe peers use the Docker-compatible endpoint, one request per container. " ..
      "\"floor, per container\" asks the libpod endpoint once per container as moonpod does: " ..
      "moonpod ÷ it is moonpod's own overhead, it ÷ floor what 50 requests cost the engine beside one."
  end
  both("\n" .. head .. "\n" .. note, "\n### One-shot stats, " .. n .. " containers at once\n\n" ..
    "moonpod and the floor: `GET " .. meta.stats_path .. "`" ..
    (meta.stats_mode == "all" and " with `&containers=ID` × " .. n or "") .. ".\n\n" ..
    note:gsub("\n", "\n\n") .. "\n")
  local rows = { { "tool", "asks", "fetch ms median", "mean ± sd", "× floor", "moonpod ÷ tool",
                   "whole process ms", "reps" } }
  local skipped = {}
  for _, tool in ipairs(STATS_TOOLS) do
    local t = res[tool]
    if t.skip and t.reps == 0 then
      skipped[#skipped + 1] = string.format("%s: not run — %s", stats_label(tool, engine), t.skip)
    elseif t.reps > 0 then
      rows[#rows + 1] = { stats_label(tool, engine), stats_asks(tool, engine, n),
        fmt(t.fetch_ms, 1) .. (t.process_only and " (process)" or ""), pm(t.fetch_mean_ms, t.fetch_sd_ms, 1),
        ratio(t.fetch_ms, floor.fetch_ms), ratio(mp.fetch_ms, t.fetch_ms),
        fmt(t.whole_ms, 1), tostring(t.reps) }
      if t.skip then
        skipped[#skipped + 1] = string.format("%s: a later repetition failed — %s",
          stats_label(tool, engine), t.skip)
      end
    end
  end
  both(render_text(rows), render_md(rows))
  if #skipped > 0 then
    both("\n" .. table.concat(skipped, "\n"), "\n- " .. table.concat(skipped, "\n- "))
  end
  local r = mp.fetch_ms and floor.fetch_ms and mp.fetch_ms / floor.fetch_ms
  local target = string.format("stats: moonpod within %.1f× the floor: %s", TARGET_STATS,
    verdict(r and r <= TARGET_STATS, r and string.format("%.2f×, medians %s vs %s ms", r,
      fmt(mp.fetch_ms, 1), fmt(floor.fetch_ms, 1)) or "not measured"))
  both("\ntarget (informational): " .. target, "\nTarget (informational): " .. target .. "\n")
end

-- ---- reading a big log (OUTDIR/ENGINE/logs/TOOL/) ----

local LOGS_TOOLS = { "floor", "moonpod", "docker-cli", "podman-cli", "docker-py", "dockerode", "moonpod-small" }
local TARGET_LOGS, TARGET_LOGS_RSS = 1.5, 1.1

local function read_logs(engine, tool)
  local dir = out_dir .. "/" .. engine .. "/logs/" .. tool .. "/"
  local t = { skip = first_line(dir .. "skip"), present = slurp(dir .. "skip") ~= nil }
  local walls, rss, cpu, reads = {}, {}, {}, {}
  for r = 1, math.huge do
    local line = first_line(dir .. "rep-" .. r .. ".time")
    if not line then break end
    t.present = true
    local wall, kb, user, sys = line:match("^(%S+) (%S+) (%S+) (%S+)")
    walls[#walls + 1] = tonumber(wall)
    rss[#rss + 1] = tonumber(kb) / 1024
    cpu[#cpu + 1] = tonumber(user) + tonumber(sys)
    local us = tonumber((slurp(dir .. "rep-" .. r .. ".out") or ""):match("read_us%s+([%d.]+)"))
    if us then reads[#reads + 1] = us / 1e6 end
  end
  t.reps = #walls
  t.wall_s, t.wall_sd_s = mean_sd(walls)
  t.rss_mb = #rss > 0 and math.max(table.unpack(rss)) or nil
  t.cpu_s = mean_sd(cpu)
  t.read_s = mean_sd(reads)
  return t
end

local function logs_section(engine, meta)
  if not meta.logs_path then return end
  local mb, small = tonumber(meta.logs_mb), tonumber(meta.logs_small_mb)
  local res = {}
  for _, tool in ipairs(LOGS_TOOLS) do res[tool] = read_logs(engine, tool) end
  local floor, mp, cli, mps = res.floor, res.moonpod, res["docker-cli"], res["moonpod-small"]
  local label = {
    floor = "floor (libcurl, demux frames, C)",
    moonpod = "moonpod",
    ["docker-cli"] = "docker logs > /dev/null",
    ["podman-cli"] = "podman logs > /dev/null (local, reads the file)",
    ["docker-py"] = "docker-py (logs(stream=True))",
    dockerode = "dockerode (demuxStream → counter)",
    ["moonpod-small"] = string.format("moonpod, %s MB log", meta.logs_small_mb or "?"),
  }
  local head = string.format("-- reading a %s MB log (%s lines, framed) to the end " ..
    "(moonpod and the floor GET %s) --", meta.logs_mb or "?", meta.logs_lines or "?", meta.logs_path)
  local note = string.format("load average %s at start, %s at end%s. moonpod asks for timestamps " ..
    "(every line gets one) and so does the floor; the peers do not%s.",
    meta.logs_loadavg or "?", meta.logs_loadavg_end or "?",
    (res.moonpod.reps or 0) <= 1 and "; one repetition each (BENCH_LOGS_REPS): " ..
      "on a shared 2-CPU machine a run differs from the next by up to ~20%" or "",
    engine == "podman" and "; the peers use the Docker-compatible endpoint" or "")
  both("\n" .. head .. "\n" .. note, "\n### Reading a " .. (meta.logs_mb or "?") .. " MB log\n\n" ..
    "moonpod and the floor: `GET " .. meta.logs_path .. "`.\n\n" .. note .. "\n")
  local rows = { { "tool", "wall s (process)", "MB/s", "× floor", "moonpod ÷ tool", "read s (in program)",
                   "CPU s (user+sys)", "peak RSS MB", "reps" } }
  local skipped = {}
  for _, tool in ipairs(LOGS_TOOLS) do
    local t = res[tool]
    local size = tool == "moonpod-small" and small or mb
    if t.reps > 0 then
      local same = tool ~= "moonpod-small"
      rows[#rows + 1] = { label[tool], pm(t.wall_s, t.wall_sd_s, 2),
        fmt(size and t.wall_s and size / t.wall_s, 1),
        same and ratio(t.wall_s, floor.wall_s) or "—",
        same and ratio(mp.wall_s, t.wall_s) or "—",
        fmt(t.read_s, 2), fmt(t.cpu_s, 2), fmt(t.rss_mb, 1), tostring(t.reps) }
    end
    if t.skip then
      skipped[#skipped + 1] = string.format("%s: %s — %s", label[tool],
        t.reps > 0 and "a later repetition failed" or "not run", t.skip)
    end
  end
  both(render_text(rows), render_md(rows))
  if #skipped > 0 then
    both("\n" .. table.concat(skipped, "\n"), "\n- " .. table.concat(skipped, "\n- "))
  end
  local r = mp.wall_s and cli.wall_s and mp.wall_s / cli.wall_s
  local m = mp.rss_mb and mps.rss_mb and mp.rss_mb / mps.rss_mb
  local targets = {
    string.format("logs: moonpod within %.1f× of `docker logs > /dev/null` wall time: %s", TARGET_LOGS,
      verdict(r and r <= TARGET_LOGS, r and string.format("%.2f×, %s vs %s s", r, fmt(mp.wall_s, 2),
        fmt(cli.wall_s, 2)) or "not measured")),
    string.format("logs: constant memory (peak RSS on the %s MB log within %.1f× of the %s MB log's): %s",
      meta.logs_mb or "?", TARGET_LOGS_RSS, meta.logs_small_mb or "?",
      verdict(m and m <= TARGET_LOGS_RSS, m and string.format("%s MB vs %s MB", fmt(mp.rss_mb, 1),
        fmt(mps.rss_mb, 1)) or "not measured")),
  }
  both("\ntargets (informational):\n  " .. table.concat(targets, "\n  "),
       "\nTargets (informational):\n\n- " .. table.concat(targets, "\n- ") .. "\n")
end

both("moonpod benchmark — " .. os.date("!%Y-%m-%d %H:%M UTC"),
     "# moonpod benchmark\n\n" .. os.date("!%Y-%m-%d %H:%M UTC"))

for _, engine in ipairs(engines) do
  local meta = read_meta(engine)
  local res = {}
  for _, tool in ipairs(TOOLS) do res[tool] = read_tool(engine, tool) end
  local floor, mp = res.floor, res.moonpod

  local engine_name = engine == "docker" and "Docker" or "Podman"
  local title = meta.path and string.format("%s %s — list: %s containers — moonpod and the floor GET %s",
    engine_name, meta.engine_version or "?", meta.containers or "?", meta.path)
    or string.format("%s %s", engine_name, meta.engine_version or "?")
  local load1, cpus = tonumber((meta.loadavg or ""):match("^%S+")), tonumber(meta.cpus or "")
  local busy = load1 and cpus and load1 > cpus / 2
  local note = string.format(
    "load average at start %s on %s CPUs%s; peers use the Docker-compatible API%s.\n" ..
    "engine's own time (curl, median of 5): GET /version %s ms, GET /_ping %s ms " ..
    "(moonpod's connect asks /_ping; the floor asks nothing before listing)",
    meta.loadavg or "?", meta.cpus or "?",
    busy and " — the machine is busy, expect noise" or "",
    engine == "podman" and " (a slower endpoint than libpod's on Podman)" or "",
    meta.version_ms or "?", meta.ping_ms or "?")
  both("\n== " .. title .. " ==\n" .. note,
       "\n## " .. title .. "\n\n" .. note:gsub("\n", "\n\n") .. "\n")

  if meta.path then
    local main = { { "tool", "cold wall ms (mean ± sd)", "ratio to floor", "peak RSS MB",
                     "per-call µs", "ratio to floor" } }
    local loop = { { "tool", "calls in one process", "loop total ms", "per-call µs (mean ± sd)",
                     "whole process ms", "repetitions" } }
    local skipped = {}
    for _, tool in ipairs(TOOLS) do
      local t = res[tool]
      if t.skip then
        skipped[#skipped + 1] = string.format("%s: not run — %s", LABEL[tool], t.skip)
      else
        main[#main + 1] = { LABEL[tool], pm(t.cold_ms, t.cold_sd_ms, 2),
          ratio(t.cold_ms, floor.cold_ms), fmt(t.rss_mb, 1),
          fmt(t.call_us, 0), ratio(t.call_us, floor.call_us) }
        loop[#loop + 1] = { LABEL[tool],
          t.loop_n and (tool == "docker-cli" and t.loop_n .. " (processes)" or tostring(t.loop_n)) or "—",
          fmt(t.loop_ms, 1), pm(t.call_us, t.call_sd_us, 0), fmt(t.whole_ms, 1),
          t.reps and tostring(t.reps) or "—" }
      end
    end
    both(render_text(main), render_md(main))
    both("\n" .. render_text(loop), "\n" .. render_md(loop))
    if #skipped > 0 then
      both("\n" .. table.concat(skipped, "\n"), "\n- " .. table.concat(skipped, "\n- "))
    end

    local cold_r = mp.cold_ms and floor.cold_ms and mp.cold_ms / floor.cold_ms
    local call_r = mp.call_us and floor.call_us and mp.call_us / floor.call_us
    local targets = {
      string.format("cold start within %.1f× the floor: %s", TARGET_COLD,
        verdict(cold_r and cold_r <= TARGET_COLD, cold_r and string.format("%.2f×", cold_r) or "not measured")),
      string.format("moonpod peak RSS under %d MB: %s%s", TARGET_RSS_MB,
        verdict(mp.rss_mb and mp.rss_mb < TARGET_RSS_MB, mp.rss_mb and string.format("%.1f MB", mp.rss_mb) or "not measured"),
        meta.curl_only_rss_kb and string.format(" (a program that only links libcurl and initialises it: %.1f MB)",
          tonumber(meta.curl_only_rss_kb) / 1024) or ""),
    }
    local call_detail = call_r and string.format("%.2f×", call_r) or "not measured"
    if engine == "docker" then
      targets[#targets + 1] = string.format("per-call within %.1f× the floor: %s", TARGET_CALL,
        verdict(call_r and call_r <= TARGET_CALL, call_detail))
    else
      targets[#targets + 1] = string.format("per-call within %.1f× the floor: %s", TARGET_CALL,
        verdict(nil, "the target is for Docker; here " .. call_detail))
    end
    both("\ntargets (informational):\n  " .. table.concat(targets, "\n  "),
         "\nTargets (informational):\n\n- " .. table.concat(targets, "\n- "))
  end

  stats_section(engine, meta)
  logs_section(engine, meta)

  local versions = {}
  for _, tool in ipairs(TOOLS) do
    local v = meta["version:" .. tool]
    if v and v ~= "" then versions[#versions + 1] = LABEL[tool] .. ": " .. v end
  end
  if engine == "podman" and meta.logs_path and (meta["version:podman-cli"] or "") ~= "" then
    versions[#versions + 1] = "podman CLI: " .. meta["version:podman-cli"]
  end
  both("\nversions: " .. table.concat(versions, "; "),
       "\nVersions: " .. table.concat(versions, "; ") .. "\n")
end

for line in (slurp(out_dir .. "/engines-failed") or ""):gmatch("[^\n]+") do
  both("\n== " .. line .. ": engines.sh could not start it — no results ==",
       "\n## " .. line .. "\n\nscripts/dev/engines.sh could not start it: no results.\n")
end

local foot = "MB = 2^20 bytes (GNU time %M / 1024). Cold: hyperfine, whole processes. " ..
  "Loop: each program times its own calls with a monotonic clock after connecting " ..
  "(moonpod's script uses moonpod.monotonic()); " ..
  "the docker CLI's loop is whole processes. " ..
  "Stats: fetch = from the first request to the last sample parsed, timed inside each program " ..
  "(ratios of medians) " ..
  "after connecting and listing (the docker CLI: its whole process). " ..
  "Logs: wall = the whole process (shell clock), CPU and peak RSS from GNU time; " ..
  "MB/s = log payload MB / wall; \"× floor\" = tool ÷ floor, \"moonpod ÷ tool\" < 1 means moonpod is faster."
both("\n" .. foot, "\n" .. foot .. "\n")

print(table.concat(text, "\n"))
local f = assert(io.open(md_path, "w"))
f:write(table.concat(md, "\n"), "\n")
f:close()
