-- API version negotiation against engines other than the two at hand: one
-- newer than moonpod knows, one that no longer accepts moonpod's versions,
-- one whose /_ping says nothing. The fake engine (tests/fake/fake_engine.c)
-- claims the versions it is given and, like Docker, refuses requests under
-- a /v1.N prefix outside them with a 400.

local moonpod = require "moonpod"

local fake = require("helpers.fake").start

-- The newest Docker API version moonpod speaks (DOCKER_API_MAX_MINOR in
-- src/engine.c); an engine past it is spoken to at this one.
local NEWEST = "1.47"

local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a failure")
  assert.is_true(moonpod.is_error(err), "expected an error object, got " .. tostring(err))
  return err
end

describe("API version negotiation", function()
  local runners = {}
  local function engine(flags, routes)
    local sock, runner = fake(routes, flags)
    runners[#runners + 1] = runner
    return sock
  end

  after_each(function()
    for _, r in ipairs(runners) do r:cancel() end
    runners = {}
  end)

  it("uses the engine's version when moonpod speaks it", function()
    local sock = engine({ "--api-version", "1.43" }, { "/v1.43/containers/json=json:[]" })
    local client = moonpod.connect { socket_path = sock }
    assert.are.equal("docker", client.runtime)
    assert.are.equal("1.43", client.api_version)
    assert.are.same({}, client:list_containers())
  end)

  it("speaks its newest version to an engine newer than it", function()
    local sock = engine({ "--api-version", "1.99", "--min-api-version", "1.24" },
      { "/v" .. NEWEST .. "/containers/json=json:[]" })
    local client = moonpod.connect { socket_path = sock }
    assert.are.equal(NEWEST, client.api_version)
    -- the requests go out under that version, and the engine takes them
    assert.are.same({}, client:list_containers())
    assert.are.equal("1.99", client:get_version().ApiVersion)
  end)

  it("an engine whose minimum is above moonpod's newest is unsupported, and says why", function()
    local sock = engine { "--api-version", "1.99", "--min-api-version", "1.50" }
    local err = failure(moonpod.connect, { socket_path = sock, start_service = false, use_cli_fallback = false })
    assert.are.equal("unsupported", err.kind)
    assert.matches("accepts Docker API 1%.50 to 1%.99", err.message)
    assert.matches("moonpod speaks 1%.24 to " .. NEWEST:gsub("%.", "%%."), err.message)
    assert.matches(sock:gsub("%p", "%%%0"), err.message)
  end)

  it("an engine older than moonpod's oldest is unsupported", function()
    local sock = engine { "--api-version", "1.20", "--min-api-version", "1.12" }
    local err = failure(moonpod.connect, { socket_path = sock, start_service = false, use_cli_fallback = false })
    assert.are.equal("unsupported", err.kind)
    assert.matches("speaks Docker API 1%.20; moonpod needs 1%.24 or newer", err.message)
  end)

  it("an api_version asked for below the engine's minimum is unsupported", function()
    local sock = engine({ "--no-api-headers", "--api-version", "1.45", "--min-api-version", "1.40" })
    local err = failure(moonpod.connect,
      { socket_path = sock, api_version = "1.30", start_service = false, use_cli_fallback = false })
    assert.are.equal("unsupported", err.kind)
    assert.matches("accepts Docker API 1%.40 to 1%.45; the api_version asked for, 1%.30, is older", err.message)
  end)

  it("without API headers on /_ping, negotiates from the /version body", function()
    local sock = engine({ "--no-api-headers", "--api-version", "1.44" }, { "/v1.44/containers/json=json:[]" })
    local client = moonpod.connect { socket_path = sock }
    assert.are.equal("docker", client.runtime)
    assert.are.equal("1.44", client.api_version)
    assert.are.same({}, client:list_containers())
  end)

  it("without API headers, an engine newer than moonpod is capped too", function()
    local sock = engine({ "--no-api-headers", "--api-version", "1.60", "--min-api-version", "1.24" },
      { "/v" .. NEWEST .. "/containers/json=json:[]" })
    local client = moonpod.connect { socket_path = sock }
    assert.are.equal(NEWEST, client.api_version)
    assert.are.same({}, client:list_containers())
  end)
end)
