-- An engine that sends old events again on a live stream: Podman 4.3's
-- file logger does when it rotates its events log (it reads the log from
-- the top once more). Handlers must not act again on what happened long
-- ago; what is new still comes through.
--
-- Run before the fix, 39 events from long ago reached the reader again.

local moonpod = require "moonpod"
local core = require "moonpod.core"
local fake = require "helpers.fake"

local BASE = 1700000000 -- long before the clock: all of these are old news

local function event(i)
  return moonpod.json.encode {
    Type = "container", Action = "start", status = "start",
    Actor = { ID = ("%064d"):format(i), Attributes = { name = "c" .. i, image = "img" } },
    time = BASE + i, timeNano = (BASE + i) * 1000000000,
  }
end

describe("an event stream", function()
  local runner, src

  after_each(function()
    if src then src:stop() end
    if runner then runner:cancel() end
  end)

  it("skips events sent again long after they were delivered, and counts them", function()
    local parts = {}
    for i = 1, 50 do parts[#parts + 1] = event(i) end
    for i = 1, 50 do parts[#parts + 1] = event(i) end -- the log read again from the top
    for i = 51, 60 do parts[#parts + 1] = event(i) end
    local sock
    sock, runner = fake.start { "/v1.41/events=chunks:" .. fake.file("resend.json", table.concat(parts, "\n") .. "\n") }
    src = core.event_source(moonpod.connect { socket_path = sock }, {})
    local want = {}
    for i = 1, 50 do want[#want + 1] = "c" .. i end
    -- the 11 no more than 10 s older than the newest are not taken for re-sends on a
    -- stream that did not reconnect (engines do send events a little out
    -- of order); the 39 older than that are
    for i = 40, 60 do want[#want + 1] = "c" .. i end
    local names = {}
    while #names < #want do
      local kind, ev = src:next()
      if kind ~= "event" then break end
      names[#names + 1] = ev.container_name
    end
    assert.are.same(want, names)
    moonpod.sleep(0.1)
    local s = src:stats()
    assert.are.equal(110, s.received)
    assert.are.equal(39, s.replay_skipped)
    assert.are.equal(0, s.buffered)
  end)
end)
