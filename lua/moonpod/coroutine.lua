-- User coroutines inside a task.
--
-- When moonpod waits (an engine call, a sleep, a stream), it yields the whole
-- task with a sentinel value. If the wait happens inside a coroutine the
-- script created itself, that yield lands in the script's coroutine.resume
-- instead of the scheduler. These wrappers pass such yields up to the task
-- and, when the task is resumed, resume the inner coroutine where it
-- stopped, so that waiting works at any depth of user coroutines.
--
-- Loaded once per Lua state by the scheduler (src/task.c) with the standard
-- coroutine table and the sentinel.

local co_lib, WAIT = ...

local resume, yield, status, create = co_lib.resume, co_lib.yield, co_lib.status, co_lib.create
local pack, unpack = table.pack, table.unpack

local function pass_up(co, ok, first, ...)
  if ok and first == WAIT and status(co) == "suspended" then
    return pass_up(co, resume(co, yield(WAIT)))
  end
  return ok, first, ...
end

local function wrapped_resume(co, ...)
  return pass_up(co, resume(co, ...))
end

local function wrapped_wrap(f)
  local co = create(f)
  return function(...)
    local r = pack(wrapped_resume(co, ...))
    if r[1] then
      return unpack(r, 2, r.n)
    end
    -- like the standard wrap: close the coroutine, and a string error
    -- gains the caller's position
    local err = r[2]
    if status(co) == "dead" then co_lib.close(co) end
    error(err, type(err) == "string" and 2 or 0)
  end
end

co_lib.resume = wrapped_resume
co_lib.wrap = wrapped_wrap
