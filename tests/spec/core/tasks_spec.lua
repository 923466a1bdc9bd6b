-- The scheduler: tasks, waiting through pcall, iterators and user
-- coroutines, timers, cancellation. No engine needed.

local moonpod = require "moonpod"

describe("tasks", function()
  it("spawn runs concurrently and join returns the results", function()
    local order = {}
    local a = moonpod.spawn(function(x)
      moonpod.sleep(0.05)
      order[#order + 1] = "a"
      return x, x * 2
    end, 21)
    local b = moonpod.spawn(function()
      moonpod.sleep(0.01)
      order[#order + 1] = "b"
      return "b"
    end)
    assert.are.equal("ready", a:status())
    local x, y = a:join()
    assert.are.same({ 21, 42 }, { x, y })
    assert.are.equal("b", b:join())
    assert.are.same({ "b", "a" }, order)
    assert.are.equal("done", a:status())
    assert.are.same({ 21, 42 }, { a:join() }) -- joining twice gives the same results
  end)

  it("join raises the error of a failed task", function()
    local t = moonpod.spawn(function() error({ code = 7 }) end)
    local ok, err = pcall(t.join, t)
    assert.is_false(ok)
    assert.are.same({ code = 7 }, err)
    assert.are.equal("failed", t:status())
  end)

  it("a task cannot join itself", function()
    local t
    t = moonpod.spawn(function()
      moonpod.yield()
      return pcall(t.join, t)
    end)
    local ok, err = t:join()
    assert.is_false(ok)
    assert.matches("cannot join itself", err)
  end)

  it("cancel abandons the wait and closes to-be-closed variables", function()
    local closed = false
    local t = moonpod.spawn(function()
      local guard <close> = setmetatable({}, { __close = function() closed = true end })
      moonpod.sleep(60)
      error("not reached")
    end)
    moonpod.sleep(0.01)
    assert.are.equal("waiting", t:status())
    assert.is_true(t:cancel())
    assert.are.equal("cancelled", t:status())
    assert.is_true(closed)
    assert.is_false(t:cancel())
    local ok, err = pcall(t.join, t)
    assert.is_false(ok)
    assert.matches("was cancelled", err)
  end)

  it("a task may cancel itself", function()
    local after = false
    local t
    t = moonpod.spawn(function()
      t:cancel()
      after = true
    end)
    moonpod.sleep(0.01)
    assert.are.equal("cancelled", t:status())
    assert.is_false(after)
  end)

  it("cancelling a joiner leaves the joined task alone", function()
    local target = moonpod.spawn(function() moonpod.sleep(0.05) return "done" end)
    local joiner = moonpod.spawn(function() return target:join() end)
    moonpod.sleep(0.01)
    joiner:cancel()
    assert.are.equal("done", target:join())
  end)

  it("yield gives way to other ready tasks", function()
    local seen = {}
    local t = moonpod.spawn(function()
      for i = 1, 3 do seen[#seen + 1] = "t" .. i; moonpod.yield() end
    end)
    for i = 1, 3 do seen[#seen + 1] = "m" .. i; moonpod.yield() end
    t:join()
    assert.are.same({ "m1", "t1", "m2", "t2", "m3", "t3" }, seen)
  end)

  it("a task and a timer outlive the coroutine that made them", function()
    local weak = setmetatable({}, { __mode = "k" })
    local t, ticks = nil, 0
    local co = coroutine.create(function()
      weak[coroutine.running()] = true
      t = moonpod.spawn(function() moonpod.sleep(0.02) return "alive" end)
      moonpod.every(0.005, function(self) ticks = ticks + 1 if ticks == 2 then self:stop() end end)
    end)
    assert.is_true(coroutine.resume(co))
    co = nil
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak), "the coroutine was collected")
    assert.are.equal("alive", t:join())
    assert.are.equal(2, ticks)
  end)

  it("current_task names the running task", function()
    local me = moonpod.current_task()
    assert.matches("^main", tostring(me))
    local t = moonpod.spawn(function() return moonpod.current_task() end)
    assert.are.equal(t, t:join())
  end)
end)

describe("waiting", function()
  it("works through pcall and xpcall", function()
    local ok, v = pcall(function() moonpod.sleep(0.01) return "after" end)
    assert.are.same({ true, "after" }, { ok, v })
    local ok2, err = xpcall(function() moonpod.sleep(0.01) error("late") end, function(e) return "handled: " .. e end)
    assert.is_false(ok2)
    assert.matches("handled: .*late", err)
  end)

  it("works inside a generic for iterator", function()
    local function ticks(n)
      local i = 0
      return function()
        i = i + 1
        if i > n then return nil end
        moonpod.sleep(0.001)
        return i
      end
    end
    local sum = 0
    for i in ticks(5) do sum = sum + i end
    assert.are.equal(15, sum)
  end)

  it("works inside metamethods", function()
    -- Another task counts the waits that really gave way to the loop.
    local ticks, stop = 0, false
    local ticker = moonpod.spawn(function()
      while not stop do
        ticks = ticks + 1
        moonpod.yield()
      end
    end)
    local waits = 0
    local function wait()
      local before = ticks
      moonpod.sleep(0.002)
      assert(ticks > before, "the wait did not let the other task run")
      waits = waits + 1
    end
    local closed = {}
    local mt = {}
    mt.__index = function(_, k) wait() return "got " .. k end
    mt.__newindex = function(t, k, v) wait() rawset(t, k, v * 2) end
    mt.__add = function(a, b) wait() return a.n + b.n end
    mt.__lt = function(a, b) wait() return a.n < b.n end
    mt.__le = function(a, b) wait() return a.n <= b.n end
    mt.__eq = function(a, b) wait() return a.n == b.n end
    mt.__len = function() wait() return 42 end
    mt.__concat = function(a, b) wait() return tostring(a.n) .. tostring(b.n) end
    mt.__call = function(self, x) wait() return self.n + x end
    mt.__close = function(self) wait() closed[#closed + 1] = self.n end
    local function obj(n) return setmetatable({ n = n }, mt) end
    local a, b = obj(1), obj(2)

    assert.are.equal("got x", a.x)
    a.y = 5
    assert.are.equal(10, rawget(a, "y"))
    assert.are.equal(3, a + b)
    assert.is_true(a < b)
    assert.is_true(b <= b)
    assert.is_false(a == obj(3))
    assert.are.equal(42, #a)
    assert.are.equal("12", a .. b)
    assert.are.equal(11, b(9))
    do
      local c <close> = obj(7)
      local d <close> = obj(8)
    end
    assert.are.same({ 8, 7 }, closed)
    assert.are.equal(11, waits)
    stop = true
    ticker:join()
  end)

  it("works inside user coroutines, nested", function()
    local inner = coroutine.wrap(function(a)
      moonpod.sleep(0.005)
      local b = coroutine.yield(a + 1)
      moonpod.sleep(0.005)
      return b * 10
    end)
    assert.are.equal(2, inner(1))
    assert.are.equal(70, inner(7))

    local co = coroutine.create(function()
      local deeper = coroutine.wrap(function()
        moonpod.sleep(0.005)
        coroutine.yield("deep")
        return "end"
      end)
      local first = deeper()
      moonpod.sleep(0.005)
      coroutine.yield(first)
      return deeper()
    end)
    assert.are.same({ true, "deep" }, { coroutine.resume(co) })
    assert.are.same({ true, "end" }, { coroutine.resume(co) })
    assert.are.equal("dead", coroutine.status(co))
  end)

  it("user coroutines still report errors the standard way", function()
    local co = coroutine.create(function() moonpod.sleep(0.001) error("inside") end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.matches("inside", err)
    local w = coroutine.wrap(function() error("wrapped") end)
    assert.has_error(w)
  end)

  it("refuses to wait where Lua can't yield", function()
    local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
      moonpod.sleep(0)
      return a < b
    end)
    assert.is_false(ok)
    assert.matches("cannot wait here", err)
  end)
end)

describe("timers", function()
  it("sleep waits at least as long as asked", function()
    local t0 = moonpod.now()
    moonpod.sleep(0.05)
    assert.is_true(moonpod.now() - t0 >= 0.049)
  end)

  it("sleep rejects nonsense", function()
    assert.has_error(function() moonpod.sleep(-1) end)
    assert.has_error(function() moonpod.sleep("x") end)
    assert.has_error(function() moonpod.sleep(1 / 0) end)
  end)

  it("every ticks until stopped, each tick a task", function()
    local n = 0
    local timer = moonpod.every(0.01, function(self)
      n = n + 1
      if n == 3 then self:stop() end
    end)
    moonpod.sleep(0.1)
    assert.are.equal(3, n)
    assert.is_false(timer:active())
    assert.are.equal(3, timer:stats().ticks)
  end)

  it("every skips a tick while the previous run is still going", function()
    local runs = 0
    local timer = moonpod.every(0.01, function()
      runs = runs + 1
      moonpod.sleep(0.05)
    end)
    moonpod.sleep(0.12)
    timer:stop()
    moonpod.sleep(0.01) -- a tick spawned just before the stop gets to start
    local s = timer:stats()
    assert.is_true(s.skipped > 0)
    assert.are.equal(runs, s.ticks)
    assert.is_true(runs <= 3)
  end)

  it("now is wall-clock seconds", function()
    assert.is_true(math.abs(moonpod.now() - os.time()) < 2)
  end)
end)
