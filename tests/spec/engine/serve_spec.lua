-- `moonpod serve` as a child process against the engine under test:
-- isolation of faulty policies, SIGHUP reload, SIGTERM drain, systemd
-- readiness. Runs the binary under test (MOONPOD_BIN).

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

local files = require "helpers.serve"
local read, write = files.read, files.write

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

-- ---- /metrics and /healthz over real HTTP (curl) ----

-- The port serve logged it listens on (--listen 127.0.0.1:0).
local function metrics_port(h)
  assert.is_true(engine.wait_for(function() return read(h.log):match("metrics on http://127%.0%.0%.1:%d+/") ~= nil end,
    20), read(h.log))
  return tonumber(read(h.log):match("metrics on http://127%.0%.0%.1:(%d+)/"))
end

-- GET path on port -> body, status code (nil and curl's exit status when
-- nothing answered).
local function get(port, path)
  local r = moonpod.run { "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:" .. port .. path }
  if r.status ~= 0 then return nil, r.status end
  local body, code = r.stdout:match("^(.*)\n(%d+)$")
  return body, tonumber(code)
end

-- Parses the text exposition format strictly: every line is a HELP, a
-- TYPE or a sample of a family declared just before with both; counters
-- end in _total; no series twice. Returns { [name] = { { labels, value } } }.
local function parse_metrics(text)
  local families, series, current, types = {}, {}, nil, {}
  local n = 0
  assert.are.equal("\n", text:sub(-1), "the exposition ends with a newline")
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local where = ("line %d: %s"):format(n, line)
    local help = line:match("^# HELP ([%a_:][%w_:]*) .+$")
    local tname, ttype = line:match("^# TYPE ([%a_:][%w_:]*) (%a+)$")
    if help then
      assert.is_nil(families[help], "HELP twice or after samples: " .. where)
      current = help
      families[help] = {}
    elseif tname then
      assert.are.equal(current, tname, "TYPE without its HELP: " .. where)
      assert.is_nil(types[tname], "TYPE twice: " .. where)
      assert.is_truthy(({ counter = true, gauge = true })[ttype], where)
      if ttype == "counter" then assert.is_truthy(tname:match("_total$"), "a counter without _total: " .. where) end
      types[tname] = ttype
    else
      local name, rest = line:match("^([%a_:][%w_:]*)(.*)$")
      assert.is_truthy(name, "not a sample: " .. where)
      assert.are.equal(current, name, "sample outside its family: " .. where)
      assert.is_truthy(types[name], "sample before TYPE: " .. where)
      local labels, keys = {}, {}
      if rest:sub(1, 1) == "{" then
        local i = 2
        while rest:sub(i, i) ~= "}" do
          local k, after = rest:match('^([%a_][%w_]*)="()', i)
          assert.is_truthy(k, "bad label: " .. where)
          local v, j = {}, after
          while true do
            local c = rest:sub(j, j)
            assert.are_not.equal("", c, "unterminated label value: " .. where)
            if c == '"' then break end
            if c == "\\" then
              local e = rest:sub(j + 1, j + 1)
              local map = { ["\\"] = "\\", ['"'] = '"', n = "\n" }
              assert.is_truthy(map[e], "bad escape: " .. where)
              v[#v + 1], j = map[e], j + 2
            else
              v[#v + 1], j = c, j + 1
            end
          end
          assert.is_nil(labels[k], "label twice: " .. where)
          labels[k], keys[#keys + 1] = table.concat(v), k
          i = j + 1
          if rest:sub(i, i) == "," then i = i + 1 end
        end
        rest = rest:sub(i + 1)
      end
      local value = rest:match("^ (%S+)$")
      assert.is_truthy(value and (tonumber(value) or value == "NaN" or value == "+Inf" or value == "-Inf"),
        "bad value: " .. where)
      table.sort(keys)
      local id = { name }
      for _, k in ipairs(keys) do id[#id + 1] = k .. "=" .. labels[k] end
      id = table.concat(id, "\0")
      assert.is_nil(series[id], "series twice: " .. where)
      series[id] = true
      local fam = families[name]
      fam[#fam + 1] = { labels = labels, value = tonumber(value) }
    end
  end
  for name, samples in pairs(families) do
    assert.is_truthy(types[name], name .. " has no TYPE")
    assert.is_true(#samples > 0, name .. " has no sample")
  end
  return families
end

-- The value of name's sample whose labels include want.
local function sample(families, name, want)
  for _, s in ipairs(families[name] or {}) do
    local all = true
    for k, v in pairs(want or {}) do all = all and s.labels[k] == v end
    if all then return s.value end
  end
end

describe("moonpod serve on " .. engine.name .. " #children", function()
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
    local h = start(dir, { "--memory-limit", "16", "--time-limit", "0.5", "--drain-timeout", "0.5",
      "--listen", "127.0.0.1:0", dir })
    assert.is_true(h.logged("serve: ready: 6 of 6 policies running"), read(h.log))
    local port = metrics_port(h)

    local first = container("iso1")
    assert.is_true(seen(out, "rec start " .. first), read(out))
    assert.is_true(h.logged("policy 'runaway' stopped: a handler ran over its time budget"), read(h.log))
    assert.is_true(h.logged("policy 'hungry' stopped: it reached its memory limit of 16777216 bytes"), read(h.log))

    -- after the others were stopped, the recorder still acts
    local second = container("iso2")
    assert.is_true(seen(out, "rec start " .. second), read(out))
    assert.is_true(seen(out, "top start " .. second .. " shared=true"), read(out))

    -- /metrics counts each fault against its policy, over real HTTP
    local body, code = get(port, "/metrics")
    assert.are.equal(200, code, tostring(body))
    local check = moonpod.run({ "promtool", "check", "metrics" }, { stdin = body })
    assert.are.equal(0, check.status, check.stdout .. check.stderr)
    local m = parse_metrics(body)
    local function counter(metric, policy) return sample(m, "moonpod_policy_" .. metric .. "_total", { policy = policy }) end
    local function status(policy, st) return sample(m, "moonpod_policy_status", { policy = policy, status = st }) end
    assert.is_true(counter("errors", "errors") >= 2, body) -- at least one event of each container
    assert.are.equal(1, counter("timeouts", "runaway"), body)
    assert.are.equal(1, counter("memory_faults", "hungry"), body)
    assert.are.equal(0, counter("errors", "recorder") + counter("timeouts", "recorder") + counter("memory_faults", "recorder"))
    assert.are.equal(0, counter("timeouts", "hungry") + counter("memory_faults", "runaway"), body)
    assert.is_true(counter("events_dropped", "slow") >= 1, body)
    for _, p in ipairs { "recorder", "errors", "runaway", "hungry", "slow", "toplevel" } do
      assert.are.equal(1, counter("starts", p), body)
      local want = (p == "runaway" or p == "hungry") and "failed" or "running"
      assert.are.equal(1, status(p, want), p .. "\n" .. body)
      assert.are.equal(0, status(p, want == "failed" and "running" or "failed"), p .. "\n" .. body)
    end
    assert.are.equal(6, sample(m, "moonpod_serve_policies"))
    assert.are.equal(16 * 1024 * 1024, sample(m, "moonpod_policy_memory_limit_bytes"))
    assert.is_true(sample(m, "moonpod_policy_memory_bytes", { policy = "recorder" }) > 0)
    assert.are.equal(0, sample(m, "moonpod_policy_memory_bytes", { policy = "hungry" })) -- its state is closed
    assert.is_true(sample(m, "moonpod_events_received_total", { runtime = engine.name }) >= 4, body)
    assert.are.equal(1, sample(m, "moonpod_event_stream_connected", { runtime = engine.name }), body)
    assert.are.equal(1, sample(m, "moonpod_serve_healthy"))
    assert.is_true(sample(m, "process_resident_memory_bytes") > 0)
    assert.are.same({ "ok\n", 200 }, { get(port, "/healthz") })

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

  it("serves /metrics to a real Prometheus, answers 503 on /healthz while draining and closes the port", function()
    local dir = fresh_dir("prom")
    -- a task that never ends keeps the drain going until its bound
    write(dir .. "/forever.lua", [[
local moonpod = require "moonpod"
moonpod.spawn(function() while true do moonpod.sleep(60) end end)
]])
    -- two policies with stats monitors that both watch one container (the
    -- ready-made container-metrics and one of its own): its container_*
    -- series are on serve's /metrics, once
    local label = engine.unique("lbl")
    local watched = engine.unique("watched")
    names[#names + 1] = watched
    local watched_id = engine.container { name = watched, labels = { ["moonpod.test"] = label } }
    write(dir .. "/mon_a.lua", ([[
require("moonpod.policykit").override("container-metrics", { label = "moonpod.test=%s" })
return dofile(%q)
]]):format(label, os.getenv("PWD") .. "/scripts/policies/container-metrics.lua"))
    write(dir .. "/mon_b.lua", ([[
local stats = require "moonpod.stats"
local mon = stats.monitor { interval = 1 }
mon:watch_all { filters = { label = { "moonpod.test=%s" } } }
]]):format(label))
    local h = start(dir, { "--listen", "127.0.0.1:0", "--drain-timeout", "3", dir })
    local port = metrics_port(h)
    assert.is_true(h.logged("ready: 3 of 3"), read(h.log))
    local body
    assert.is_true(engine.wait_for(function()
      body = get(port, "/metrics")
      return body ~= nil and body:find('container_last_seen{id="' .. watched_id, 1, true) ~= nil
    end, 20), "the watched container on /metrics: " .. tostring(body))
    moonpod.sleep(2.5) -- both monitors have sampled it by now (1 s interval)
    body = get(port, "/metrics")
    local check = moonpod.run({ "promtool", "check", "metrics" }, { stdin = body })
    assert.are.equal(0, check.status, check.stdout .. check.stderr)
    local m = parse_metrics(body) -- also: no series twice
    for _, family in ipairs { "container_cpu_usage_seconds_total", "container_memory_usage_bytes",
      "container_memory_working_set_bytes", "container_network_receive_bytes_total",
      "container_network_transmit_bytes_total", "container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
      "container_last_seen", "container_start_time_seconds", "container_spec_memory_limit_bytes",
      "moonpod_event_reconnects_total", "moonpod_events_received_total" } do
      assert.is_table(m[family], family .. "\n" .. body)
    end
    local n = 0
    for _, smp in ipairs(m.container_cpu_usage_seconds_total) do
      if smp.labels.id == watched_id then
        n = n + 1
        assert.are.same({ id = watched_id, name = watched, image = smp.labels.image, runtime = engine.name }, smp.labels)
        assert.matches("moonpod%-test", smp.labels.image)
      end
    end
    assert.are.equal(1, n, "one series for the container both policies watch\n" .. body)
    assert.is_true(sample(m, "container_start_time_seconds", { id = watched_id }) > 0)
    assert.are.same({ "ok\n", 200 }, { get(port, "/healthz") })
    local _, nope = get(port, "/nope")
    assert.are.equal(404, nope)

    -- a free port for Prometheus: bind one, let it go
    local probe = moonpod.http_server {}
    local prom_port = probe:port()
    probe:close()
    assert(moonpod.run({ "mkdir", "-p", dir .. "/data" }).ok)
    write(dir .. "/prometheus.yml", ([[
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: moonpod-serve
    static_configs:
      - targets: ["127.0.0.1:%d"]
]]):format(port))
    local prom = moonpod.spawn(moonpod.run, { "prometheus", "--config.file=" .. dir .. "/prometheus.yml",
      "--storage.tsdb.path=" .. dir .. "/data", "--web.listen-address=127.0.0.1:" .. prom_port }, { timeout = 120 })
    local function query(q)
      local answer
      local found = engine.wait_for(function()
        local r = moonpod.run { "curl", "-s", "--get", "--data-urlencode", "query=" .. q,
          "http://127.0.0.1:" .. prom_port .. "/api/v1/query" }
        if r.status ~= 0 or r.stdout == "" then return false end
        local ok, decoded = pcall(moonpod.json.decode, r.stdout) -- plain text while it starts
        if not ok or type(decoded) ~= "table" then return false end
        answer = decoded
        return answer.status == "success" and #answer.data.result > 0
      end, 30)
      assert.is_true(found, "Prometheus has the series: " .. moonpod.json.encode(answer or {}))
      return answer.data.result
    end
    local result = query('moonpod_policy_status{policy="forever",status="running"}')
    local series = result[1]
    assert.are.equal("moonpod-serve", series.metric.job)
    assert.are.equal(dir .. "/forever.lua", series.metric.path)
    assert.are.equal("1", series.value[2])
    result = query('container_cpu_usage_seconds_total{id="' .. watched_id .. '"}')
    prom:cancel()
    assert.are.equal(1, #result, moonpod.json.encode(result))
    assert.are.equal(watched, result[1].metric.name)
    assert.are.equal(engine.name, result[1].metric.runtime)
    assert.are.equal("moonpod-serve", result[1].metric.job)
    assert.is_true(tonumber(result[1].value[2]) >= 0)

    h.signal("TERM")
    local draining = engine.wait_for(function()
      local body, code = get(port, "/healthz")
      return code == 503 and body == "draining\n"
    end, 3)
    assert.is_true(draining, read(h.log))
    assert.are.equal(0, h.task:join().status, read(h.log))
    assert.matches("1 task still running after the drain timeout of 3.0 s", read(h.log))
    local body, curl_status = get(port, "/healthz")
    assert.is_nil(body)
    assert.are.equal(7, curl_status) -- curl: could not connect
    moonpod.run { "rm", "-rf", dir .. "/data" }
  end)

  it("refuses a bad --listen and exits 1 when the address is taken", function()
    for _, bad in ipairs { "9464", "localhost:9464", "127.0.0.1:70000", "::1:9464", "[::1]", "127.0.0.1:" } do
      local r = moonpod.run { BIN, "serve", "--listen", bad, "/dev/null" }
      assert.are.equal(2, r.status, bad)
      assert.matches("--listen", r.stderr, 1, true)
    end
    local dir = fresh_dir("taken")
    write(dir .. "/idle.lua", "return {}\n")
    local holder = moonpod.http_server {}
    local r = moonpod.run({ BIN, "serve", "--listen", "127.0.0.1:" .. holder:port(), dir .. "/idle.lua" }, { timeout = 20 })
    holder:close()
    assert.are.equal(1, r.status, r.stderr)
    assert.matches("cannot listen on 127.0.0.1:", r.stderr, 1, true)
    assert.matches("--listen off", r.stderr, 1, true)

    -- the default address, when taken (by us, or by a service already
    -- there), is skipped with a warning: the service runs on
    local default
    engine.wait_for(function()
      local ok, s = pcall(moonpod.http_server, { port = 9464 })
      default = ok and s or nil
      return ok
    end, 5)
    local h = start(dir, { dir .. "/idle.lua" })
    assert.is_true(h.logged("ready: 1 of 1"), read(h.log))
    assert.matches("serve: http server: cannot listen on 127.0.0.1:9464[^\n]*; no /metrics and /healthz", read(h.log))
    assert.are.equal(0, h.stop().status, read(h.log))
    if default then default:close() end
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
