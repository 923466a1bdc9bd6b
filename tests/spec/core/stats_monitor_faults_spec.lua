-- The stats monitor against the fault-injecting fake engine (Docker-shaped):
-- garbage between samples, a sample cut by a dropped connection, a stream
-- that ends and is reopened. Counted, survived, and the good samples kept.

local moonpod = require "moonpod"
local fake = require "helpers.fake"
local stats = require "moonpod.stats"

local ID = ("ab"):rep(32)

local function sample(i)
  return moonpod.json.encode {
    read = ("2026-11-28T15:40:%02dZ"):format(20 + i), id = ID, name = "/fake-1",
    cpu_stats = { cpu_usage = { total_usage = (i + 1) * 1e9 }, system_cpu_usage = (i + 1) * 2e9, online_cpus = 2 },
    precpu_stats = { cpu_usage = { total_usage = i * 1e9 }, system_cpu_usage = i * 2e9 },
    memory_stats = { usage = 1000 * i, limit = 1e6, stats = { inactive_file = 100 } },
    networks = { eth0 = { rx_bytes = 5, tx_bytes = 7 }, eth1 = { rx_bytes = 1, tx_bytes = 1 } },
    blkio_stats = { io_service_bytes_recursive = { { op = "Read", value = 11 }, { op = "Write", value = 13 },
      { op = "write", value = 2 } } },
    pids_stats = { current = 3 },
  }
end

describe("stats monitor against a faulty engine", function()
  local runner, mon

  after_each(function()
    if mon then mon:close() end
    if runner then runner:cancel() end
  end)

  it("counts garbage and cut samples, keeps the good ones, reopens the stream", function()
    local body = sample(1) .. "\nthis is not json\n" .. sample(2) .. "\n{\"broken\": tru}\n" .. sample(3) .. "\n" ..
      sample(4) .. "\n" .. sample(5) .. "\n" .. sample(6):sub(1, 60)
    local inspect = moonpod.json.encode {
      Id = ID, Name = "/fake-1", Created = "2026-11-28T15:00:00Z",
      State = { Status = "running", StartedAt = "2026-11-28T15:00:01Z" },
      Config = { Image = "img:1", Labels = {} },
    }
    local sock
    sock, runner = fake.start {
      "/v1.41/containers/" .. ID .. "/stats=chunks-close:" .. fake.file("stats.json", body),
      "/v1.41/containers/" .. ID .. "/json=json:" .. inspect,
      "/v1.41/events=chunks:" .. fake.file("events.json", ""),
    }
    mon = stats.monitor { client = moonpod.connect { socket_path = sock }, interval = 1 }
    assert.are.equal(ID, mon:watch(ID))
    local deadline = moonpod.monotonic() + 10
    while mon:stats().reconnects < 2 and moonpod.monotonic() < deadline do moonpod.sleep(0.05) end
    local st = mon:stats()
    assert.is_true(st.reconnects >= 2, "the stream was reopened after it ended")
    assert.is_true(st.decode_errors >= 2, "garbage counted: " .. st.decode_errors)
    assert.is_true(st.stream_errors >= 1, "the cut connection counted")
    -- five good samples, once each: the replayed ones are older than what is kept
    local h = mon:history(ID, { since = 0 })
    assert.are.equal(5, #h)
    local l = mon:latest(ID)
    assert.are.equal(100, l.cpu_percent) -- Δcpu 1e9 / Δsystem 2e9 × 2 CPUs × 100
    assert.are.equal(4900, l.memory_usage_bytes)
    assert.are.same({ 6, 8, 11, 15, 3 }, { l.network_rx_bytes, l.network_tx_bytes, l.block_read_bytes,
      l.block_write_bytes, l.pids })
    assert.matches('container_cpu_usage_seconds_total{id="' .. ID .. '",name="fake%-1",image="img:1",runtime="docker"} 6\n',
      mon:metrics_text())
  end)

  it("keeps one sample per interval when the engine sends one a second", function()
    local body = {}
    for i = 1, 5 do body[#body + 1] = sample(i) end
    local inspect = moonpod.json.encode { Id = ID, Name = "/fake-1", State = { Status = "running" }, Config = {} }
    local sock
    sock, runner = fake.start {
      "/v1.41/containers/" .. ID .. "/stats=chunks:" .. fake.file("stats.json", table.concat(body, "\n") .. "\n"),
      "/v1.41/containers/" .. ID .. "/json=json:" .. inspect,
      "/v1.41/events=chunks:" .. fake.file("events.json", ""),
    }
    mon = stats.monitor { client = moonpod.connect { socket_path = sock }, interval = 2 }
    mon:watch(ID)
    local deadline = moonpod.monotonic() + 10
    while mon:stats().samples_received < 5 and moonpod.monotonic() < deadline do moonpod.sleep(0.05) end
    local h = mon:history(ID, { since = 0 })
    local times = {}
    for _, p in ipairs(h) do times[#times + 1] = p.timestamp % 60 end
    assert.are.same({ 20, 22, 24 }, times) -- samples at :21 :23 :25, in 2 s slots
  end)

  it("refuses bad configuration with a clear error", function()
    local sock
    sock, runner = fake.start {}
    local client = moonpod.connect { socket_path = sock }
    assert.has_error(function() stats.monitor { client = client, interval = 0 } end)
    assert.has_error(function() stats.monitor { client = client, intervall = 1 } end)
    assert.has_error(function() stats.monitor { client = client, history = { retention = 1e12 } } end)
    mon = stats.monitor { client = client }
    assert.has_error(function() mon.core:watch("not hex!") end)
  end)
end)
