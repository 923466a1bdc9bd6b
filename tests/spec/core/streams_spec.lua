-- Streams against the fault-injecting fake engine: any chunking, dropped
-- connections, garbage, stalls, large bodies, and closing that releases the
-- connection at once.

local moonpod = require "moonpod"
local fake = require "helpers.fake"

local function event(i, action)
  return moonpod.json.encode {
    Type = "container", Action = action or "start", status = action or "start",
    Actor = { ID = ("%064d"):format(i), Attributes = { name = "c" .. i, image = "img", app = "web" } },
    time = 1700000000 + i, timeNano = (1700000000 + i) * 1000000000,
  }
end

describe("streams", function()
  local runners = {}
  local function client_for(routes, cfg)
    local sock, runner = fake.start(routes)
    runners[#runners + 1] = runner
    cfg = cfg or {}
    cfg.socket_path = sock
    return moonpod.connect(cfg)
  end

  after_each(function()
    for _, r in ipairs(runners) do r:cancel() end
    runners = {}
  end)

  it("decode events whatever the chunking, CRLF or nothing between them", function()
    local parts = {}
    for i = 1, 200 do
      parts[#parts + 1] = event(i, i % 2 == 0 and "died" or "start")
      parts[#parts + 1] = ({ "\n", "\r\n", "", " \n\n" })[i % 4 + 1]
    end
    local file = fake.file("events.json", table.concat(parts))
    local client = client_for { "/v1.41/events=chunks-close:" .. file }
    local n, dies = 0, 0
    local ok = pcall(function()
      for e in client:get_events() do
        n = n + 1
        assert.are.equal("c" .. n, e.container_name)
        assert.are.equal("web", e.labels.app)
        if e.action == "die" then dies = dies + 1 end
      end
    end)
    assert.are.equal(200, n)
    assert.are.equal(100, dies) -- "died" is "die"
    assert.is_false(ok) -- the fake ends by dropping the connection: reported, after every event
  end)

  it("count garbage between events and go on", function()
    local file = fake.file("garbage.json", event(1) .. "\nthis is not json\n" .. event(2) .. "\n{\"broken\": tru}\n" .. event(3) .. "\n")
    local client = client_for { "/v1.41/events=chunks:" .. file }
    local events = client:get_events()
    local got = {}
    for _ = 1, 3 do got[#got + 1] = events().container_name end
    assert.are.same({ "c1", "c2", "c3" }, got)
    assert.is_true(events:stats().decode_errors >= 2)
    events:close()
  end)

  it("report a connection dropped in the middle of an event as a protocol error", function()
    local file = fake.file("cut.json", event(1) .. "\n" .. event(2):sub(1, 40))
    local sock, runner = fake.start { "/v1.41/events=chunks-close:" .. file }
    runners[#runners + 1] = runner
    local client = moonpod.connect { socket_path = sock }
    local events = client:get_events()
    assert.are.equal("c1", events().container_name)
    local ok, err = pcall(events)
    assert.is_false(ok)
    assert.is_true(moonpod.is_error(err))
    assert.are.equal("protocol", err.kind)
    assert.matches("cut in the middle of a JSON value", err.message)
    assert.matches(sock:gsub("%p", "%%%0"), err.message)
    assert.is_nil(events()) -- the error is raised once; then the stream is over
  end)

  it("report a log frame cut in the middle as a protocol error, and never hand out its part", function()
    local whole = fake.frame(1, "2026-11-28T15:40:24Z whole line\n")
    local cut = fake.frame(2, "2026-11-28T15:40:25Z half of a line that never ends\n"):sub(1, 30)
    local sock, runner = fake.start { "/v1.41/containers/x/logs=chunks-close:" .. fake.file("cut.bin", whole .. cut) }
    runners[#runners + 1] = runner
    local client = moonpod.connect { socket_path = sock }
    local lines = {}
    local ok, err = pcall(function()
      for l in client:get_container_logs("x", { stream = true }) do lines[#lines + 1] = l.stream .. ":" .. l.text end
    end)
    assert.is_false(ok)
    assert.are.equal("protocol", err.kind)
    assert.matches("cut in the middle of a log frame", err.message)
    assert.matches(sock:gsub("%p", "%%%0"), err.message)
    assert.are.same({ "stdout:whole line" }, lines)
    -- the list form says the same
    local lok, lerr = pcall(client.get_container_logs, client, "x")
    assert.is_false(lok)
    assert.are.equal("protocol", lerr.kind)
  end)

  it("report a connection closed between two values as a connection error", function()
    local client = client_for {
      "/v1.41/events=chunks-close:" .. fake.file("two.json", event(1) .. "\n" .. event(2) .. "\n"),
      "/v1.41/containers/x/logs=chunks-close:" .. fake.file("two.bin",
        fake.frame(1, "2026-11-28T15:40:24Z one\n") .. fake.frame(1, "2026-11-28T15:40:24Z two\n")),
    }
    local events = client:get_events()
    assert.are.equal("c1", events().container_name)
    assert.are.equal("c2", events().container_name)
    local ok, err = pcall(events)
    assert.is_false(ok)
    assert.are.equal("connection", err.kind)
    local lines = {}
    ok, err = pcall(function()
      for l in client:get_container_logs("x", { follow = true }) do lines[#lines + 1] = l.text end
    end)
    assert.is_false(ok)
    assert.are.equal("connection", err.kind)
    assert.are.same({ "one", "two" }, lines)
  end)

  it("are never cut by the request timeout", function()
    local file = fake.file("one.json", event(1) .. "\n")
    local client = client_for({ "/v1.41/events=chunks:" .. file }, { request_timeout = 0.2 })
    local events = client:get_events()
    assert.are.equal("c1", events().container_name)
    local waiter = moonpod.spawn(function() return events() end)
    moonpod.sleep(0.8)
    assert.are.equal("waiting", waiter:status()) -- still open, still waiting
    events:close()
    assert.is_nil(waiter:join())
  end)

  it("decode log frames split at any byte, stdout and stderr interleaved", function()
    local parts = {}
    for i = 1, 300 do
      local stream = i % 3 == 0 and 2 or 1
      parts[#parts + 1] = fake.frame(stream, ("2026-11-28T15:40:24.%09dZ line %d\n"):format(i, i))
    end
    parts[#parts + 1] = fake.frame(1, "2026-11-28T15:40:25Z partial ")
    parts[#parts + 1] = fake.frame(1, "line\n")
    local file = fake.file("logs.bin", table.concat(parts))
    local client = client_for { "/v1.41/containers/x/logs=chunks-close:" .. file }
    local ok, lines = pcall(client.get_container_logs, client, "x")
    if not ok then
      -- the fake drops the connection at the end: the list is lost, so read it as a stream
      lines = {}
      pcall(function()
        for l in client:get_container_logs("x", { stream = true }) do lines[#lines + 1] = l end
      end)
    end
    assert.are.equal(301, #lines)
    for i = 1, 300 do
      assert.are.equal("line " .. i, lines[i].text)
      assert.are.equal(i % 3 == 0 and "stderr" or "stdout", lines[i].stream)
    end
    assert.are.equal("partial line", lines[301].text)
  end)

  it("read a 50 MB log with memory that stays flat", function()
    local chunk = {}
    for i = 1, 1000 do chunk[i] = fake.frame(1, ("2026-11-28T15:40:24Z %s\n"):format(("x"):rep(40))) end
    local block = table.concat(chunk)
    local f = assert(io.open(fake.TMP .. "/fake-big.bin", "wb"))
    for _ = 1, math.ceil(50e6 / #block) do f:write(block) end
    f:close()
    local client = client_for { "/v1.41/containers/big/logs=chunks-close:" .. fake.TMP .. "/fake-big.bin" }
    local n, peak = 0, 0
    pcall(function()
      for _ in client:get_container_logs("big", { stream = true }) do
        n = n + 1
        if n % 20000 == 0 then
          collectgarbage()
          peak = math.max(peak, collectgarbage("count"))
        end
      end
    end)
    os.remove(fake.TMP .. "/fake-big.bin")
    assert.is_true(n >= 50e6 / 70, "lines read: " .. n)
    assert.is_true(peak < 20 * 1024, ("Lua heap peaked at %.0f KB"):format(peak))
  end)

  it("opening and abandoning 500 streams leaves the open fds where they were", function()
    local file = fake.file("slow.json", event(1) .. "\n")
    local client = client_for { "/v1.41/events=chunks:" .. file, "/v1.41/containers/x/logs=stall" }
    local function one_round(i)
      if i % 3 == 0 then
        for _ in client:get_events() do break end -- break closes it
      elseif i % 3 == 1 then
        local s = client:get_events()
        s() -- one item, then dropped on the floor: collected below
      else
        local s <close> = client:get_container_logs("x", { follow = true })
      end
    end
    -- warm up: the first of each kind, and the child process that counts fds
    for i = 1, 3 do one_round(i) end
    client:ping()
    collectgarbage()
    fake.open_fds()
    local before, before_list = fake.open_fds()
    for i = 1, 500 do one_round(i) end
    collectgarbage()
    collectgarbage()
    moonpod.sleep(0.1)
    -- not one more (curl may also have let the idle pooled connection go)
    local after, after_list = fake.open_fds()
    assert.is_true(after <= before, ("open fds went from %d to %d:\n%s\nthen:\n%s"):format(before, after,
      before_list, after_list))
  end)

  it("a reader that falls behind loses the oldest events, and is told", function()
    local parts = {}
    for i = 1, 50 do parts[#parts + 1] = event(i) .. "\n" end
    local client = client_for { "/v1.41/events=chunks:" .. fake.file("many.json", table.concat(parts)) }
    local events = client:get_events { buffer_size = 10 }
    moonpod.sleep(0.5) -- all 50 arrive while nobody reads
    local first = events()
    local s = events:stats()
    assert.are.equal(40, s.dropped)
    assert.are.equal("c41", first.container_name)
    events:close()
  end)

  it("a stats stream pauses the transfer instead of piling up samples", function()
    local sample = moonpod.json.encode {
      read = "2026-11-28T15:40:24Z", id = "abc",
      cpu_stats = { cpu_usage = { total_usage = 2e9 }, system_cpu_usage = 4e9, online_cpus = 2 },
      precpu_stats = { cpu_usage = { total_usage = 1e9 }, system_cpu_usage = 2e9 },
      memory_stats = { usage = 1000, limit = 4000, stats = { inactive_file = 200 } },
      networks = { eth0 = { rx_bytes = 5, tx_bytes = 7 } },
      blkio_stats = { io_service_bytes_recursive = { { op = "Read", value = 11 }, { op = "Write", value = 13 } } },
      pids_stats = { current = 3 },
    }
    local parts = {}
    for _ = 1, 2000 do parts[#parts + 1] = sample .. "\n" end
    local client = client_for { "/v1.41/containers/abc/stats=chunks:" .. fake.file("stats.json", table.concat(parts)) }
    local stats = client:get_container_stats("abc", { stream = true })
    moonpod.sleep(0.3)
    local s = stats:stats()
    assert.is_true(s.paused)
    assert.is_true(s.queued <= 20)
    local first = stats()
    assert.are.equal(100, first.cpu_percent) -- Δcpu 1e9 / Δsystem 2e9 × 2 CPUs × 100
    assert.are.equal(800, first.memory_usage_bytes)
    assert.are.equal(20, first.memory_percent)
    assert.are.same({ 5, 7, 11, 13, 3 }, { first.network_rx_bytes, first.network_tx_bytes,
      first.block_read_bytes, first.block_write_bytes, first.pids })
    local n = 1
    for _ in stats do
      n = n + 1
      if n == 2000 then break end
    end
    assert.are.equal(2000, n)
  end)
end)
