-- The client's wait conditions beyond "not-running" and the logs `since`
-- filter with a time in the past, against a real engine. Once per engine.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

describe("more of the client on " .. engine.name, function()
  local client
  local made = {}

  local create = engine.creator(function() return client end, "more", made)

  local function finished(task)
    local s = task:status()
    return s == "done" or s == "failed" or s == "cancelled"
  end

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  teardown(function()
    if #made > 0 then engine.remove(table.unpack(made)) end
    client:close()
  end)

  describe("wait_container", function()
    it("with next-exit waits for the next run's exit, not for the container's state now", function()
      local id = create { cmd = "exit 5" }
      -- "not-running" answers at once for a container that has never run
      -- (Docker says 0, Podman -1: there is no exit code yet)
      assert.is_number(client:wait_container(id, { condition = "not-running", timeout = 20 }))
      local waiter = moonpod.spawn(client.wait_container, client, id, { condition = "next-exit", timeout = 30 })
      moonpod.sleep(0.5)
      assert.is_false(finished(waiter), "next-exit returned before the container ran")
      -- a wait that reached the engine after the exit waits for the one after
      for _ = 1, 10 do
        client:start_container(id)
        if engine.wait_for(function() return finished(waiter) end, 2) then break end
      end
      assert.are.equal(5, waiter:join())
    end)

    it("with removed waits past the exit until the container is gone", function()
      local id, name = create { cmd = "trap 'exit 3' TERM; while true; do sleep 0.1; done" }
      client:start_container(id)
      local waiter = moonpod.spawn(client.wait_container, client, id, { condition = "removed", timeout = 30 })
      client:kill_container(id, { signal = "SIGTERM" })
      assert.are.equal(3, client:wait_container(id, { timeout = 20 }))
      assert.are.equal("exited", engine.state(name))
      moonpod.sleep(0.3)
      assert.is_false(finished(waiter), "removed returned when the container only exited")
      client:remove_container(id)
      local code = waiter:join()
      -- Podman 4.3's compatible API has lost the exit code with the
      -- container by then, and says 0; Docker remembers it
      assert.are.equal(engine.name == "docker" and 3 or 0, code)
    end)

    it("refuses a condition the engines don't know", function()
      local id = create { cmd = "exit 0" }
      assert.has_error(function() client:wait_container(id, { condition = "stopped" }) end)
    end)
  end)

  describe("logs since", function()
    it("keeps the lines written after the time given, and only those", function()
      local id = create { cmd = "echo early-1; echo early-2; sleep 2.5; echo late-1; echo late-2 >&2" }
      client:start_container(id)
      assert.are.equal(0, client:wait_container(id, { timeout = 30 }))
      local all = client:get_container_logs(id)
      assert.are.equal(4, #all)
      local texts = {}
      for _, l in ipairs(all) do texts[#texts + 1] = l.text end
      -- stdout and stderr are two pipes: their lines may come in either order
      table.sort(texts)
      assert.are.same({ "early-1", "early-2", "late-1", "late-2" }, texts)
      local last_early, first_late = -math.huge, math.huge
      for _, l in ipairs(all) do
        if l.text:find("^early") then last_early = math.max(last_early, l.timestamp)
        else first_late = math.min(first_late, l.timestamp) end
      end
      -- Podman 4.3's API gives whole seconds (its log file has nanoseconds):
      -- the early lines were written before last_early + 1, the late ones
      -- 2.5 s after the early ones
      assert.is_true(first_late - last_early >= 2, "the sleep is not between the lines")
      local cut = last_early + 1.5
      local since = client:get_container_logs(id, { since = cut })
      local late = {}
      for _, l in ipairs(since) do
        late[#late + 1] = l.stream .. ":" .. l.text
        assert.is_true(l.timestamp >= cut)
      end
      table.sort(late)
      assert.are.same({ "stderr:late-2", "stdout:late-1" }, late)
      -- a time before the container started keeps everything
      assert.are.equal(4, #client:get_container_logs(id, { since = last_early - 60 }))
      -- and combines with the other options
      local out_only = client:get_container_logs(id, { since = cut, stderr = false })
      assert.are.equal(1, #out_only)
      assert.are.equal("late-1", out_only[1].text)
    end)

    it("takes the engine's own syntax as a string", function()
      local id = create { cmd = "echo one; echo two" }
      client:start_container(id)
      client:wait_container(id, { timeout = 30 })
      -- Podman's API takes durations; Docker's only epoch seconds
      local long_ago = engine.name == "podman" and "10m" or tostring(os.time() - 600)
      assert.are.equal(2, #client:get_container_logs(id, { since = long_ago }))
      local later = engine.name == "podman" and "2099-01-01T00:00:00Z" or tostring(os.time() + 600)
      assert.are.equal(0, #client:get_container_logs(id, { since = later }))
    end)
  end)
end)
