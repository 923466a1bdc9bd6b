-- moonpod.stats against a real engine, once per engine: containers that
-- burn CPU, hold memory and write to disk, measured by the monitor and by
-- the engine's own CLI; watch_all following a container started later;
-- history and summary over what was sampled; /metrics checked by promtool
-- and scraped by a real Prometheus server.

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local stats = require "moonpod.stats"

-- "62.44MB / 25.28GB" -> 62440000 (the CLIs print SI or binary units)
local UNITS = { B = 1, kB = 1e3, KB = 1e3, MB = 1e6, GB = 1e9, KiB = 1024, MiB = 1024 ^ 2, GiB = 1024 ^ 3 }
local function bytes(text)
  local n, unit = text:match("^%s*([%d.]+)%s*(%a+)")
  assert(n and UNITS[unit], "not a size: " .. tostring(text))
  return tonumber(n) * UNITS[unit]
end

-- The engine's CLI streaming CPU% of one container for `seconds`: the mean
-- of its readings but the first (Podman's first is the mean since the
-- container started, Docker's is a placeholder while it primes), and the
-- wall clock window those readings cover. The docker CLI redraws a
-- reading several times until the next comes: repeats are one reading.
local function cli_cpu_window(name, seconds)
  local argv = { "timeout", "-s", "INT", tostring(seconds) }
  for _, a in ipairs(engine.cli_argv()) do argv[#argv + 1] = a end
  for _, a in ipairs { "stats", "--format", "{{.CPUPerc}}" } do argv[#argv + 1] = a end
  if engine.name == "podman" then argv[#argv + 1] = "--interval"; argv[#argv + 1] = "1" end
  argv[#argv + 1] = name
  local t0 = moonpod.now()
  local r = moonpod.run(argv, { timeout = seconds + 30, env = { CONTAINER_HOST = false, DOCKER_HOST = false } })
  local t1 = moonpod.now()
  local values = {}
  for v in r.stdout:gmatch("([%d.]+)%%") do
    v = tonumber(v)
    if v ~= values[#values] then values[#values + 1] = v end
  end
  assert(#values >= 2, "too few readings from the CLI: " .. r.stdout .. r.stderr)
  local sum = 0
  for i = 2, #values do sum = sum + values[i] end
  return sum / (#values - 1), t0 + 1.5, t1
end

local function cli_stats(name)
  local out = engine.cli("stats", "--no-stream", "--format", "{{.CPUPerc}}|{{.MemUsage}}|{{.BlockIO}}", name)
  local cpu, mem, blk = out:match("([%d.]+)%%|([^/|]+)/[^|]*|(.*)$")
  assert(cpu, "unexpected stats output: " .. out)
  local rd, wr = blk:match("^(.-)%s*/%s*(.-)%s*$")
  return { cpu = tonumber(cpu), mem = bytes(mem), rd = bytes(rd), wr = bytes(wr) }
end

-- The value of container_start_time_seconds for the container id in text.
local function start_metric(text, id)
  return tonumber(text:match('\ncontainer_start_time_seconds{id="' .. id .. '"[^}]*} (%S+)'))
end

-- The engine's own State.StartedAt of a container in epoch seconds, read
-- from its CLI and parsed here (not by the code under test): Docker prints
-- "2026-11-29T03:10:51.123456789Z", Podman "2026-11-29 03:10:51.123 +0000 UTC".
local function cli_started_at(name)
  local text = engine.cli("inspect", "--format", "{{.State.StartedAt}}", name)
  local y, mo, d, h, mi, sec, frac, rest = text:match("(%d+)%-(%d+)%-(%d+)[T ](%d+):(%d+):(%d+)(%.?%d*)(.*)")
  assert(y, "StartedAt: " .. text)
  y, mo = tonumber(y), tonumber(mo)
  -- days since 1970-01-01 of a proleptic Gregorian date
  local a = mo <= 2 and 1 or 0
  local yy, mm = y - a, mo + (a == 1 and 9 or -3)
  local days = 365 * yy + yy // 4 - yy // 100 + yy // 400 + (153 * mm + 2) // 5 + tonumber(d) - 1 - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) + (tonumber("0" .. frac) or 0)
  local sign, oh, om = rest:match("^%s*([+-])(%d%d):?(%d%d)")
  if sign then t = t - (sign == "-" and -1 or 1) * (tonumber(oh) * 3600 + tonumber(om) * 60) end
  return t
end

describe("stats monitor on " .. engine.name, function()
  local client, mon
  local made, dirs = {}, {}

  local function start(cmd, tag)
    local name = engine.unique(tag or "mon")
    made[#made + 1] = name
    return engine.container { name = name, cmd = cmd }, name
  end

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  teardown(function()
    if mon then mon:close() end
    if #made > 0 then engine.remove(table.unpack(made)) end
    for _, d in ipairs(dirs) do moonpod.run { "rm", "-rf", d } end
  end)

  -- A container that writes 20 MB with O_DIRECT to a directory of the
  -- test's on a real block device. Its cgroup must have a (generous) write
  -- limit on that device: since Linux 6.10 the kernel counts a cgroup's
  -- block I/O (blkio.throttle.io_service_bytes, what both engines report)
  -- only on a device with throttling set up, and without it every engine
  -- says 0B here.
  local function start_writer()
    local dir = os.getenv("MOONPOD_TEST_TMP") .. "/" .. engine.unique("dd")
    assert.are.equal(0, moonpod.run({ "mkdir", "-p", dir }).status)
    dirs[#dirs + 1] = dir
    local df = moonpod.run { "df", "--output=source", dir }
    local dev = df.stdout:match("\n(%S+)")
    assert(dev and dev:match("^/dev/"), "the test directory is not on a block device: " .. df.stdout .. df.stderr)
    local name = engine.unique("disk")
    made[#made + 1] = name
    engine.cli("run", "-d", "--network", "none", "--name", name, "--device-write-bps", dev .. ":1gb",
      "-v", dir .. ":/v", engine.image(), "sh", "-c",
      "dd if=/dev/zero of=/v/big bs=1M count=20 oflag=direct 2>/dev/null; while true; do sleep 1; done")
    return name
  end

  describe("watched containers", function()
    local burner, holder, writer

    setup(function()
      burner = select(2, start("yes > /dev/null", "burn"))
      holder = select(2, start("head -c 40000000 /dev/zero > /dev/shm/x; while true; do sleep 1; done", "mem"))
      writer = start_writer()
      mon = stats.monitor { client = client, interval = 1, history = { retention = 3600 } }
      for _, n in ipairs { burner, holder, writer } do mon:watch(n) end
      assert.is_true(engine.wait_for(function()
        return mon:latest(burner) and mon:latest(holder) and mon:latest(writer) and #mon:history(burner) >= 3
      end, 20), "samples for every watched container")
    end)

    it("gives every field of ContainerStats for each container", function()
      local s = mon:latest(burner)
      for _, f in ipairs { "timestamp", "cpu_percent", "memory_usage_bytes", "memory_limit_bytes", "memory_percent",
        "network_rx_bytes", "network_tx_bytes", "block_read_bytes", "block_write_bytes", "pids" } do
        assert.is_number(s[f], f)
      end
      assert.are.equal(client:get_container(burner).id, s.container_id)
      assert.is_true(math.abs(s.timestamp - moonpod.now()) < 10, "a recent timestamp")
      local st = mon:stats()
      assert.are.equal(3, st.containers)
      assert.are.equal(3, st.sampling)
      assert.are.equal(engine.name == "podman" and 1 or 3, st.streams, "one stream on Podman, one each on Docker")
      assert.is_true(st.history_bytes > 0 and st.history_bytes < 3 * 200 * 1024, "history bytes " .. st.history_bytes)
    end)

    it("agrees with the engine's CLI within 10 points: CPU, memory, block I/O", function()
      -- over the same few seconds: the load on a shared machine moves
      local theirs, ours
      for _ = 1, 3 do
        local since, upto
        theirs, since, upto = cli_cpu_window(burner, 5)
        ours = mon.core:summary(client:get_container(burner).id, "cpu_percent", since, upto).avg
        if ours and math.abs(theirs - ours) <= 10 then break end
      end
      assert.is_number(ours)
      assert.is_true(math.abs(theirs - ours) <= 10, ("engine says %.1f%%, moonpod %.1f%%"):format(theirs, ours))
      assert.is_true(ours > 5, "`yes` burns CPU: " .. ours)

      local m = cli_stats(holder)
      local mine = mon:latest(holder).memory_usage_bytes
      assert.is_true(mine > 35e6, "40 MB in /dev/shm: " .. mine)
      assert.is_true(math.abs(m.mem - mine) / m.mem <= 0.10, ("engine says %.0f, moonpod %.0f"):format(m.mem, mine))

      local d = cli_stats(writer)
      local w = mon:latest(writer)
      assert.is_true(d.wr >= 20e6, ("the engine counts the 20 MB written: %.0f"):format(d.wr))
      assert.is_true(math.abs(d.wr - w.block_write_bytes) <= 0.1 * d.wr,
        ("engine says %.0f written, moonpod %.0f"):format(d.wr, w.block_write_bytes))
      assert.is_true(math.abs(d.rd - w.block_read_bytes) <= 0.1 * d.rd + 1,
        ("engine says %.0f read, moonpod %.0f"):format(d.rd, w.block_read_bytes))
    end)

    it("history and summary agree with each other over what was sampled", function()
      local h = mon:history(burner)
      assert.is_true(#h >= 3)
      local min, max, sum = math.huge, -math.huge, 0
      for i, p in ipairs(h) do
        assert.are.equal(1, p.samples)
        if i > 1 then assert.is_true(p.timestamp > h[i - 1].timestamp, "in time order") end
        min, max, sum = math.min(min, p.cpu_percent), math.max(max, p.cpu_percent), sum + p.cpu_percent
      end
      local s = mon:summary(burner, "cpu_percent", 3600)
      assert.are.equal(#h, s.count)
      assert.is_true(math.abs(s.min - min) < 1e-3 and math.abs(s.max - max) < 1e-3)
      assert.is_true(math.abs(s.avg - sum / #h) < 1e-3)
      assert.is_true(math.abs(s.last - h[#h].cpu_percent) < 1e-3)
      -- a step as long as the whole history merges it into one or two points
      local merged = mon:history(burner, { step = 3600 })
      local n = 0
      for _, p in ipairs(merged) do n = n + p.samples end
      assert.are.equal(#h, n)
      -- a window in the future is empty; a name and an unknown container work as expected
      assert.are.equal(0, #mon:history(burner, { since = moonpod.now() + 100 }))
      assert.are.equal(s.count, mon:summary(client:get_container(burner).id, "cpu_percent", 3600).count)
      assert.is_nil(mon:summary("no-such-container", "cpu_percent", 60))
      assert.has_error(function() mon:summary(burner, "no_such_metric", 60) end)
    end)

    it("gives each container the start time the engine reports (container_start_time_seconds)", function()
      local text = mon:metrics_text()
      for _, n in ipairs { burner, holder, writer } do
        local ours, theirs = start_metric(text, client:get_container(n).id), cli_started_at(n)
        assert.is_number(ours, text)
        assert.is_true(math.abs(ours - theirs) < 0.01, ("engine says %.3f, moonpod %.3f"):format(theirs, ours))
      end
    end)

    it("builds no sample table while no handler asks for samples", function()
      local st = mon:stats()
      assert.is_true(st.samples_received >= 3, "samples came: " .. st.samples_received)
      assert.is_true(st.samples_kept > 0)
      assert.are.equal(0, st.samples_delivered, "none became a Lua table")
      assert.are.equal(0, st.samples_queued, "none waits for a handler")
      assert.are.equal(0, st.samples_dropped)
    end)

    it("on_sample gets finished tables; unwatch forgets", function()
      local got = {}
      mon:on_sample(function(s) got[s.container_id] = (got[s.container_id] or 0) + 1 end)
      local id = client:get_container(holder).id
      assert.is_true(engine.wait_for(function() return (got[id] or 0) >= 2 end, 10))
      assert.is_true(mon:unwatch(holder))
      assert.is_nil(mon:latest(holder))
      assert.are.equal(2, mon:stats().containers)
    end)
  end)

  describe("watch_all", function()
    it("picks up a container started after it, and follows its stop and removal", function()
      local m <close> = stats.monitor { client = client, interval = 1 }
      local label = engine.unique("lbl")
      m:watch_all { filters = { label = { "moonpod.test=" .. label } } }
      local other = select(2, start("while true; do sleep 1; done", "other"))
      local name = engine.unique("late")
      made[#made + 1] = name
      local id = engine.container { name = name, labels = { ["moonpod.test"] = label }, cmd = "yes > /dev/null" }
      assert.is_true(engine.wait_for(function() return m:latest(id) ~= nil end, 15), "samples of the late container")
      assert.is_true(m:latest(id).cpu_percent > 5)
      assert.is_nil(m:latest(other), "the filters leave others out")
      engine.cli("kill", name)
      assert.is_true(engine.wait_for(function() return m:ids()[id] == false end, 10), "idle once it died")
      engine.remove(name)
      assert.is_true(engine.wait_for(function() return m:ids()[id] == nil end, 10), "forgotten once removed")
      assert.are.equal(0, m:stats().handler_errors)
    end)
  end)

  describe("restarts", function()
    it("watch_all samples a restarted container again and moves its start time forward", function()
      local m <close> = stats.monitor { client = client, interval = 1 }
      local label = engine.unique("lbl")
      local name = engine.unique("rst")
      made[#made + 1] = name
      local id = engine.container { name = name, labels = { ["moonpod.test"] = label } }
      assert.are.equal(1, m:watch_all { filters = { label = { "moonpod.test=" .. label } } })
      assert.is_true(engine.wait_for(function() return m:latest(id) ~= nil end, 15), "samples of the container")
      local first = start_metric(m:metrics_text(), id)
      local theirs = cli_started_at(name)
      assert.is_number(first, m:metrics_text())
      assert.is_true(math.abs(first - theirs) < 1, ("engine says it started at %.3f, moonpod %.3f"):format(theirs, first))

      moonpod.sleep(1.5) -- a start time that can't round to the first one
      engine.cli("restart", "-t", "2", name)
      local again = cli_started_at(name)
      assert.is_true(again > first + 1, ("restarted at %.3f, first start %.3f"):format(again, first))
      local now
      assert.is_true(engine.wait_for(function()
        local s = m:latest(id)
        now = start_metric(m:metrics_text(), id)
        return s ~= nil and s.timestamp > again and now ~= nil and now > first
      end, 15), "sampled after the restart, with the new start time")
      assert.is_true(math.abs(now - again) < 1, ("engine says it started again at %.3f, moonpod %.3f"):format(again, now))
      assert.is_true(m:ids()[id], "sampled now")
      assert.are.equal(0, m:stats().handler_errors)
    end)
  end)

  describe("Prometheus", function()
    local m, server, name, prom_task, dir

    setup(function()
      name = select(2, start("yes > /dev/null", "prom"))
      m = stats.monitor { client = client, interval = 1 }
      m:watch(name)
      server = m:serve_metrics {}
      assert.is_true(engine.wait_for(function() return m:latest(name) ~= nil end, 15))
    end)

    teardown(function()
      if prom_task then prom_task:cancel() end
      if server then server:close() end
      if m then m:close() end
      if dir then moonpod.run { "rm", "-rf", dir } end
    end)

    local function get(path)
      return moonpod.run { "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:" .. server.port .. path }
    end

    it("serves /metrics in the text format that promtool accepts, and /healthz", function()
      local r = get("/metrics")
      local body, code = r.stdout:match("^(.*)\n(%d+)$")
      assert.are.equal("200", code)
      for _, family in ipairs { "container_cpu_usage_seconds_total", "container_memory_usage_bytes",
        "container_memory_working_set_bytes", "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total", "container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
        "container_last_seen", "container_start_time_seconds", "container_spec_memory_limit_bytes",
        "moonpod_events_received_total", "moonpod_events_dropped_total", "moonpod_event_reconnects_total",
        "moonpod_handler_errors_total",
        "moonpod_lua_memory_bytes" } do
        assert.matches("\n" .. family .. "[{ ]", "\n" .. body, 1, false)
      end
      assert.matches('container_cpu_usage_seconds_total{id="%x+",name="' .. name:gsub("%-", "%%-") ..
        '",image="[^"]+",runtime="' .. engine.name .. '"} [%d.e+]+', body)
      local check = moonpod.run({ "promtool", "check", "metrics" }, { stdin = body })
      assert.are.equal(0, check.status, check.stdout .. check.stderr)
      local h = get("/healthz")
      assert.are.equal("ok\n\n200", h.stdout)
      assert.matches("\n404$", get("/nope").stdout)
    end)

    it("is scraped by a real Prometheus server whose query API returns the container's series", function()
      dir = os.getenv("MOONPOD_TEST_TMP") .. "/" .. engine.unique("prom")
      assert.are.equal(0, moonpod.run({ "mkdir", "-p", dir .. "/data" }).status)
      -- a free port for Prometheus: bind one, let it go
      local probe = moonpod.http_server {}
      local prom_port = probe:port()
      probe:close()
      local f = assert(io.open(dir .. "/prometheus.yml", "w"))
      f:write(([[
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: moonpod
    static_configs:
      - targets: ["127.0.0.1:%d"]
]]):format(server.port))
      f:close()
      prom_task = moonpod.spawn(moonpod.run, { "prometheus", "--config.file=" .. dir .. "/prometheus.yml",
        "--storage.tsdb.path=" .. dir .. "/data", "--web.listen-address=127.0.0.1:" .. prom_port }, { timeout = 120 })
      local id = client:get_container(name).id
      local query = "container_cpu_usage_seconds_total{id=\"" .. id .. "\"}"
      local answer
      local found = engine.wait_for(function()
        local r = moonpod.run { "curl", "-s", "--get", "--data-urlencode", "query=" .. query,
          "http://127.0.0.1:" .. prom_port .. "/api/v1/query" }
        if r.status ~= 0 or r.stdout == "" then return false end
        -- while it starts, Prometheus answers in plain text
        local ok, decoded = pcall(moonpod.json.decode, r.stdout)
        if not ok or type(decoded) ~= "table" then return false end
        answer = decoded
        return answer.status == "success" and #answer.data.result > 0
      end, 30)
      assert.is_true(found, "Prometheus has the series: " .. moonpod.json.encode(answer or {}))
      local series = answer.data.result[1]
      assert.are.equal(name, series.metric.name)
      assert.are.equal(engine.name, series.metric.runtime)
      assert.are.equal("moonpod", series.metric.job)
      assert.is_true(tonumber(series.value[2]) > 0)
    end)
  end)

  describe("history on disk", function()
    local name, dir

    setup(function()
      name = select(2, start("yes > /dev/null", "disk"))
      dir = os.getenv("MOONPOD_TEST_TMP") .. "/" .. engine.unique("store")
      assert.are.equal(0, moonpod.run({ "mkdir", "-p", dir }).status)
    end)

    teardown(function()
      if dir then moonpod.run { "rm", "-rf", dir } end
    end)

    it("survives a restart of the monitor", function()
      local path = dir .. "/history.db"
      local first = stats.monitor { client = client, interval = 1, history = { path = path, flush_interval = 0.5 } }
      assert.is_nil(first.store_error)
      first:watch(name)
      assert.is_true(engine.wait_for(function() return #first:history(name) >= 3 end, 15))
      local before = first:history(name)
      local summary = first:summary(name, "cpu_percent", 3600)
      first:close()
      assert.are.equal(#before, first:stats().store_written, "every kept sample written")

      local second = stats.monitor { client = client, interval = 1, history = { path = path } }
      assert.is_nil(second.store_error)
      assert.are.equal(#before, second.restored)
      local id = client:get_container(name).id
      assert.is_false(second:ids()[id], "known again, not sampled until watched")
      local after = second:history(id)
      assert.are.equal(#before, #after)
      for i, p in ipairs(before) do
        assert.are.equal(p.timestamp, after[i].timestamp)
        assert.is_true(math.abs(p.cpu_percent - after[i].cpu_percent) < 1e-3)
        assert.are.equal(p.memory_usage_bytes, after[i].memory_usage_bytes)
      end
      local again = second:summary(id, "cpu_percent", 3600)
      assert.are.equal(summary.count, again.count)
      assert.is_true(math.abs(summary.avg - again.avg) < 1e-3)
      -- the name came back with the samples: /metrics labels need it
      second:watch(name)
      assert.is_true(engine.wait_for(function() return #second:history(id) > #before end, 15), "sampling goes on")
      assert.matches('name="' .. name:gsub("%-", "%%-") .. '"', second:metrics_text())
      second:close()
    end)

    -- The sqlite3 CLI, waiting out the monitor's own connection (closing
    -- it checkpoints the WAL, which holds the database for a moment).
    local function sql1(path, query)
      local r = moonpod.run { "sqlite3", "-cmd", ".timeout 10000", path, query }
      assert.are.equal(0, r.status, r.stderr)
      return (r.stdout:gsub("%s+$", ""))
    end

    -- The schema as the monitor writes it, then rows put in by the sqlite3
    -- CLI: hours of history without waiting hours.
    local function seeded_store(file, retention, sql)
      local path = dir .. "/" .. file
      stats.monitor({ client = client, interval = 1, history = { path = path, retention = retention } }):close()
      sql1(path, sql)
      return path
    end

    it("reads back 7 hours through all three tiers: counts, means, extremes, exact counters", function()
      local id = ("c0ffee"):rep(10) .. "0001"
      local N = 7 * 3600
      local t0 = math.floor(moonpod.now()) - N
      -- CPU 100 one sample in four, else 0: every slot's min 0, max 100, mean 25;
      -- the counters climb past what a float holds exactly
      local path = seeded_store("seeded.db", 86400, ([[
        INSERT INTO samples WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
          SELECT '%s', %d + i, CASE WHEN i %% 4 = 0 THEN 100.0 ELSE 0.0 END, 1000000 + i * 10, 1.5,
                 5000000000 + i * 1001, 7000000000 + i * 3, i * 7, 3000000000 + i, 1 + i %% 3 FROM s;
        INSERT INTO containers VALUES('%s', 'seeded', 'img');]]):format(N - 1, id, t0, id))

      local function check(m, what)
        assert.is_nil(m.store_error)
        assert.are.equal(N, m.restored, what)
        -- a window reaching back past the oldest slot's start (a point's time)
        local cpu = m:summary(id, "cpu_percent", N + 600)
        assert.are.equal(N, cpu.count, what)
        assert.is_true(math.abs(cpu.avg - 25) < 1e-3, what .. ": avg " .. cpu.avg)
        assert.are.equal(0, cpu.min, what)
        assert.are.equal(100, cpu.max, what)
        local mem = m:summary(id, "memory_usage_bytes", N + 600)
        assert.are.equal(1000000, mem.min, what)
        assert.are.equal(1000000 + (N - 1) * 10, mem.max, what)
        assert.is_true(math.abs(mem.avg - (1000000 + (N - 1) * 5)) < 1, what .. ": memory avg " .. mem.avg)
        local rx = m:summary(id, "network_rx_bytes", N + 600)
        assert.are.equal(5000000000 + (N - 1) * 1001, rx.last, what)
        assert.are.equal(5000000000 + (N - 1) * 1001, rx.max, what)

        -- the data has no gaps: a point's slot ends where the next begins
        local points, samples, by = m:history(id), 0, {}
        for k, p in ipairs(points) do
          samples = samples + p.samples
          local span = k < #points and points[k + 1].timestamp - p.timestamp or 1
          assert.is_true(span > 0 and p.samples <= span, what .. ": points in order, none overlapping")
          by[span] = (by[span] or 0) + 1
          -- a slot's counters are those of its last sample, exactly
          local last_i = math.min(p.timestamp + span - 1 - t0, N - 1)
          assert.are.equal(5000000000 + last_i * 1001, p.network_rx_bytes, what .. " at " .. p.timestamp)
          assert.are.equal(3000000000 + last_i, p.block_write_bytes, what .. " at " .. p.timestamp)
        end
        assert.are.equal(N, samples, what .. ": every sample once")
        assert.is_true(by[300] >= 12 and by[60] >= 300 and by[1] >= 800, -- the first hour, 6 h, 15 min
          ("%s: 5-minute %s, minute %s, 1-s %s points"):format(what, by[300], by[60], by[1]))
        -- with a step, each point's maximum is the slots' maximum, not their mean
        local stepped = m:history(id, { since = t0 + 600, ["until"] = t0 + N - 600, step = 900 })
        assert.is_true(#stepped >= 25, what)
        for k, p in ipairs(stepped) do
          assert.are.equal(100, p.cpu_percent_max, what)
          if k > 1 and k < #stepped then -- the window cuts the first and the last
            assert.are.equal(900, p.samples, what)
            assert.is_true(math.abs(p.cpu_percent - 25) < 1e-3, what)
          end
        end
        return cpu
      end

      local first = stats.monitor { client = client, interval = 1, history = { path = path, retention = 86400 } }
      local before = check(first, "read back")
      first:close()
      -- read back again: the same answer, nothing lost or doubled
      local second = stats.monitor { client = client, interval = 1, history = { path = path, retention = 86400 } }
      local after = check(second, "read back twice")
      assert.are.equal(before.count, after.count)
      assert.are.equal(before.min, after.min)
      assert.are.equal(before.max, after.max)
      assert.is_true(math.abs(before.avg - after.avg) < 1e-6) -- read back at another time, summed in another order
      assert.are.equal("seeded", sql1(path, "SELECT name FROM containers WHERE id = '" .. id .. "'"))
      second:close()
    end)

    it("reads back a database denser than its interval as one point per slot", function()
      local id = ("c0ffee"):rep(10) .. "0003"
      local t0 = math.floor(moonpod.now()) - 100
      -- two rows a second (a monitor at 0.5 s wrote them) for a monitor at 1 s
      local path = seeded_store("dense.db", 3600, ([[
        INSERT INTO samples WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 199)
          SELECT '%s', %d + i * 0.5, i %% 2 * 10, 1000 + i, 1, 5000000000 + i, 1, 1, 1, 1 FROM s;]]):format(id, t0))
      local m = stats.monitor { client = client, interval = 1, history = { path = path, retention = 3600 } }
      assert.is_nil(m.store_error)
      assert.are.equal(200, m.restored)
      -- the first tier keeps one point a second (the minute tier counts
      -- every row, and gives the first minute whole: the second tier lacks some)
      local points, seconds = m:history(id), 0
      assert.is_true(#points <= 100, #points .. " points")
      for _, p in ipairs(points) do
        if p.samples == 1 then
          seconds = seconds + 1
          assert.are.equal(0, p.timestamp % 1)
          assert.are.equal(5, p.cpu_percent, "the slot's mean")
          assert.are.equal(5000000000 + 2 * (p.timestamp - t0) + 1, p.network_rx_bytes, "the slot's last")
        end
      end
      assert.is_true(seconds >= 40, seconds .. " seconds")
      m:close()
    end)

    it("deletes rows past the retention when it writes, reads back none of them, and runs in WAL mode", function()
      local id = ("c0ffee"):rep(10) .. "0002"
      local now = math.floor(moonpod.now())
      local path = seeded_store("retention.db", 600, ([[
        INSERT INTO samples WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 49)
          SELECT '%s', %d + i, 50, 1, 1, 1, 1, 1, 1, 1 FROM s;
        INSERT INTO samples WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 99)
          SELECT '%s', %d + i, 10, 1, 1, 1, 1, 1, 1, 1 FROM s;]]):format(id, now - 5000, id, now - 300))
      assert.are.equal("150", sql1(path, "SELECT count(*) FROM samples"))
      assert.are.equal("wal", sql1(path, "PRAGMA journal_mode"))

      local m = stats.monitor { client = client, interval = 1,
                                history = { path = path, retention = 600, flush_interval = 0.2 } }
      assert.is_nil(m.store_error)
      assert.are.equal(100, m.restored, "rows past the retention are not read back")
      local s = m:summary(id, "cpu_percent", 3600)
      assert.are.equal(100, s.count)
      assert.are.equal(10, s.max)
      -- the next write enforces the retention in its transaction
      m:watch(name)
      assert.is_true(engine.wait_for(function() return (m:stats().store_written or 0) > 0 end, 15), "a write")
      assert.are.equal("0", sql1(path, ("SELECT count(*) FROM samples WHERE t < %d"):format(now - 600)))
      assert.are.equal("100", sql1(path, ("SELECT count(*) FROM samples WHERE id = '%s'"):format(id)))
      assert.are.equal("wal", sql1(path, "PRAGMA journal_mode"))
      m:close()
    end)

    it("reports a corrupt database clearly and keeps the history in memory", function()
      local path = dir .. "/corrupt.db"
      local f = assert(io.open(path, "wb"))
      f:write(("this is not an SQLite database\n"):rep(200))
      f:close()
      local m = stats.monitor { client = client, interval = 1, history = { path = path } }
      assert.matches("corrupt%.db: .*file is not a database", m.store_error)
      assert.matches("not a database", m:stats().store_error)
      m:watch(name)
      assert.is_true(engine.wait_for(function() return #m:history(name) >= 1 end, 15), "samples in memory")
      m:close()
    end)

    it("reports a locked database clearly and keeps the history in memory", function()
      local path = dir .. "/locked.db"
      assert.are.equal(0, moonpod.run({ "sqlite3", path, "CREATE TABLE other(x)" }).status)
      -- another process holds an exclusive lock for a while
      local holder = moonpod.spawn(moonpod.run, { "sqlite3", "-cmd", "BEGIN EXCLUSIVE; INSERT INTO other VALUES(1);", path,
        ".system sleep 20" }, { timeout = 30 })
      assert.is_true(engine.wait_for(function()
        return moonpod.run({ "sqlite3", path, "SELECT count(*) FROM other" }).status ~= 0
      end, 10), "the lock is held")
      local m = stats.monitor { client = client, interval = 1, history = { path = path } }
      holder:cancel()
      assert.matches("locked%.db: .*database is locked", m.store_error)
      m:watch(name)
      assert.is_true(engine.wait_for(function() return #m:history(name) >= 1 end, 15), "samples in memory")
      m:close()
    end)
  end)
end)
