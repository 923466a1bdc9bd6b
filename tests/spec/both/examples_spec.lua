-- scripts/examples/multi_runtime.lua against both private engines: each
-- engine's containers are listed with the engine they run on.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local BIN = os.getenv("MOONPOD_BIN") or "./moonpod"
local SCRIPT = "scripts/examples/multi_runtime.lua"

describe("scripts/examples/multi_runtime.lua", function()
  local on_podman = engine.unique("multi-p")
  local on_docker = engine.unique("multi-d")

  setup(function()
    local a = moonpod.spawn(engine.container, { name = on_podman, engine = "podman" })
    local b = moonpod.spawn(engine.container, { name = on_docker, engine = "docker", create_only = true })
    a:join()
    b:join()
  end)

  teardown(function()
    engine.remove_on("podman", on_podman)
    engine.remove_on("docker", on_docker)
  end)

  local function row(out, name)
    return out:match("\n  (%S+) +" .. name:gsub("%p", "%%%0") .. " +(%S+)\n")
  end

  it("lists the containers of both engines, each with its engine", function()
    local r = moonpod.run({ BIN, SCRIPT, "podman=" .. engine.socket("podman"), "docker=" .. engine.socket("docker") },
      { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^docker: docker at unix://" .. engine.socket("docker"):gsub("%p", "%%%0") .. "\n", r.stdout)
    assert.matches("\npodman: podman at unix://" .. engine.socket("podman"):gsub("%p", "%%%0") .. "\n", r.stdout)
    local rt, status = row(r.stdout, on_podman)
    assert.are.same({ "podman", "running" }, { rt, status }, r.stdout)
    rt, status = row(r.stdout, on_docker)
    assert.are.same({ "docker", "created" }, { rt, status }, r.stdout)
  end)

  it("still lists the engine that answers when another is down", function()
    local r = moonpod.run({ BIN, SCRIPT, "docker=" .. engine.socket("docker"), "gone=/nonexistent/moonpod.sock" },
      { timeout = 60 })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\ngone: down %(connection: ", r.stdout)
    assert.are.same({ "docker", "created" }, { row(r.stdout, on_docker) }, r.stdout)
    assert.is_nil(row(r.stdout, on_podman), r.stdout)
  end)

  it("exits 1 when no engine answers, and 2 on a bad argument", function()
    local r = moonpod.run({ BIN, SCRIPT, "gone=/nonexistent/moonpod.sock" }, { timeout = 60 })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.matches("^gone: down", r.stdout)
    r = moonpod.run({ BIN, SCRIPT, "no-equals-sign" }, { timeout = 60 })
    assert.are.equal(2, r.status)
    assert.matches("expected name=socket_path", r.stderr)
  end)
end)
