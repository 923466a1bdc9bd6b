-- The event listener against the fault-injecting fake engine: garbage in
-- the stream, a stream cut in the middle of an event, a stream that stalls,
-- and handlers slower than the engine.

local moonpod = require "moonpod"
local events = require "moonpod.events"
local fake = require "helpers.fake"
local engine = require "helpers.engine"

local function event(i, action)
  return moonpod.json.encode {
    Type = "container", Action = action or "start", status = action or "start",
    Actor = { ID = ("%064d"):format(i), Attributes = { name = "c" .. i, image = "img" } },
    time = 1700000000 + i, timeNano = (1700000000 + i) * 1000000000,
  }
end

local function events_file(from, to, tail)
  local parts = {}
  for i = from, to do parts[#parts + 1] = event(i) .. "\n" end
  parts[#parts + 1] = tail
  return fake.file("listener.json", table.concat(parts))
end

describe("listener", function()
  local runners, listeners = {}, {}

  local function listener_on(route, config)
    local sock, runner = fake.start { route }
    runners[#runners + 1] = runner
    config = config or {}
    config.client = moonpod.connect { socket_path = sock }
    config.reconnect_delay = config.reconnect_delay or 0.05
    local l = events.listener(config)
    listeners[#listeners + 1] = l
    return l
  end

  after_each(function()
    for _, l in ipairs(listeners) do l:stop() end
    for _, r in ipairs(runners) do r:cancel() end
    listeners, runners = {}, {}
  end)

  it("counts garbage between events and delivers the rest in order", function()
    local file = fake.file("garbage.json",
      event(1) .. "\nthis is not json\n" .. event(2) .. "\n{\"broken\": tru}\n" .. event(3) .. "\n")
    local l = listener_on("/v1.41/events=chunks:" .. file)
    local names = {}
    l:add_event_handler(function(ev) names[#names + 1] = ev.container_name end)
    l:start()
    assert.is_true(engine.wait_for(function() return #names == 3 end, 5))
    assert.are.same({ "c1", "c2", "c3" }, names)
    assert.is_true(l:get_stats().decode_errors >= 2)
  end)

  it("reconnects after a stream cut mid-event, delivers nothing twice, and gives up when told", function()
    -- the fake replays the whole file on every connection, as an engine
    -- replays from `since`
    local file = events_file(1, 5, '{"Type":"container","Action":"sta')
    local l = listener_on("/v1.41/events=chunks-close:" .. file, { max_reconnect_attempts = 3 })
    local names, errors = {}, {}
    l:add_event_handler(function(ev) names[#names + 1] = ev.container_name end)
    l:on_error(function(err, what) errors[#errors + 1] = { err = err, what = what } end)
    l:start()
    assert.is_true(engine.wait_for(function() return #errors == 1 end, 10))
    assert.are.same({ "c1", "c2", "c3", "c4", "c5" }, names)
    assert.are.equal("connection", errors[1].what)
    assert.matches("3 reconnection attempts failed", tostring(errors[1].err))
    local s = l:get_stats()
    assert.are.equal(3, s.reconnects)
    assert.is_false(s.connected)
    assert.are.equal(5, s.events_processed)
  end)

  it("waits on a stalled or silent stream without spinning, and stops at once", function()
    local file = events_file(1, 2, "")
    local quiet = listener_on("/v1.41/events=chunks:" .. file) -- two events, then nothing
    local stalled = listener_on("/v1.41/events=stall")         -- no answer at all
    local n = 0
    quiet:add_event_handler(function() n = n + 1 end)
    quiet:start()
    stalled:start()
    assert.is_true(engine.wait_for(function() return n == 2 end, 5))
    local cpu0 = os.clock()
    moonpod.sleep(1)
    assert.is_true(os.clock() - cpu0 < 0.5, "the loop spun while the streams were idle")
    local q, s = quiet:get_stats(), stalled:get_stats()
    assert.are.equal(0, q.reconnects)
    assert.are.equal(0, s.reconnects)
    assert.are.equal(0, s.events_received)
    quiet:stop()
    stalled:stop()
    assert.is_false(quiet:get_stats().connected)
  end)

  it("drops the oldest events when handlers fall behind, and counts them", function()
    local file = events_file(1, 300, "")
    local l = listener_on("/v1.41/events=chunks:" .. file, { event_buffer_size = 10 })
    local names = {}
    l:add_event_handler(function(ev)
      names[#names + 1] = ev.container_name
      moonpod.sleep(0.02)
    end)
    l:start()
    assert.is_true(engine.wait_for(function()
      local s = l:get_stats()
      return s.events_processed + s.events_dropped == 300
    end, 20))
    local s = l:get_stats()
    assert.are.equal("c300", names[#names])
    assert.are.equal(300, s.events_received)
    assert.is_true(s.events_dropped > 0)
    assert.are.equal(300, s.events_processed + s.events_dropped)
    assert.are.equal(#names, s.events_processed)
  end)

  it("holds the stream, losing nothing, while a handler stalls for less than the grace", function()
    local file = events_file(1, 300, "")
    local l = listener_on("/v1.41/events=chunks:" .. file, { event_buffer_size = 10 })
    local names = {}
    l:add_event_handler(function(ev)
      names[#names + 1] = ev.container_name
      if #names % 50 == 1 then moonpod.sleep(0.02) end -- a hiccup, well under 50 ms
    end)
    l:start()
    engine.wait_for(function() return #names == 300 end, 20)
    local s = l:get_stats()
    assert.are.equal(300, #names, moonpod.json.encode(s))
    assert.are.equal(0, s.events_dropped)
    assert.is_true(s.pauses > 0)
    for i = 1, 300 do assert.are.equal("c" .. i, names[i]) end
  end)

  it("after a handler fails, goes on with the next handler of the same event, and counts each failure", function()
    -- 40 events in one chunk: they reach the listener as a run, taken at once
    local file = events_file(1, 40, "")
    local l = listener_on("/v1.41/events=chunks:" .. file)
    local calls, errors = {}, {}
    l:add_event_handler(function(ev)
      calls[#calls + 1] = "a:" .. ev.container_name
      if ev.container_name:match("[05]$") then error("a fails on " .. ev.container_name) end
    end)
    l:add_event_handler(function(ev)
      calls[#calls + 1] = "b:" .. ev.container_name
      if ev.container_name == "c7" then error({ code = 7 }) end -- an error that is not a string
    end)
    l:on_error(function(err, what) errors[#errors + 1] = { err = err, what = what } end)
    l:start()
    assert.is_true(engine.wait_for(function() return l:get_stats().events_processed == 40 end, 5))
    local want = {}
    for i = 1, 40 do
      want[#want + 1] = "a:c" .. i
      want[#want + 1] = "b:c" .. i
    end
    assert.are.same(want, calls)
    local s = l:get_stats()
    assert.are.equal(9, s.handler_errors) -- a on c5, c10, ..., c40; b on c7
    assert.are.equal(9, #errors)
    assert.matches("a fails on c5", errors[1].err, 1, true)
    assert.matches("stack traceback", errors[1].err, 1, true)
    assert.are.equal(7, errors[2].err.code)
    assert.matches("a fails on c40", errors[9].err, 1, true)
    for _, e in ipairs(errors) do assert.are.equal("sync", e.what) end
    assert.are.equal(0, s.event_buffer_size)
  end)

  it("hands on no event once a handler has stopped the listener", function()
    local file = events_file(1, 40, "")
    local l = listener_on("/v1.41/events=chunks:" .. file)
    local names = {}
    l:add_event_handler(function(ev)
      names[#names + 1] = ev.container_name
      if ev.container_name == "c3" then l:stop() end
    end)
    l:start()
    assert.is_true(engine.wait_for(function() return #names >= 3 end, 5))
    moonpod.sleep(0.2) -- time for any event that should not come
    assert.are.same({ "c1", "c2", "c3" }, names)
    assert.are.equal(3, l:get_stats().events_processed)
  end)

  it("reads on into the buffer while a handler waits, past the share it reads ahead of the handlers", function()
    local file = events_file(1, 1000, "")
    local l = listener_on("/v1.41/events=chunks:" .. file, { event_buffer_size = 5000 })
    local n, release = 0, false
    l:add_event_handler(function()
      n = n + 1
      while not release do moonpod.sleep(0.01) end
    end)
    l:start()
    assert.is_true(engine.wait_for(function() return l:get_stats().events_received == 1000 end, 5),
      moonpod.json.encode(l:get_stats()))
    local s = l:get_stats()
    assert.are.equal(1, n)
    assert.are.equal(999, s.event_buffer_size) -- queued, or taken and waiting for the handler
    assert.are.equal(0, s.pauses)
    release = true
    assert.is_true(engine.wait_for(function() return l:get_stats().events_processed == 1000 end, 5))
    assert.are.equal(1000, n)
  end)

  it("refuses a config it does not know, and filters it cannot apply", function()
    assert.has_error(function() events.listener { event_type = { "start" } } end)
    local l = events.listener { container_filters = { colour = "red" } }
    assert.has_error(function() l:start() end)
  end)
end)
