-- moonpod top across both engines at once (moonpod.multi).

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local tmux = require "helpers.tmux"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

-- The CPU%, the CPU sparkline's glyphs and its first cell of `name` shown
-- on `on`, or nil (a running row with a sample; the sparklines are 30 cells
-- wide).
local function cpu_of(screen, name, on)
  for line in (screen .. "\n"):gmatch("([^\n]*)\n") do
    local cpu, at = line:match("^" .. name:gsub("%p", "%%%0") .. "%s+" .. on .. "%s+running%s+([%d.]+)%s+"
      .. "[%d.]+ %a+%s+[%d.]+%s+[%d.]+ %a+/[%d.]+ %a+%s+[%d.]+ %a+/[%d.]+ %a+%s+%d+ ()")
    if cpu then
      local glyphs, cells, first = {}, 0, nil
      for _, code in utf8.codes(line:sub(at)) do
        cells = cells + 1
        if cells > 30 then break end
        first = first or utf8.char(code)
        if code ~= 32 then glyphs[#glyphs + 1] = utf8.char(code) end
      end
      return tonumber(cpu), glyphs, first
    end
  end
end

describe("moonpod top on several engines", function()
  local on_podman = engine.unique("top-p")
  local on_docker = engine.unique("top-d")

  setup(function()
    engine.container { name = on_podman, engine = "podman", cmd = "yes > /dev/null" }
    engine.container { name = on_docker, engine = "docker", cmd = "yes > /dev/null" }
  end)

  teardown(function()
    engine.remove_on("podman", on_podman)
    engine.remove_on("docker", on_docker)
  end)

  it("shows the containers of both, with their engine, and sparklines from each engine's monitor", function()
    local s = tmux.start({ BIN, "top", "--interval", "0.3",
      "podman=unix://" .. engine.socket("podman"), "docker=unix://" .. engine.socket("docker") },
      { cols = 200, rows = 150, env = { HOME = os.getenv("MOONPOD_TEST_TMP") or "/tmp" } })
    -- other tests share the machine's CPUs: the burners may get little of
    -- them for a while, so the view is watched until they have had their share
    local function burning(sc, name, on)
      local cpu, glyphs = cpu_of(sc, name, on)
      if not cpu or #glyphs < 3 or cpu < 10 then return false end
      for _, g in ipairs(glyphs) do
        if g ~= "▁" then return true end
      end
      return false
    end
    local ok, screen = s:wait(function(sc)
      return burning(sc, on_podman, "podman") and burning(sc, on_docker, "docker")
    end, 40)
    s:keys("q")
    local status = s:wait_exit(30)
    local after = s:screen()
    s:kill()
    assert.is_true(ok and true or false, screen)
    assert.matches("^moonpod top — several engines", screen)
    -- both burn CPU, and their history shows it: a time line that fills
    -- from the right (the newest cell last), so it starts blank while
    -- there are fewer seconds of history than cells
    for _, c in ipairs { { on_podman, "podman" }, { on_docker, "docker" } } do
      local cpu, glyphs, first = cpu_of(screen, c[1], c[2])
      assert.are.equal(" ", first, screen)
      assert.is_true(cpu >= 10, screen)
      local raised = 0
      for _, g in ipairs(glyphs) do
        if g ~= "▁" then raised = raised + 1 end
      end
      assert.is_true(raised >= 1, screen)
    end
    assert.are.equal(0, status, after)
  end)
end)
