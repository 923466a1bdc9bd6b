-- When no API socket answers (and no service is started), moonpod drives
-- the podman or docker CLI with the same client methods and the same
-- models. Each test runs its client code in a child moonpod whose
-- environment hides every API (helpers/fallback.lua) and checks what came
-- back against the engine's own CLI and against the same engine's API.

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local fallback = require "helpers.fallback"

local describe_fallback = fallback.system_socket() and pending or describe
local PGREP = moonpod.run({ "sh", "-c", "command -v pgrep" }).stdout:gsub("%s+$", "")

for _, name in ipairs { "podman", "docker" } do
  describe_fallback("the " .. name .. " CLI as the engine", function()
    local api -- the same engine through its API, to compare with
    local made = {}

    -- Runs body in a child where `client` is connected through the CLI.
    local function eval(body, ...)
      local code = "local client = moonpod.connect { start_service = false }\n" .. body:format(...)
      return fallback.eval(code, { cli = name })
    end

    -- The same, ending the child with os.exit.
    local function eval_exit(body, ...)
      local code = "local client = moonpod.connect { start_service = false }\n" .. body:format(...)
      return fallback.eval(code, { cli = name, exit = true })
    end

    local function container(opts)
      opts.engine = name
      opts.name = opts.name or engine.unique("cli")
      made[#made + 1] = opts.name
      return engine.container(opts), opts.name
    end

    setup(function()
      api = moonpod.connect { socket_path = engine.socket(name) }
    end)

    teardown(function()
      if #made > 0 then engine.remove_on(name, table.unpack(made)) end
    end)

    it("is chosen when no API answers, and says so", function()
      local out = eval [[
        local v, info = client:get_version(), client:get_system_info()
        local podman_engine
        for _, c in ipairs(v.Components or {}) do
          if c.Name == "Podman Engine" then podman_engine = c.Details.APIVersion end
        end
        return { runtime = client.runtime, transport = client.transport, endpoint = client.endpoint,
                 api_version = client.api_version, server_version = client.server_version,
                 ping = client:ping(), podman_engine = podman_engine, docker_api = v.ApiVersion,
                 info_host = type(info.host), info_server = info.ServerVersion, client_info = info.ClientInfo }
      ]]
      assert.are.equal(name, out.runtime)
      assert.are.equal("cli", out.transport)
      assert.are.equal("cli:" .. name, out.endpoint)
      assert.is_true(out.ping)
      assert.are.equal(api.server_version, out.server_version)
      if name == "podman" then
        assert.are.equal(out.api_version, out.podman_engine)
        assert.are.equal("table", out.info_host)
      else
        assert.are.equal(api.api_version, out.api_version)
        assert.are.equal(out.api_version, out.docker_api)
        assert.are.equal(api.server_version, out.info_server)
        assert.is_nil(out.client_info)
      end
    end)

    it("lists and inspects containers exactly as the API does", function()
      local id, cname = container { labels = { app = "twin", ["com.example/tier"] = "web" } }
      local stopped, sname = container { create_only = true, labels = { app = "twin" } }
      local out = eval([[
        local listed = client:list_containers { filters = { name = %q } }
        local all = client:list_containers { all = true, filters = { label = { "app=twin" }, name = %q } }
        local limited = client:list_containers { all = true, limit = 1 }
        return { listed = #listed == 1 and model(listed[1]) or #listed, inspected = model(client:get_container(%q)),
                 stopped_running = #client:list_containers { filters = { name = %q } },
                 stopped_all = #all, limited = #limited, none = #client:list_containers { filters = { label = "nothing=here" } } }
      ]], cname, sname, cname, sname)
      local via_api = {
        listed = api:list_containers({ filters = { name = cname } })[1],
        inspected = api:get_container(cname),
      }
      for _, how in ipairs { "listed", "inspected" } do
        assert.is_table(out[how], how)
        assert.are.equal(id, out[how].id)
        for _, field in ipairs { "runtime", "name", "image", "status", "labels", "ports", "created_at" } do
          assert.are.same(via_api[how][field], out[how][field], how .. " " .. field)
        end
      end
      assert.are.equal("running", out.listed.status)
      assert.are.equal(0, out.stopped_running)
      assert.are.equal(1, out.stopped_all)
      assert.are.equal(1, out.limited)
      assert.are.equal(0, out.none)
      assert.are.equal("created", api:get_container(stopped).status)
    end)

    it("creates, starts, pauses, kills, waits for, stops, restarts and removes", function()
      local cname = engine.unique("cli-life")
      made[#made + 1] = cname
      local out = eval([[
        local seen = {}
        local id = client:create_container { name = %q, image = %q, network = "none",
          cmd = "trap 'exit 42' USR1; echo up; while true; do sleep 0.1; done",
          env = { GREETING = "hello" }, labels = { made = "by-the-cli-backend" }, stop_timeout = 1 }
        local c = client:get_container(id)
        seen.id, seen.created, seen.label = id, c.status, c.labels.made
        seen.env = table.concat(c.raw.Config.Env, " ")
        client:start_container(id)
        seen.started = client:get_container(id).status
        moonpod.sleep(0.3)
        client:pause_container(id)
        seen.paused = client:get_container(id).status
        client:unpause_container(id)
        local waiter = moonpod.spawn(client.wait_container, client, id)
        client:kill_container(id, { signal = "SIGUSR1" })
        seen.exit_code = waiter:join()
        seen.exited = client:get_container(id).status
        client:restart_container(id, { timeout = 1 })
        seen.restarted = client:get_container(id).status
        client:stop_container(id, { timeout = 1 })
        seen.stopped = client:get_container(id).status
        seen.again = client:stop_container(id)
        client:remove_container(id)
        seen.removed = kind(client.get_container, client, id)
        return seen
      ]], cname, engine.image(name))
      assert.matches("^%x+$", out.id)
      assert.are.equal("created", out.created)
      assert.are.equal("by-the-cli-backend", out.label)
      assert.matches("GREETING=hello", out.env)
      assert.are.equal("running", out.started)
      assert.are.equal("paused", out.paused)
      assert.are.equal(42, out.exit_code)
      assert.are.equal("exited", out.exited)
      assert.are.equal("running", out.restarted)
      assert.are.equal("exited", out.stopped)
      assert.is_true(out.again)
      assert.are.equal("not_found", out.removed)
    end)

    it("maps the CLI's failures to the API's error kinds", function()
      local _, running = container {}
      local _, stopped = container { create_only = true }
      local out = eval([[
        return {
          missing = kind(client.get_container, client, "no-such-container-here"),
          missing_start = kind(client.start_container, client, "no-such-container-here"),
          missing_logs = kind(client.get_container_logs, client, "no-such-container-here"),
          missing_image = kind(client.create_container, client, { image = "no-such-image:42", network = "none" }),
          name_in_use = kind(client.create_container, client, { name = %q, image = %q, network = "none" }),
          remove_running = kind(client.remove_container, client, %q),
          pause_stopped = kind(client.pause_container, client, %q),
          next_exit = kind(client.wait_container, client, %q, { condition = "next-exit" }),
          wait_timeout = kind(client.wait_container, client, %q, { timeout = 0.5 }),
        }
      ]], running, engine.image(name), running, stopped, running, running)
      assert.are.same({
        missing = "not_found", missing_start = "not_found", missing_logs = "not_found",
        missing_image = "not_found", name_in_use = "conflict", remove_running = "conflict",
        pause_stopped = "conflict", next_exit = "unsupported", wait_timeout = "timeout",
      }, out)
    end)

    it("reads logs as lines with timestamps, and follows them", function()
      local _, logger = container { cmd = "for i in 1 2 3; do echo out-$i; echo err-$i >&2; done" }
      local _, ticker = container { cmd = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done" }
      engine.cli_on(name, "wait", logger)
      local out = eval([[
        local function texts(lines)
          local t = {}
          for _, l in ipairs(lines) do t[#t + 1] = l.stream .. ":" .. l.text end
          return table.concat(t, " ")
        end
        local all = client:get_container_logs(%q)
        local stamped = true
        for _, l in ipairs(all) do stamped = stamped and type(l.timestamp) == "number" end
        local followed = {}
        for line in client:get_container_logs(%q, { follow = true }) do
          followed[#followed + 1] = line.text
          if #followed == 3 then break end
        end
        return { count = #all, stamped = stamped,
                 out = texts(client:get_container_logs(%q, { stderr = false })),
                 err = texts(client:get_container_logs(%q, { stdout = false })),
                 tail = #client:get_container_logs(%q, { tail = 2 }),
                 kept = client:get_container_logs(%q, { timestamps = true, stderr = false })[1].text,
                 future = #client:get_container_logs(%q, { since = moonpod.now() + 60 }),
                 followed = table.concat(followed, " ") }
      ]], logger, ticker, logger, logger, logger, logger, logger)
      assert.are.equal(6, out.count)
      assert.is_true(out.stamped)
      assert.are.equal("stdout:out-1 stdout:out-2 stdout:out-3", out.out)
      assert.are.equal("stderr:err-1 stderr:err-2 stderr:err-3", out.err)
      assert.is_true(out.tail >= 1 and out.tail <= 2)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z out%-1$", out.kept)
      assert.are.equal(0, out.future)
      assert.are.equal("tick-1 tick-2 tick-3", out.followed)
    end)

    it("samples stats once and as a stream", function()
      local _, burner = container { cmd = "yes > /dev/null" }
      moonpod.sleep(1)
      local out = eval([[
        local once = client:get_container_stats(%q)
        local fields = {}
        for _, f in ipairs { "timestamp", "cpu_percent", "memory_usage_bytes", "memory_limit_bytes",
          "memory_percent", "network_rx_bytes", "network_tx_bytes", "block_read_bytes", "block_write_bytes", "pids" } do
          fields[#fields + 1] = type(once[f]) == "number" and "" or f
        end
        local samples = {}
        for s in client:get_container_stats(%q, { stream = true }) do
          samples[#samples + 1] = { cpu = s.cpu_percent, at = s.timestamp }
          if #samples == 3 then break end
        end
        return { missing = table.concat(fields), id = once.container_id, cpu = once.cpu_percent,
                 memory = once.memory_usage_bytes, limit = once.memory_limit_bytes, pids = once.pids,
                 samples = samples }
      ]], burner, burner)
      assert.are.equal("", out.missing)
      assert.are.equal(api:get_container(burner).id, out.id)
      assert.is_true(out.cpu > 10, "a container running `yes` burns CPU: " .. out.cpu)
      assert.is_true(out.memory > 0 and out.limit > out.memory)
      assert.is_true(out.pids >= 1)
      assert.are.equal(3, #out.samples)
      for _, s in ipairs(out.samples) do assert.is_true(s.cpu > 10, "cpu " .. moonpod.json.encode(out.samples)) end
      local gap = out.samples[3].at - out.samples[2].at
      assert.is_true(gap > 0.5 and gap < 3, "gap " .. gap)
    end)

    it("replays events between since and until, in the API's words", function()
      local since = moonpod.now()
      local id, cname = container { cmd = "sleep 0.2; exit 3" }
      engine.cli_on(name, "wait", cname)
      moonpod.sleep(0.3)
      local out = eval([[
        local seen, exit_code, all_match = {}, nil, true
        for e in client:get_events { since = %.6f, ["until"] = moonpod.now(), filters = { container = %q } } do
          seen[#seen + 1] = e.action
          all_match = all_match and e.type == "container" and e.container_id == %q and e.container_name == %q
            and e.image:find("moonpod%%-test") ~= nil and e.timestamp >= %.6f - 1
          if e.action == "die" then exit_code = e.exit_code end
        end
        local dies = {}
        for e in client:get_events { since = %.6f, ["until"] = moonpod.now(), filters = { event = { "die" } } } do
          dies[e.action] = true
        end
        return { order = table.concat(seen, " "), exit_code = exit_code, all_match = all_match, dies = dies }
      ]], since, cname, id, cname, since, since)
      assert.matches("create.*start.*die", out.order)
      assert.is_nil(out.order:match("died"))
      assert.is_true(out.all_match)
      assert.are.equal(3, out.exit_code)
      assert.are.same({ die = true }, out.dies)
    end)

    it("follows events live: a container started after the stream opened is seen", function()
      local id, cname = container { create_only = true }
      local out = eval([[
        local events = client:get_events { filters = { container = %q } }
        local seen
        local reader = moonpod.spawn(function()
          for e in events do
            if e.action == "start" then
              seen = { action = e.action, type = e.type, id = e.container_id, name = e.container_name,
                       image = e.image, timestamp = e.timestamp }
              break
            end
          end
        end)
        -- the CLI child may subscribe a little after get_events returns: a
        -- start it missed is followed by another (a restart), until one is seen
        local opened, starts = moonpod.now(), 0
        for _ = 1, 5 do
          if starts == 0 then client:start_container(%q) else client:restart_container(%q, { timeout = 0 }) end
          starts = starts + 1
          local t0 = moonpod.monotonic()
          while not seen and moonpod.monotonic() - t0 < 3 do moonpod.sleep(0.05) end
          if seen then break end
        end
        if not seen then reader:cancel() end
        events:close()
        return { seen = seen or false, starts = starts, opened = opened }
      ]], cname, cname, cname)
      assert.is_table(out.seen, "no start event came through the live stream")
      assert.are.equal("start", out.seen.action)
      assert.are.equal("container", out.seen.type)
      assert.are.equal(id, out.seen.id)
      assert.are.equal(cname, out.seen.name)
      assert.matches("moonpod%-test", out.seen.image)
      assert.is_true(out.seen.timestamp >= out.opened - 1, "an old event: " .. out.seen.timestamp)
      assert.are.equal("running", api:get_container(cname).status)
    end)

    it("lists pods on Podman, says unsupported on Docker", function()
      local pod = engine.unique("cli-pod")
      if name == "podman" then engine.cli_on(name, "pod", "create", "--label", "team=a", "--name", pod) end
      local out = eval([[
        local ok, pods = pcall(client.list_pods, client)
        if not ok then return { kind = pods.kind } end
        for _, p in ipairs(pods) do
          if p.name == %q then return { team = p.labels.team, status = type(p.status), containers = type(p.containers) } end
        end
        return { missing = true }
      ]], pod)
      if name == "podman" then
        engine.cli_on(name, "pod", "rm", "-f", pod)
        assert.are.same({ team = "a", status = "string", containers = "table" }, out)
      else
        assert.are.same({ kind = "unsupported" }, out)
      end
    end)

    it("closing a stream ends its CLI child, and nothing is left when moonpod exits", function()
      local _, ticker = container { cmd = "while true; do echo tick; sleep 0.1; done" }
      local out = eval_exit([[
        local me = io.open("/proc/self/stat"):read("l"):match("^%%d+")
        local function children()
          return (moonpod.run({ %q, "-P", me, "-x", %q }).stdout:gsub("%%s+$", ""))
        end
        local events = client:get_events {}
        local logs = client:get_container_logs(%q, { follow = true })
        local first = logs()
        local open = children()
        events:close()
        logs:close()
        local t0 = moonpod.monotonic()
        while children() ~= "" and moonpod.monotonic() - t0 < 5 do moonpod.sleep(0.05) end
        local closed = children()
        local stats = client:get_container_stats(%q, { stream = true })
        return { first = first and first.text, open = open, closed = closed, sampled = stats() ~= nil }
      ]], PGREP, name, ticker, ticker)
      assert.are.equal("tick", out.first)
      assert.matches("^%d+\n%d+$", out.open) -- the events and the logs children
      assert.are.equal("", out.closed)
      assert.is_true(out.sampled)
      -- the child exited with its stats stream open: its CLI went with it
      assert.is_true(engine.wait_for(function() return #fallback.processes("stats .*" .. ticker) == 0 end, 5),
        "a CLI child outlived moonpod")
    end)
  end)
end
