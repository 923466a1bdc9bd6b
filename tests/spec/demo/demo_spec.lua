-- `make demo` (scripts/dev/demo.sh) against the suite's Docker engine, as a
-- local engine a user would have: every ready-made policy acts on its
-- container in trouble, serve drains and exits 0, the demo's containers
-- are removed. Run once (release build) by scripts/dev/test.sh: it takes
-- half a minute.

local moonpod = require "moonpod"

describe("make demo", function()
  it("shows autoheal, restart-loop, resource-guard and janitor at work, then cleans up", function()
    local sock = assert(os.getenv("MOONPOD_TEST_DOCKER_SOCK"), "needs the suite's engines")
    local r = moonpod.run({ "scripts/dev/demo.sh" }, {
      timeout = 180,
      env = {
        CONTAINER_HOST = "unix://" .. sock, DOCKER_HOST = false,
        MOONPOD_DEMO_SECONDS = "32", MOONPOD_DEMO_IMAGE = os.getenv("MOONPOD_TEST_DOCKER_IMAGE"),
      },
    })
    local out = r.stdout .. r.stderr
    assert.are.equal(0, r.status, out)
    assert.matches("using the local engine", out)
    assert.matches("ready: 4 of 4 policies running", out)
    assert.matches("restart_loop demo%-crashloop", out)
    assert.matches("removed demo%-exited", out)
    assert.matches("resource_cpu demo%-cpu", out)
    assert.matches("restarted demo%-unhealthy", out)
    assert.matches("serve exited with status 0", out)
    -- the kept one survived the janitor; the crash-looper stays stopped
    assert.matches("demo%-kept: exited", r.stdout)
    assert.matches("demo%-crashloop: exited", r.stdout)
    assert.is_nil(r.stdout:find("demo%-exited:"))
    -- and nothing of the demo is left
    local client = moonpod.connect { socket_path = sock }
    assert.are.same({}, client:list_containers { all = true, filters = { label = { "moonpod.demo=true" } } })
  end)
end)
