-- The client against a real engine: connection, negotiation, containers.
-- Runs once per engine (MOONPOD_TEST_ENGINE), the same file for both.

local moonpod = require "moonpod"
local engine = require "helpers.engine"

describe("client on " .. engine.name, function()
  local client
  local made = {}

  local function container(opts)
    opts = opts or {}
    opts.name = opts.name or engine.unique()
    made[#made + 1] = opts.name
    return engine.container(opts), opts.name
  end

  setup(function()
    client = moonpod.connect { socket_path = engine.socket() }
  end)

  teardown(function()
    if #made > 0 then engine.remove(table.unpack(made)) end
  end)

  describe("connect", function()
    it("finds the engine through CONTAINER_HOST", function()
      local c = moonpod.connect()
      assert.are.equal(engine.name, c.runtime)
      assert.are.equal("unix", c.transport)
      assert.are.equal("unix://" .. engine.socket(), c.endpoint)
    end)

    it("negotiates the API version the engine reports", function()
      local v = client:get_version()
      if engine.name == "docker" then
        assert.are.equal(v.ApiVersion, client.api_version)
      else
        local podman
        for _, comp in ipairs(v.Components) do
          if comp.Name == "Podman Engine" then podman = comp end
        end
        assert.is_not_nil(podman)
        assert.are.equal(podman.Details.APIVersion, client.api_version)
      end
    end)

    it("uses the api_version asked for", function()
      local want = engine.name == "docker" and "1.40" or "4.0.0"
      local c = moonpod.connect { socket_path = engine.socket(), api_version = want }
      assert.are.equal(want, c.api_version)
      assert.is_table(c:list_containers())
    end)

    it("pings", function()
      assert.is_true(client:ping())
    end)

    it("reads system info", function()
      local info = client:get_system_info()
      assert.is_table(info)
      if engine.name == "docker" then
        assert.is_string(info.ServerVersion)
      else
        assert.is_table(info.host)
      end
    end)

    it("tells what it is connected to", function()
      assert.matches("^moonpod client: " .. engine.name, tostring(client))
      assert.is_string(client.server_version)
    end)
  end)

  describe("list_containers", function()
    it("lists running containers and, with all, stopped ones", function()
      local id_run = container { labels = { suite = "list" } }
      local id_stop = container { labels = { suite = "list" }, create_only = true }
      local function ids(list)
        local set = {}
        for _, c in ipairs(list) do set[c.id] = c end
        return set
      end
      local running = ids(client:list_containers())
      assert.is_not_nil(running[id_run])
      assert.is_nil(running[id_stop])
      local all = ids(client:list_containers { all = true })
      assert.is_not_nil(all[id_run])
      assert.is_not_nil(all[id_stop])
      assert.are.equal("created", all[id_stop].status)
    end)

    it("filters by label and by name", function()
      local tag = engine.unique("lbl")
      local id_a, name_a = container { labels = { app = tag } }
      container { labels = { app = tag .. "-other" } }
      local by_label = client:list_containers { all = true, filters = { label = { "app=" .. tag } } }
      assert.are.equal(1, #by_label)
      assert.are.equal(id_a, by_label[1].id)
      local by_name = client:list_containers { all = true, filters = { name = name_a } }
      assert.are.equal(1, #by_name)
      assert.are.equal(name_a, by_name[1].name)
    end)

    it("returns an empty list when nothing matches", function()
      local none = client:list_containers { all = true, filters = { label = "nothing=" .. engine.unique() } }
      assert.are.same({}, none)
    end)

    it("rejects malformed filters with an argument error", function()
      assert.has_error(function() client:list_containers { filters = { label = { {} } } } end)
      assert.has_error(function() client:list_containers { filters = "label=x" } end)
    end)
  end)

  describe("the Container model", function()
    it("has every field, from a list and from inspect alike", function()
      local id, name = container { labels = { app = "model", tier = "web" } }
      local listed = client:list_containers { filters = { name = name } }[1]
      local inspected = client:get_container(name)
      for _, c in ipairs { listed, inspected } do
        assert.are.equal(id, c.id)
        assert.are.equal(name, c.name)
        assert.matches("moonpod%-test:latest$", c.image)
        assert.are.equal("running", c.status)
        assert.is_number(c.created_at)
        assert.is_true(math.abs(c.created_at - moonpod.now()) < 300)
        assert.are.same({ app = "model", tier = "web" }, c.labels)
        assert.are.same({}, c.ports)
        assert.are.equal(engine.name, c.runtime)
        assert.is_table(c.raw)
      end
      assert.are.equal(listed.created_at, inspected.created_at)
      assert.are.equal(id, inspected.raw.Id)
    end)
  end)

  describe("lifecycle", function()
    it("stops, starts, restarts and removes, as the engine sees it", function()
      local id, name = container()
      assert.is_true(client:stop_container(id, { timeout = 2 }))
      assert.are.equal("exited", engine.state(name))
      assert.are.equal("exited", client:get_container(id).status)
      assert.is_true(client:stop_container(id, { timeout = 2 })) -- already stopped: still fine
      assert.is_true(client:start_container(name))
      assert.are.equal("running", engine.state(name))
      local before = client:get_container(id).raw.State.StartedAt
      assert.is_true(client:restart_container(id, { timeout = 1 }))
      local after = client:get_container(id)
      assert.are.equal("running", after.status)
      assert.are_not.equal(before, after.raw.State.StartedAt)
      assert.is_true(client:remove_container(id, { force = true }))
      local all = client:list_containers { all = true, filters = { name = name } }
      assert.are.same({}, all)
    end)

    it("refuses to remove a running container without force", function()
      local id = container()
      local ok, err = pcall(client.remove_container, client, id)
      assert.is_false(ok)
      assert.is_true(moonpod.is_error(err))
      assert.are.equal("conflict", err.kind)
      -- Docker says 409; Podman says 500 with the cause "container state improper"
      assert.are.equal(engine.name == "docker" and 409 or 500, err.status_code)
      assert.is_true(client:remove_container(id, { force = true }))
    end)
  end)

  describe("errors", function()
    it("reports an unknown container as not_found", function()
      local ok, err = pcall(client.get_container, client, "no-such-container-" .. engine.unique())
      assert.is_false(ok)
      assert.is_true(moonpod.is_error(err, "not_found"))
      assert.are.equal(404, err.status_code)
      assert.matches("no such container", err.message:lower())
      assert.is_table(err.response_data)
      assert.matches("^not_found: ", tostring(err))
    end)

    it("reports not_found for every operation on an unknown container", function()
      local name = "no-such-" .. engine.unique()
      for _, op in ipairs { "start_container", "stop_container", "restart_container", "remove_container" } do
        local ok, err = pcall(client[op], client, name)
        assert.is_false(ok, op)
        assert.are.equal("not_found", err.kind, op)
      end
    end)

    it("escapes ids so that a query or a path can't be smuggled in", function()
      local name = "a?all=1#b%2Fc/d"
      local ok, err = pcall(client.get_container, client, name)
      assert.is_false(ok)
      assert.are.equal("not_found", err.kind)
      -- the engine saw the whole name, not a cut path
      assert.is_truthy(err.message:find(name, 1, true))
    end)

    it("rejects bad arguments with Lua argument errors", function()
      assert.has_error(function() client:get_container() end)
      assert.has_error(function() client:get_container("") end)
      assert.has_error(function() client:stop_container("x", { timeout = -1 }) end)
      assert.has_error(function() client:list_containers { all = "yes" } end)
    end)

    it("refuses calls on a closed client", function()
      local c = moonpod.connect { socket_path = engine.socket() }
      c:close()
      assert.has_error(function() c:ping() end, "the client is closed")
    end)
  end)
end)
