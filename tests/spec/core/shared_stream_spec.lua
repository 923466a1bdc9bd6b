-- One event stream shared by many readers (what `moonpod serve` gives its
-- policies), against the fault-injecting fake engine: each subscriber has
-- its own filter and bounded buffer, and a reconnect or the end of the
-- stream reaches every one of them.

local moonpod = require "moonpod"
local core = require "moonpod.core"
local fake = require "helpers.fake"

local function event(i)
  local action = i % 2 == 1 and "start" or "die"
  return moonpod.json.encode {
    Type = "container", Action = action, status = action,
    Actor = { ID = ("%064d"):format(i), Attributes = { name = "c" .. i, image = "img" } },
    time = 1700000000 + i, timeNano = (1700000000 + i) * 1000000000,
  }
end

local function events_file(n, tail)
  local parts = {}
  for i = 1, n do parts[#parts + 1] = event(i) .. "\n" end
  parts[#parts + 1] = tail
  return fake.file("shared.json", table.concat(parts))
end

-- Reads a source until it has no event queued and the stream is quiet.
local function drain(src, want)
  local got = {}
  while #got < want do
    local kind, ev = src:next()
    if kind ~= "event" then break end
    got[#got + 1] = ev.container_name
  end
  return got
end

describe("a shared event stream", function()
  local runners, sources = {}, {}

  local function client_of(route)
    local sock, runner = fake.start { route }
    runners[#runners + 1] = runner
    return moonpod.connect { socket_path = sock }
  end

  local function source(c, cfg)
    local s = core.event_source(c, cfg)
    sources[#sources + 1] = s
    return s
  end

  after_each(function()
    for i = #sources, 1, -1 do sources[i]:stop() end
    for _, r in ipairs(runners) do r:cancel() end
    sources, runners = {}, {}
  end)

  it("gives each subscriber its own filter and its own bounded buffer", function()
    local c = client_of("/v1.41/events=chunks:" .. events_file(300, ""))
    local shared = source(c, { reconnect_delay = 0.05 })
    shared:share()
    local starts = source(c, { actions = { "start" } })
    local slow = source(c, { buffer_size = 10 })       -- read only at the end
    local own = source(c, { since = 1700000000 })       -- asks for the past: a stream of its own

    local names = drain(starts, 150)
    assert.are.equal(150, #names)
    for i, name in ipairs(names) do assert.are.equal("c" .. (2 * i - 1), name) end
    local s = starts:stats()
    assert.is_true(s.shared)
    assert.are.equal(300, s.received)
    assert.are.equal(150, s.filtered)
    assert.are.equal(0, s.dropped)

    -- the subscriber that did not read lost only its own oldest events
    local ss = slow:stats()
    assert.are.equal(290, ss.dropped)
    assert.are.equal(10, ss.buffered)
    assert.are.same({ "c291", "c292", "c293", "c294", "c295", "c296", "c297", "c298", "c299", "c300" },
      drain(slow, 10))

    assert.is_false(own:stats().shared)
    assert.are.equal(300, #drain(own, 300))
  end)

  it("tells every subscriber of a reconnect, delivers nothing twice, and ends them with the stream", function()
    -- the fake cuts the stream mid-event and replays the file on every connection
    local c = client_of("/v1.41/events=chunks-close:" .. events_file(5, '{"Type":"container","Action":"sta'))
    local shared = source(c, { reconnect_delay = 0.05, max_reconnect_attempts = 2 })
    shared:share()
    local a, b = source(c), source(c)
    for _, sub in ipairs { a, b } do
      local names, reconnects, failed = {}, 0, nil
      while true do
        local kind, v = sub:next()
        if kind == "event" then names[#names + 1] = v.container_name
        elseif kind == "reconnected" then reconnects = reconnects + 1
        elseif kind == "failed" then failed = v break
        else break end
      end
      assert.are.same({ "c1", "c2", "c3", "c4", "c5" }, names)
      assert.are.equal(2, reconnects)
      assert.matches("2 reconnection attempts failed", tostring(failed))
      assert.is_nil(sub:next())
    end
    assert.are.equal(2, a:stats().reconnects)

    -- closing the shared stream ends a subscriber still reading
    local c2 = client_of("/v1.41/events=stall")
    local shared2 = source(c2)
    shared2:share()
    local reader = source(c2)
    local t = moonpod.spawn(function() return reader:next() end)
    moonpod.sleep(0.05)
    shared2:stop()
    local kind, err = t:join()
    assert.are.equal("failed", kind)
    assert.matches("the shared event stream was closed", tostring(err))
  end)
end)
