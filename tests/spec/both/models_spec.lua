-- The same container on Podman and on Docker must look the same to a
-- script: one model, whichever engine and whichever call produced it.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

describe("the Container model across engines", function()
  local clients = {}
  local name = engine.unique("twin")
  local since = moonpod.now()

  setup(function()
    for _, e in ipairs { "podman", "docker" } do
      clients[e] = moonpod.connect { socket_path = engine.socket(e) }
      engine.container { engine = e, name = name, labels = { app = "twin", ["com.example/tier"] = "web" },
                         cmd = "echo hello; echo oops >&2; trap 'exit 0' TERM; while true; do sleep 0.2; done" }
    end
  end)

  teardown(function()
    for _, e in ipairs { "podman", "docker" } do engine.remove_on(e, name) end
  end)

  local function shape(c)
    local s = {}
    for k, v in pairs(c) do
      if k ~= "raw" then s[k] = type(v) end
    end
    return s
  end

  it("has the same fields, types and values on both engines", function()
    local seen = {}
    for e, client in pairs(clients) do
      local listed = client:list_containers { filters = { name = name } }
      assert.are.equal(1, #listed)
      seen[e] = { list = listed[1], inspect = client:get_container(name) }
    end
    local p, d = seen.podman, seen.docker
    for _, how in ipairs { "list", "inspect" } do
      assert.are.same(shape(p[how]), shape(d[how]))
      for _, field in ipairs { "name", "status", "labels", "ports" } do
        assert.are.same(p[how][field], d[how][field], how .. " " .. field)
      end
      -- Podman qualifies local images with "localhost/"; the rest is the same
      assert.are.equal(p[how].image:gsub("^localhost/", ""), d[how].image)
      assert.are.equal("podman", p[how].runtime)
      assert.are.equal("docker", d[how].runtime)
      assert.is_true(math.abs(p[how].created_at - d[how].created_at) < 120)
    end
    assert.are.same(shape(p.list), shape(p.inspect))
  end)

  -- The same model from both engines: same fields, same types.
  local function same_shape(what, p, d)
    assert.is_table(p, what .. " from podman")
    assert.is_table(d, what .. " from docker")
    assert.are.same(shape(p), shape(d), what)
    assert.is_table(p.raw, what .. " from podman has no raw")
    assert.is_table(d.raw, what .. " from docker has no raw")
  end

  it("gives ContainerStats the same fields and types on both engines, once and streamed", function()
    local once, streamed = {}, {}
    for e, client in pairs(clients) do
      once[e] = client:get_container_stats(name)
      for sample in client:get_container_stats(name, { stream = true }) do
        streamed[e] = sample
        break
      end
      assert.are.equal(client:get_container(name).id, once[e].container_id, e)
      assert.are.same(shape(once[e]), shape(streamed[e]), e .. ": once and streamed differ")
    end
    same_shape("ContainerStats", once.podman, once.docker)
    for _, field in ipairs { "timestamp", "cpu_percent", "memory_usage_bytes", "memory_limit_bytes",
                             "memory_percent", "network_rx_bytes", "network_tx_bytes", "block_read_bytes",
                             "block_write_bytes", "pids" } do
      assert.is_number(once.podman[field], field)
    end
    assert.is_string(once.podman.container_id)
  end)

  it("gives ContainerEvent the same fields and types on both engines", function()
    local started = {}
    for e, client in pairs(clients) do
      for ev in client:get_events { since = since - 1, ["until"] = moonpod.now(), filters = { container = name } } do
        if ev.action == "start" then started[e] = ev end
      end
    end
    same_shape("ContainerEvent", started.podman, started.docker)
    for _, field in ipairs { "type", "container_name", "action", "image" } do
      assert.is_string(started.podman[field], field)
    end
    assert.are.equal("container", started.podman.type)
    assert.are.equal(started.podman.container_name, started.docker.container_name)
    assert.are.same(started.podman.labels, started.docker.labels)
    assert.are.equal("twin", started.docker.labels.app)
    assert.is_number(started.podman.timestamp)
  end)

  it("gives LogLine the same fields, types and values on both engines, listed and followed", function()
    local listed, followed = {}, {}
    for e, client in pairs(clients) do
      local lines = client:get_container_logs(name)
      table.sort(lines, function(a, b) return a.stream > b.stream end) -- stdout first: two pipes, any order
      listed[e] = lines
      for line in client:get_container_logs(name, { follow = true, stderr = false }) do
        followed[e] = line
        break
      end
      assert.are.same(shape(lines[1]), shape(followed[e]), e .. ": listed and followed differ")
    end
    assert.are.equal(2, #listed.podman)
    assert.are.equal(2, #listed.docker)
    for i = 1, 2 do
      local p, d = listed.podman[i], listed.docker[i]
      assert.are.same(shape(p), shape(d))
      assert.are.same({ p.stream, p.text }, { d.stream, d.text })
    end
    assert.are.same({ "stdout", "hello" }, { listed.docker[1].stream, listed.docker[1].text })
    assert.are.same({ "stderr", "oops" }, { listed.docker[2].stream, listed.docker[2].text })
    assert.is_number(listed.podman[1].timestamp)
  end)

  it("reports the same status words after the same operations", function()
    for _, client in pairs(clients) do
      client:stop_container(name, { timeout = 1 })
    end
    assert.are.equal(clients.podman:get_container(name).status, clients.docker:get_container(name).status)
    assert.are.equal("exited", clients.docker:get_container(name).status)
    -- the exit's event has the same fields too (exit_code among them)
    local died = {}
    for e, client in pairs(clients) do
      for ev in client:get_events { since = since - 1, ["until"] = moonpod.now(),
                                    filters = { container = name, event = { "die" } } } do
        died[e] = ev
      end
    end
    same_shape("ContainerEvent (die)", died.podman, died.docker)
    assert.are.equal(0, died.podman.exit_code)
    assert.are.equal(0, died.docker.exit_code)
    for _, client in pairs(clients) do client:start_container(name) end
    assert.are.equal("running", clients.podman:list_containers({ filters = { name = name } })[1].status)
    assert.are.equal("running", clients.docker:list_containers({ filters = { name = name } })[1].status)
  end)

  it("raises the same error kinds for the same mistakes", function()
    for e, client in pairs(clients) do
      local ok, err = pcall(client.get_container, client, "missing-" .. name)
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind, e)
      local ok2, err2 = pcall(client.remove_container, client, name)
      assert.is_false(ok2)
      assert.are.equal("conflict", err2.kind, e)
    end
  end)
end)
