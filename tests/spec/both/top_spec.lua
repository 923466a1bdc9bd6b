-- moonpod top across both engines at once (moonpod.multi).

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local tmux = require "helpers.tmux"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"

describe("moonpod top on several engines", function()
  local on_podman = engine.unique("top-p")
  local on_docker = engine.unique("top-d")

  setup(function()
    engine.container { name = on_podman, engine = "podman" }
    engine.container { name = on_docker, engine = "docker" }
  end)

  teardown(function()
    engine.remove_on("podman", on_podman)
    engine.remove_on("docker", on_docker)
  end)

  it("shows the containers of both, with their engine", function()
    local s = tmux.start({ BIN, "top", "--interval", "0.3",
      "podman=unix://" .. engine.socket("podman"), "docker=unix://" .. engine.socket("docker") },
      { cols = 160, rows = 40, env = { HOME = os.getenv("MOONPOD_TEST_TMP") or "/tmp" } })
    local ok, screen = s:wait(function(sc)
      return sc:match(on_podman:gsub("%p", "%%%0") .. "%s+podman%s+running")
        and sc:match(on_docker:gsub("%p", "%%%0") .. "%s+docker%s+running")
    end, 30)
    s:keys("q")
    local status = s:wait_exit(30)
    local after = s:screen()
    s:kill()
    assert.is_true(ok and true or false, screen)
    assert.matches("^moonpod top — several engines", screen)
    assert.are.equal(0, status, after)
  end)
end)
