-- The rest of the container operations against a real engine: create,
-- kill, pause, wait, logs, stats, events, pods. Once per engine.

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local open_fds = require("helpers.fake").open_fds -- counts /proc/self/fd; no fake engine here

describe("operations on " .. engine.name, function()
  local client
  local made = {}

  local create = engine.creator(function() return client end, "op", made)

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  teardown(function()
    if #made > 0 then engine.remove(table.unpack(made)) end
  end)

  describe("create_container", function()
    it("creates what the spec says, as the engine sees it", function()
      local id, name = create {
        cmd = { "sh", "-c", "sleep 30" },
        env = { GREETING = "hello", N = 3 },
        labels = { app = "made-by-moonpod" },
        restart_policy = { name = "on-failure", max_retries = 2 },
        healthcheck = { test = "true", interval = 2, timeout = 1, retries = 3 },
        stop_timeout = 3,
      }
      assert.matches("^%x+$", id)
      local c = client:get_container(name)
      assert.are.equal(id, c.id)
      assert.are.equal("created", c.status)
      assert.are.same({ app = "made-by-moonpod" }, c.labels)
      local cfg = c.raw.Config
      local env = table.concat(cfg.Env, " ")
      assert.matches("GREETING=hello", env)
      assert.matches("N=3", env)
      assert.are.equal(2e9, cfg.Healthcheck.Interval)
      assert.are.same({ "CMD-SHELL", "true" }, cfg.Healthcheck.Test)
      assert.are.equal("on-failure", c.raw.HostConfig.RestartPolicy.Name)
      assert.are.equal(2, c.raw.HostConfig.RestartPolicy.MaximumRetryCount)
      assert.are.equal("created", engine.state(name))
    end)

    it("takes a shell line as cmd", function()
      local id = create { cmd = "echo from-a-shell-line" }
      client:start_container(id)
      assert.are.equal(0, client:wait_container(id))
      local logs = client:get_container_logs(id)
      assert.are.equal("from-a-shell-line", logs[1].text)
    end)

    it("refuses a misspelt field or a missing image", function()
      assert.has_error(function() client:create_container { image = engine.image(), comand = "x" } end)
      assert.has_error(function() client:create_container { name = "x" } end)
      assert.has_error(function() client:create_container { image = engine.image(), env = "x" } end)
    end)

    it("reports a missing image as not_found", function()
      local ok, err = pcall(client.create_container, client, { image = "no-such-image:42", network = "none" })
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind)
    end)

    it("reports what the engine refuses as api, with its status and its own message", function()
      -- each engine refuses something with a 4xx that is neither 404 nor 409
      local ok, err
      if engine.name == "docker" then
        ok, err = pcall(client.create_container, client,
          { name = engine.unique("bogus"), image = engine.image(), network = "none", restart_policy = { name = "bogus" } })
        assert.is_false(ok)
        assert.are.equal(400, err.status_code)
        assert.matches("invalid restart policy", err.message)
      else
        local id = create { cmd = "true" }
        ok, err = pcall(client.get_container_logs, client, id, { since = "not-a-time" })
        assert.is_false(ok)
        assert.are.equal(400, err.status_code)
        assert.matches("failed to parse query parameter 'since'", err.message)
      end
      assert.are.equal("api", err.kind)
      assert.is_table(err.response_data)
      assert.is_truthy(err.message:find(err.response_data.message, 1, true)) -- the engine's words, whole
    end)

    it("reports a name in use as conflict", function()
      local _, name = create { cmd = "true" }
      local ok, err = pcall(client.create_container, client, { name = name, image = engine.image(), network = "none" })
      assert.is_false(ok)
      assert.are.equal("conflict", err.kind)
    end)
  end)

  describe("kill, pause, unpause, wait", function()
    it("pauses and unpauses", function()
      local id = create { cmd = "sleep 60" }
      client:start_container(id)
      assert.is_true(client:pause_container(id))
      assert.are.equal("paused", client:get_container(id).status)
      assert.are.equal("paused", engine.state(id))
      assert.is_true(client:unpause_container(id))
      assert.are.equal("running", client:get_container(id).status)
    end)

    it("wait returns the exit code, while other tasks go on", function()
      local id = create { cmd = "sleep 0.3; exit 7" }
      client:start_container(id)
      local ticks = 0
      local timer = moonpod.every(0.05, function() ticks = ticks + 1 end)
      assert.are.equal(7, client:wait_container(id))
      timer:stop()
      assert.is_true(ticks >= 3)
    end)

    it("kill sends the signal asked for", function()
      local id = create { cmd = "trap 'exit 42' USR1; while true; do sleep 0.1; done" }
      client:start_container(id)
      moonpod.sleep(0.3)
      local waiter = moonpod.spawn(client.wait_container, client, id)
      assert.is_true(client:kill_container(id, { signal = "SIGUSR1" }))
      assert.are.equal(42, waiter:join())
      local id2 = create { cmd = "sleep 60" }
      client:start_container(id2)
      client:kill_container(id2)
      assert.are.equal(137, client:wait_container(id2))
    end)

    it("wait gives up after its timeout, and a cancelled wait leaves no request behind", function()
      local id = create { cmd = "sleep 60" }
      client:start_container(id)
      local ok, err = pcall(client.wait_container, client, id, { timeout = 0.3 })
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      open_fds() -- the first child the count starts is not counted
      local t = moonpod.spawn(client.wait_container, client, id)
      moonpod.sleep(0.2)
      local waiting, waiting_list = open_fds()
      assert.is_true(t:cancel())
      -- the wait's connection is closed by the cancel itself, not by a later collection
      local after, after_list = open_fds()
      assert.is_true(after < waiting, ("open fds: %d while waiting, %d after the cancel:\n%s\nthen:\n%s"):format(
        waiting, after, waiting_list, after_list))
      client:kill_container(id)
    end)

    it("pausing a stopped container is a conflict", function()
      local id = create { cmd = "true" }
      local ok, err = pcall(client.pause_container, client, id)
      assert.is_false(ok)
      assert.are.equal("conflict", err.kind)
    end)
  end)

  describe("logs", function()
    local logger
    setup(function()
      logger = create { cmd = "for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; done" }
      client:start_container(logger)
      client:wait_container(logger)
    end)

    it("reads stdout and stderr as lines, in order, with timestamps", function()
      local lines = client:get_container_logs(logger)
      assert.are.equal(10, #lines)
      local out, err = {}, {}
      for _, l in ipairs(lines) do
        assert.is_number(l.timestamp)
        assert.is_true(math.abs(l.timestamp - moonpod.now()) < 300)
        if l.stream == "stdout" then out[#out + 1] = l.text else err[#err + 1] = l.text end
      end
      assert.are.same({ "out-1", "out-2", "out-3", "out-4", "out-5" }, out)
      assert.are.same({ "err-1", "err-2", "err-3", "err-4", "err-5" }, err)
    end)

    it("selects streams, tails and keeps timestamps when asked", function()
      local only_err = client:get_container_logs(logger, { stdout = false })
      assert.are.equal(5, #only_err)
      for _, l in ipairs(only_err) do assert.are.equal("stderr", l.stream) end
      -- engines count the tail differently (Podman before picking streams)
      local all = {}
      for _, l in ipairs(client:get_container_logs(logger)) do all[l.text] = true end
      local tail = client:get_container_logs(logger, { tail = 2 })
      assert.is_true(#tail >= 1 and #tail <= 2)
      for _, l in ipairs(tail) do assert.is_true(all[l.text]) end
      local stamped = client:get_container_logs(logger, { timestamps = true, stderr = false })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z out%-1$", stamped[1].text)
      assert.has_error(function() client:get_container_logs(logger, { stdout = false, stderr = false }) end)
    end)

    it("filters by since", function()
      local lines = client:get_container_logs(logger, { since = moonpod.now() + 60 })
      assert.are.same({}, lines)
    end)

    it("follows a running container as an iterator", function()
      local id = create { cmd = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done" }
      client:start_container(id)
      local got = {}
      for line in client:get_container_logs(id, { follow = true }) do
        got[#got + 1] = line.text
        if #got == 5 then break end
      end
      assert.are.same({ "tick-1", "tick-2", "tick-3", "tick-4", "tick-5" }, got)
      client:kill_container(id)
    end)

    it("reads a TTY container's raw output as lines too", function()
      local id = create { cmd = "echo tty-one; echo tty-two", tty = true }
      client:start_container(id)
      client:wait_container(id)
      local texts = {}
      for _, l in ipairs(client:get_container_logs(id)) do texts[#texts + 1] = (l.text:gsub("\r$", "")) end
      assert.are.same({ "tty-one", "tty-two" }, texts)
    end)

    it("an unknown container is not_found", function()
      local ok, err = pcall(client.get_container_logs, client, "no-such-" .. engine.unique())
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind)
      ok, err = pcall(function()
        for _ in client:get_container_logs("no-such-" .. engine.unique(), { follow = true }) do end
      end)
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind)
    end)
  end)

  describe("stats", function()
    local burner
    setup(function()
      burner = create { cmd = "yes > /dev/null" }
      client:start_container(burner)
      moonpod.sleep(1.5)
    end)

    it("one-shot has every field, and CPU agrees with the engine's own CLI", function()
      local s = client:get_container_stats(burner)
      for _, f in ipairs { "timestamp", "cpu_percent", "memory_usage_bytes", "memory_limit_bytes", "memory_percent",
        "network_rx_bytes", "network_tx_bytes", "block_read_bytes", "block_write_bytes", "pids" } do
        assert.is_number(s[f], f)
      end
      assert.are.equal(client:get_container(burner).id, s.container_id)
      assert.is_true(s.memory_usage_bytes > 0 and s.memory_limit_bytes > s.memory_usage_bytes)
      assert.is_true(s.pids >= 1)
      -- our sample before and after the CLI's covers the window it measured
      -- in; on a busy machine the load moves between tries, so up to three
      local theirs, ours
      for _ = 1, 3 do
        client:get_container_stats(burner)
        local out = engine.cli("stats", "--no-stream", "--format", "{{.CPUPerc}}", burner)
        theirs = tonumber(out:match("([%d.]+)%%"))
        ours = client:get_container_stats(burner).cpu_percent
        assert.is_number(theirs, out)
        if math.abs(theirs - ours) <= 10 then break end
      end
      assert.is_true(math.abs(theirs - ours) <= 10, ("engine says %.1f%%, moonpod %.1f%%"):format(theirs, ours))
      assert.is_true(ours > 10, "a container running `yes` burns CPU: " .. ours)
    end)

    it("streams samples about a second apart, and break closes the stream", function()
      local samples = {}
      for s in client:get_container_stats(burner, { stream = true }) do
        samples[#samples + 1] = s
        if #samples == 3 then break end
      end
      assert.are.equal(3, #samples)
      for _, s in ipairs(samples) do
        assert.is_true(s.cpu_percent > 10, "cpu " .. s.cpu_percent)
      end
      local gap = samples[3].timestamp - samples[2].timestamp
      assert.is_true(gap > 0.5 and gap < 3, "gap " .. gap)
    end)

    it("an unknown container is not_found, one-shot or streamed", function()
      local missing = "no-such-" .. engine.unique()
      local ok, err = pcall(client.get_container_stats, client, missing)
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind)
      local samples = 0
      ok, err = pcall(function()
        for _ in client:get_container_stats(missing, { stream = true }) do samples = samples + 1 end
      end)
      assert.is_false(ok, "the stream ended without an error")
      assert.is_true(moonpod.is_error(err))
      assert.are.equal("not_found", err.kind)
      assert.is_truthy(err.message:find(missing, 1, true), err.message)
      assert.are.equal(0, samples)
    end)

    it("samples asked for together come back to each asker (one request on Podman)", function()
      local ids = {}
      for i = 1, 4 do
        ids[i] = create { cmd = "sleep 60" }
        client:start_container(ids[i])
      end
      local script = [[
        local m = require "moonpod"
        local c = m.connect()
        local ts = {}
        for i = 1, select("#", ...) do ts[i] = m.spawn(c.get_container_stats, c, (select(i, ...))) end
        for i = 1, #ts do print(ts[i]:join().container_id) end
      ]]
      -- the script comes on stdin, the ids as its arguments
      local argv = { os.getenv("MOONPOD_BIN") or "./moonpod", "-" }
      for _, id in ipairs(ids) do argv[#argv + 1] = id end
      local r = moonpod.run(argv, { stdin = script, env = { MOONPOD_DEBUG = "1" }, timeout = 60 })
      assert.are.equal(0, r.status, r.stderr)
      local got = {}
      for line in r.stdout:gmatch("[^\n]+") do got[#got + 1] = line end
      assert.are.same(ids, got)
      local requests = 0
      for _ in r.stderr:gmatch("stats%?stream=false") do requests = requests + 1 end
      assert.are.equal(engine.name == "podman" and 1 or 4, requests)
    end)

    it("a stopped container is not an error: its samples are zeros, one-shot or streamed", function()
      local id = create { cmd = "true" }
      client:start_container(id)
      client:wait_container(id)
      local s = client:get_container_stats(id)
      assert.are.same({ 0, 0, 0 }, { s.cpu_percent, s.memory_usage_bytes, s.pids })
      local stream = client:get_container_stats(id, { stream = true })
      local guard = moonpod.spawn(function() -- no sample at all fails the test, not hangs it
        moonpod.sleep(10)
        stream:close()
      end)
      local streamed = stream()
      guard:cancel()
      stream:close()
      assert.is_table(streamed, "no sample in 10 s")
      assert.are.same({ 0, 0, 0 }, { streamed.cpu_percent, streamed.memory_usage_bytes, streamed.pids })
    end)
  end)

  describe("events", function()
    it("reports a container's life in order, with the same action words on both engines", function()
      local since = moonpod.now()
      local id, name = create { cmd = "sleep 0.2; exit 3" }
      client:start_container(id)
      client:wait_container(id)
      moonpod.sleep(0.3)
      local seen, exit_code = {}, nil
      for e in client:get_events { since = since, ["until"] = moonpod.now(), filters = { container = name } } do
        assert.are.equal("container", e.type)
        assert.are.equal(id, e.container_id)
        assert.are.equal(name, e.container_name)
        assert.matches("moonpod%-test", e.image)
        assert.is_true(e.timestamp >= since - 1)
        seen[#seen + 1] = e.action
        if e.action == "die" then exit_code = e.exit_code end
      end
      local order = table.concat(seen, " ")
      assert.matches("create.*start.*die", order)
      assert.is_nil(order:match("died"))
      assert.are.equal(3, exit_code)
    end)

    it("follows new events until the stream is closed", function()
      local name = engine.unique("follow")
      local events = client:get_events { filters = { container = name } }
      local got = {}
      local reader = moonpod.spawn(function()
        for e in events do
          got[#got + 1] = e.action
          if e.action == "start" then return end
        end
      end)
      moonpod.sleep(0.2)
      local id = create { name = name, cmd = "sleep 30" }
      client:start_container(id)
      reader:join()
      events:close()
      assert.matches("create", table.concat(got, " "))
      assert.are.equal("start", got[#got])
      assert.is_nil(events())
    end)

    it("filters by event name", function()
      local since = moonpod.now()
      local id = create { cmd = "true" }
      client:start_container(id)
      client:wait_container(id)
      moonpod.sleep(0.3)
      local actions = {}
      for e in client:get_events { since = since, ["until"] = moonpod.now(), filters = { event = { "die" } } } do
        actions[e.action] = true
      end
      assert.are.same({ die = true }, actions)
    end)
  end)

  describe("streams", function()
    it("outlive the request timeout, and break releases their connections at once", function()
      local c = moonpod.connect { socket_path = engine.socket(), request_timeout = 0.3 }
      local id, name = create { cmd = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done" }
      client:start_container(id) -- one-shot requests on the usual client: a busy engine may take 0.3 s
      for _ = 1, 10 do -- c's connection, open before the count; a ping late under load is tried again
        if pcall(c.ping, c) then break end
      end
      open_fds() -- the first child the count starts is not counted
      local before, before_list = open_fds()
      local function past(t0) return moonpod.monotonic() - t0 > 1.2 end -- four request timeouts
      local t0, lines = moonpod.monotonic(), 0
      for _ in c:get_container_logs(id, { follow = true }) do
        lines = lines + 1
        if past(t0) then break end
      end
      t0 = moonpod.monotonic()
      local samples = 0
      for _ in c:get_container_stats(id, { stream = true }) do
        samples = samples + 1
        if past(t0) then break end
      end
      -- events: the stream is silent until the engine's CLI pauses the container, 1.5 s later
      t0 = moonpod.monotonic()
      local poke = moonpod.spawn(function()
        moonpod.sleep(1.5)
        engine.cli("pause", id)
        engine.cli("unpause", id)
      end)
      local actions = {}
      local events = c:get_events { filters = { container = name, event = { "pause" } } }
      local guard = moonpod.spawn(function() -- a pause that never comes fails the test, not hangs it
        moonpod.sleep(15)
        events:close()
      end)
      for e in events, nil, nil, events do -- as `for e in c:get_events{}`: the stream is the closing value
        actions[#actions + 1] = e.action
        if past(t0) then break end
      end
      guard:cancel()
      poke:join()
      -- no collectgarbage(): break closed each stream and its connection
      local after, after_list = open_fds()
      assert.is_true(lines >= 5, "lines " .. lines)
      assert.is_true(samples >= 1, "samples " .. samples) -- each loop breaks on an item that came after 1.2 s
      assert.are.same({ "pause" }, actions)
      assert.is_true(after <= before, ("open fds went from %d to %d:\n%s\nthen:\n%s"):format(before, after,
        before_list, after_list))
      client:kill_container(id)
    end)
  end)

  describe("pods", function()
    it("lists pods on Podman, says unsupported on Docker", function()
      if engine.name == "docker" then
        local ok, err = pcall(client.list_pods, client)
        assert.is_false(ok)
        assert.are.equal("unsupported", err.kind)
        return
      end
      local name = engine.unique("pod")
      engine.cli("pod", "create", "--label", "team=a", "--name", name)
      local found
      for _, p in ipairs(client:list_pods()) do
        if p.name == name then found = p end
      end
      assert.is_table(found)
      assert.are.equal("a", found.labels.team)
      assert.is_string(found.status)
      assert.is_table(found.containers)
      engine.cli("pod", "rm", "-f", name)
    end)
  end)
end)
