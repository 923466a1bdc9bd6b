-- The same container on Podman and on Docker must look the same to a
-- script: one model, whichever engine and whichever call produced it.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

describe("the Container model across engines", function()
  local clients = {}
  local name = engine.unique("twin")

  setup(function()
    for _, e in ipairs { "podman", "docker" } do
      clients[e] = moonpod.connect { socket_path = engine.socket(e) }
      engine.container { engine = e, name = name, labels = { app = "twin", ["com.example/tier"] = "web" } }
    end
  end)

  teardown(function()
    for _, e in ipairs { "podman", "docker" } do engine.remove_on(e, name) end
  end)

  local function shape(c)
    local s = {}
    for k, v in pairs(c) do
      if k ~= "raw" then s[k] = type(v) end
    end
    return s
  end

  it("has the same fields, types and values on both engines", function()
    local seen = {}
    for e, client in pairs(clients) do
      local listed = client:list_containers { filters = { name = name } }
      assert.are.equal(1, #listed)
      seen[e] = { list = listed[1], inspect = client:get_container(name) }
    end
    local p, d = seen.podman, seen.docker
    for _, how in ipairs { "list", "inspect" } do
      assert.are.same(shape(p[how]), shape(d[how]))
      for _, field in ipairs { "name", "status", "labels", "ports" } do
        assert.are.same(p[how][field], d[how][field], how .. " " .. field)
      end
      -- Podman qualifies local images with "localhost/"; the rest is the same
      assert.are.equal(p[how].image:gsub("^localhost/", ""), d[how].image)
      assert.are.equal("podman", p[how].runtime)
      assert.are.equal("docker", d[how].runtime)
      assert.is_true(math.abs(p[how].created_at - d[how].created_at) < 120)
    end
    assert.are.same(shape(p.list), shape(p.inspect))
  end)

  it("reports the same status words after the same operations", function()
    for _, client in pairs(clients) do
      client:stop_container(name, { timeout = 1 })
    end
    assert.are.equal(clients.podman:get_container(name).status, clients.docker:get_container(name).status)
    assert.are.equal("exited", clients.docker:get_container(name).status)
    for _, client in pairs(clients) do client:start_container(name) end
    assert.are.equal("running", clients.podman:list_containers({ filters = { name = name } })[1].status)
    assert.are.equal("running", clients.docker:list_containers({ filters = { name = name } })[1].status)
  end)

  it("raises the same error kinds for the same mistakes", function()
    for e, client in pairs(clients) do
      local ok, err = pcall(client.get_container, client, "missing-" .. name)
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind, e)
      local ok2, err2 = pcall(client.remove_container, client, name)
      assert.is_false(ok2)
      assert.are.equal("conflict", err2.kind, e)
    end
  end)
end)
