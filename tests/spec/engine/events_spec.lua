-- The event listener and the registry against a real engine: every action
-- a container goes through, health changes, filters, and a registry that
-- follows a burst of operations. Once per engine.

local moonpod = require "moonpod"
local events = require "moonpod.events"
local registry_mod = require "moonpod.registry"
local engine = require "helpers.engine"

local LOOP = "trap 'exit 0' TERM; while true; do sleep 0.2; done"

describe("events on " .. engine.name, function()
  local client
  local made = {}
  local listeners = {}

  local function create(spec)
    spec.name = spec.name or engine.unique("ev")
    spec.image = spec.image or engine.image()
    spec.network = spec.network or "none"
    spec.cmd = spec.cmd or { "sh", "-c", LOOP }
    made[#made + 1] = spec.name
    return client:create_container(spec), spec.name
  end

  -- A started listener whose events (as "action" strings and as tables) are collected.
  local function listen(config, registry)
    config.client = config.client or client
    config.reconnect_delay = config.reconnect_delay or 0.2
    local l = events.listener(config, registry)
    local got = { list = {}, actions = {} }
    l:add_event_handler(function(ev)
      got.list[#got.list + 1] = ev
      got.actions[#got.actions + 1] = ev.action
    end)
    l:start()
    listeners[#listeners + 1] = l
    return l, got
  end

  local function has(list, value)
    for _, v in ipairs(list) do if v == value then return true end end
    return false
  end

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  after_each(function()
    for _, l in ipairs(listeners) do l:stop() end
    listeners = {}
  end)

  teardown(function()
    if #made > 0 then engine.remove(table.unpack(made)) end
  end)

  it("delivers every step of a container's life in the same words on both engines", function()
    local prefix = engine.unique("life")
    local l, got = listen { container_filters = { name = prefix } }
    local id = create { name = prefix }
    client:start_container(id)
    client:pause_container(id)
    client:unpause_container(id)
    client:kill_container(id, { signal = "KILL" })
    client:start_container(id)
    client:stop_container(id, { timeout = 1 })
    client:remove_container(id)
    assert.is_true(engine.wait_for(function() return has(got.actions, "remove") end, 10),
      "saw only: " .. table.concat(got.actions, " "))
    -- Podman 4.3 logs "stop" only when a container outlives its stop
    -- timeout; one that exits on SIGTERM shows as "died" alone.
    local expected = { "create", "start", "pause", "unpause", "kill", "die", "remove" }
    if engine.name == "docker" then expected[#expected + 1] = "stop" end
    for _, action in ipairs(expected) do
      assert.is_true(has(got.actions, action), action .. " missing from: " .. table.concat(got.actions, " "))
    end
    local codes = {}
    for _, ev in ipairs(got.list) do
      assert.are.equal(id, ev.container_id)
      assert.are.equal(prefix, ev.container_name)
      assert.are.equal(engine.name, ev.runtime)
      assert.is_number(ev.timestamp)
      if ev.action == "die" then codes[#codes + 1] = ev.exit_code end
    end
    assert.are.equal(137, codes[1]) -- the KILL
    assert.are.equal(2, #codes)
    assert.are.equal(events.CONTAINER_DIE, "die")
    assert.are.equal(events.CONTAINER_REMOVE, "remove")
    assert.are.equal(events.CONTAINER_HEALTH_STATUS, "health_status")
    local s = l:get_stats()
    assert.are.equal(#got.list, s.events_processed)
    assert.are.equal(0, s.events_dropped)
    assert.is_true(s.connected)
  end)

  it("reports health changes once each, with the state as a field", function()
    local name = engine.unique("health")
    local _, got = listen { container_filters = { name = name }, event_types = { events.CONTAINER_HEALTH_STATUS } }
    local id = create {
      name = name,
      healthcheck = { test = "test ! -f /tmp/bad", interval = 0.5, timeout = 2, retries = 1 },
    }
    client:start_container(id)
    -- Docker checks on its own; Podman without systemd checks when asked.
    local function check(times)
      if engine.name ~= "podman" then return end
      for _ = 1, times do
        local argv = engine.cli_argv()
        for _, a in ipairs { "healthcheck", "run", name } do argv[#argv + 1] = a end
        moonpod.run(argv, { timeout = 30, env = { CONTAINER_HOST = false } }) -- exits 1 once unhealthy
      end
    end
    check(3)
    assert.is_true(engine.wait_for(function() return #got.list >= 1 end, 10))
    if engine.name ~= "podman" then moonpod.sleep(1.5) end -- several more healthy checks
    engine.cli("exec", name, "sh", "-c", ": > /tmp/bad")
    check(3)
    assert.is_true(engine.wait_for(function() return #got.list >= 2 end, 10))
    moonpod.sleep(1) -- time for repeats to show, if they were let through
    local states = {}
    for _, ev in ipairs(got.list) do
      assert.are.equal("health_status", ev.action)
      states[#states + 1] = ev.health
    end
    assert.are.same({ "healthy", "unhealthy" }, states)
  end)

  it("filters by action, label, name prefix and id before any handler runs", function()
    local tag = engine.unique("filt")
    local keep_id = create { name = tag .. "-keep", labels = { team = tag } }
    local other_id = create { name = tag .. "-other", labels = { team = "nobody" } }
    local by_label, got_label = listen { container_filters = { ["label.team"] = tag }, event_types = { "start", "die" } }
    local _, got_name = listen { container_filters = { name = tag .. "-oth" } }
    local _, got_id = listen { container_filters = { id = { other_id:sub(1, 12) } } }
    for _, id in ipairs { keep_id, other_id } do
      client:start_container(id)
      client:kill_container(id, { signal = "KILL" })
    end
    client:start_container(keep_id)
    assert.is_true(engine.wait_for(function() return #got_label.list >= 3 end, 10))
    assert.is_true(engine.wait_for(function() return has(got_id.actions, "die") end, 10))
    moonpod.sleep(0.5)
    assert.are.same({ "start", "die", "start" }, got_label.actions)
    for _, ev in ipairs(got_label.list) do assert.are.equal(keep_id, ev.container_id) end
    for _, got in ipairs { got_name, got_id } do
      assert.is_true(#got.list >= 3)
      for _, ev in ipairs(got.list) do assert.are.equal(other_id, ev.container_id) end
    end
    assert.is_true(by_label:get_stats().events_filtered > 0)
  end)

  it("hands events to async and batch handlers too", function()
    local tag = engine.unique("batch")
    local l = events.listener { client = client, container_filters = { name = tag },
                                event_types = { "create" }, event_batch_size = 3, event_batch_timeout = 0.3 }
    local batches, async_seen = {}, 0
    l:add_batch_handler(function(batch) batches[#batches + 1] = #batch end)
    l:add_async_event_handler(function() moonpod.sleep(0.05); async_seen = async_seen + 1 end)
    l:start()
    listeners[#listeners + 1] = l
    for i = 1, 4 do create { name = tag .. "-" .. i } end
    assert.is_true(engine.wait_for(function() return async_seen == 4 and #batches == 2 end, 10))
    assert.are.same({ 3, 1 }, batches) -- a full batch, then one cut by the timeout
  end)

  it("keeps a registry that matches list_containers after a burst of over 200 operations", function()
    local tag = engine.unique("burst")
    local registry = registry_mod.new()
    listen({ discover_existing_containers = true }, registry)
    local ids = {}
    local ops = 0
    -- an engine under load refuses the odd operation ("unable to freeze"):
    -- the registry must follow whatever did happen
    local function op(fn, ...)
      if pcall(fn, client, ...) then ops = ops + 1 end
    end
    -- five workers, eight containers each: create, start, pause, unpause,
    -- stop, start, kill, remove in varying mixes (260 operations in all)
    local workers = {}
    for w = 1, 5 do
      workers[w] = moonpod.spawn(function()
        for i = 1, 8 do
          local id = create { name = ("%s-%d-%d"):format(tag, w, i), labels = { burst = tag } }
          ops = ops + 1
          ids[#ids + 1] = id
          op(client.start_container, id)
          op(client.pause_container, id)
          op(client.unpause_container, id)
          op(client.kill_container, id, { signal = "KILL" })
          if i % 2 == 0 then
            op(client.start_container, id)
            op(client.stop_container, id, { timeout = 0 })
          else
            op(client.remove_container, id, { force = true })
          end
        end
      end)
    end
    for _, t in ipairs(workers) do t:join() end
    assert.is_true(ops >= 200, ops .. " operations went through")
    local function snapshot(list)
      local out = {}
      for _, c in ipairs(list) do out[#out + 1] = ("%s %s %s"):format(c.id, c.name, c.status) end
      table.sort(out)
      return table.concat(out, "\n")
    end
    local want = snapshot(client:list_containers { all = true, filters = { label = "burst=" .. tag } })
    engine.wait_for(function() return snapshot(registry:list { label = "burst=" .. tag }) == want end, 15)
    assert.are.equal(want, snapshot(registry:list { label = "burst=" .. tag }))
    assert.are.equal(20, #registry:list { label = "burst=" .. tag })
  end)
end)
