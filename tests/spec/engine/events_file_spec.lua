-- Podman's events file, followed next to the API stream (src/event_file.c,
-- src/event_source.c): events arrive once each, the same as the API sends
-- them, in order; a file of another Podman is never believed; Podman's
-- rotation of the file repeats nothing. Docker has no such file.

local moonpod = require "moonpod"
local events = require "moonpod.events"
local engine = require "helpers.engine"

local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"

-- A started listener collecting its events.
local function listen(config)
  local l = events.listener(config)
  local got = {}
  l:add_event_handler(function(ev) got[#got + 1] = ev end)
  l:start()
  return l, got
end

local function find(got, id, action)
  for _, ev in ipairs(got) do
    if ev.container_id == id and ev.action == action then return ev end
  end
end

-- The events of one container, as comparable strings, in order.
local function lines(got, id)
  local out = {}
  for _, ev in ipairs(got) do
    if ev.container_id == id then
      out[#out + 1] = table.concat({ ev.action, ev.container_name, tostring(ev.exit_code),
        tostring(ev.labels.suite), ("%.6f"):format(ev.timestamp), moonpod.json.encode(ev.raw) }, " ")
    end
  end
  return out
end

local function repeats(got)
  local count, twice = {}, {}
  for _, ev in ipairs(got) do
    local k = ev.container_id .. " " .. ev.action .. " " .. ("%.9f"):format(ev.timestamp)
    count[k] = (count[k] or 0) + 1
    if count[k] == 2 then twice[#twice + 1] = k end
  end
  return twice
end

-- A container that runs, exits 3 and is removed; returns its id.
local function life(client, name)
  local id = client:create_container { name = name, image = engine.image(), network = "none",
                                      cmd = { "sh", "-c", "exit 3" }, labels = { suite = "evfile" } }
  client:start_container(id)
  client:wait_container(id)
  client:remove_container(id)
  return id
end

if engine.name == "docker" then
  describe("events file on docker", function()
    it("is not followed: Docker has none", function()
      local client = moonpod.connect { socket_path = engine.socket() }
      local l, got = listen { client = client, discover_existing_containers = false, sync_on_startup = false }
      local id = life(client, engine.unique("evf"))
      assert.is_true(engine.wait_for(function() return find(got, id, "remove") end, 10))
      local s = l:get_stats()
      l:stop()
      assert.is_nil(s.events_file)
      assert.are.equal(0, s.events_first_from_file)
    end)
  end)
  return
end

describe("events file on podman", function()
  local client
  local real = os.getenv("MOONPOD_ENGINES_DIR") .. "/podman/tmp/events/events.log"

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  it("gives each event once, ahead of the API, as the API gives it", function()
    local quiet = { client = client, discover_existing_containers = false, sync_on_startup = false }
    local l, got = listen(quiet)
    local api_only = { events_file = false }
    for k, v in pairs(quiet) do api_only[k] = v end
    local la, api = listen(api_only)
    local ids = {}
    for i = 1, 3 do ids[i] = life(client, engine.unique("evf" .. i)) end
    assert.is_true(engine.wait_for(function()
      return find(got, ids[3], "remove") and find(api, ids[3], "remove")
    end, 15))
    moonpod.sleep(0.5) -- the API's copies of the last events: none may come through
    local s, sa = l:get_stats(), la:get_stats()
    l:stop()
    la:stop()
    assert.are.equal(real, s.events_file)
    assert.is_true(s.events_first_from_file > 0, "no event came first from the file")
    assert.is_nil(sa.events_file)
    assert.are.equal(0, sa.events_first_from_file)
    assert.are.same({}, repeats(got))
    for _, id in ipairs(ids) do
      assert.are.same(lines(api, id), lines(got, id))
      assert.are.equal(3, find(got, id, "die").exit_code)
    end
    -- the same events from the file as from the API (the first container's
    -- may have come before the file was trusted)
    assert.are.equal(#lines(api, ids[3]), #lines(got, ids[3]))
  end)

  it("never believes a file that is not this engine's", function()
    local path = TMP .. "/other-podman-events-" .. engine.unique("f") .. ".log"
    local f = assert(io.open(path, "w"))
    f:close()
    local l, got = listen { client = client, events_file = path,
                            discover_existing_containers = false, sync_on_startup = false }
    local fake = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    local function write_fake(status)
      local out = assert(io.open(path, "a"))
      out:write(('{"ID":"%s","Image":"x","Name":"not-here","Status":"%s","Time":"%s","Type":"container","Attributes":{}}\n')
        :format(fake, status, os.date("!%Y-%m-%dT%H:%M:%S.000000001Z")))
      out:write("garbage line\n")
      out:close()
    end
    write_fake("create")
    local id = life(client, engine.unique("evf-real"))
    write_fake("start")
    assert.is_true(engine.wait_for(function() return find(got, id, "remove") end, 15))
    moonpod.sleep(0.3)
    local s = l:get_stats()
    l:stop()
    os.remove(path)
    for _, ev in ipairs(got) do assert.are_not.equal(fake, ev.container_id) end
    assert.is_nil(s.events_file)
    assert.are.equal(0, s.events_first_from_file)
    assert.is_truthy(find(got, id, "die"))
  end)

  it("repeats nothing when Podman rotates the file", function()
    -- A relay file fed from Podman's own, faster than the API polls it,
    -- and then rotated the way Podman rotates: its newer half copied to a
    -- new file renamed over it.
    local relay = TMP .. "/relay-events-" .. engine.unique("r") .. ".log"
    local src = assert(io.open(real, "r"))
    src:seek("end")
    local out = assert(io.open(relay, "w"))
    out:close()
    local running = true
    local function copy_new()
      local data = src:read("a")
      if data and #data > 0 then
        local o = assert(io.open(relay, "a"))
        o:write(data)
        o:close()
      end
    end
    local copier = moonpod.spawn(function()
      while running do copy_new(); moonpod.sleep(0.005) end
    end)
    local l, got = listen { client = client, events_file = relay,
                            discover_existing_containers = false, sync_on_startup = false }
    local first = life(client, engine.unique("evf-before"))
    assert.is_true(engine.wait_for(function() return find(got, first, "remove") end, 15))
    assert.is_true(engine.wait_for(function() return l:get_stats().events_file == relay end, 5),
      "the relay was not trusted")
    -- rotate
    local whole = assert(io.open(relay, "r")):read("a")
    local half = whole:sub(#whole // 4) -- Podman keeps half; a bigger part repeats more
    half = half:sub((half:find("\n") or 0) + 1)
    local tmp = relay .. ".tmp"
    local t = assert(io.open(tmp, "w"))
    t:write(half)
    t:close()
    assert(os.rename(tmp, relay))
    local second = life(client, engine.unique("evf-after"))
    assert.is_true(engine.wait_for(function() return find(got, second, "remove") end, 15))
    moonpod.sleep(0.5)
    running = false
    copier:join()
    src:close()
    local s, raw = l:get_stats(), l.source:stats()
    l:stop()
    os.remove(relay)
    assert.are.same({}, repeats(got))
    assert.is_true(s.events_first_from_file > 0)
    -- the rotated file's first half was read again, and recognised
    assert.is_true(raw.file_late >= 3, "repeats recognised: " .. raw.file_late)
    local actions = {}
    for _, ev in ipairs(got) do
      if ev.container_id == second then actions[#actions + 1] = ev.action end
    end
    assert.are.same({ "create", "init", "start", "die", "cleanup", "remove" }, actions)
  end)
end)
