-- moonpod.policykit: the settings, label overrides and backoff the
-- ready-made policies share; and that every ready-made policy file loads
-- with its own defaults and returns a policy table serve accepts.

local kit = require "moonpod.policykit"

describe("policykit", function()
  it("takes a wrapper's overrides over the defaults, and refuses unknown or mistyped ones", function()
    kit.override("pk-a", { retries = 3, all = true })
    local cfg = kit.config("pk-a", { retries = 5, all = false, label = "x" })
    assert.are.equal(3, cfg.retries)
    assert.is_true(cfg.all)
    assert.are.equal("x", cfg.label)
    assert.are.equal(5, kit.config("pk-none", { retries = 5 }).retries)
    kit.override("pk-b", { retires = 3 })
    assert.has_error(function() kit.config("pk-b", { retries = 5 }) end, "pk-b: unknown setting 'retires'")
    kit.override("pk-c", { retries = "3" })
    assert.has_error(function() kit.config("pk-c", { retries = 5 }) end, "pk-c: setting 'retries' must be a number, not a string")
    kit.override("pk-d", { action = "explode" })
    assert.has_error(function() kit.config("pk-d", { action = "restart" }, { action = { "restart", "kill" } }) end,
      "pk-d: setting 'action' must be one of restart, kill")
    assert.has_error(function() kit.config("pk-none", { action = "restrat" }, { action = { "restart", "kill" } }) end,
      "pk-none: setting 'action' must be one of restart, kill")
    kit.override("pk-f", { retries = -1 })
    assert.has_error(function() kit.config("pk-f", { retries = 5 }) end, "pk-f: setting 'retries' must be a number >= 0")
  end)

  it("reads per-container settings from labels, as the setting's type, ignoring ones that don't parse", function()
    local cfg = { retries = 5, action = "restart", all = false, label = "autoheal" }
    local s = kit.for_container(cfg, {
      ["autoheal.retries"] = "2", ["autoheal.action"] = "kill", ["autoheal.all"] = "maybe", ["other.retries"] = "9",
    }, "autoheal.", { "retries", "action", "all" })
    assert.are.equal(2, s.retries)
    assert.are.equal("kill", s.action)
    assert.is_false(s.all)
    assert.are.equal("autoheal", s.label)
    assert.are.equal(5, cfg.retries)
    assert.is_true(kit.for_container(cfg, { ["autoheal.all"] = "true" }, "autoheal.", { "all" }).all)
    assert.are.equal(5, kit.for_container(cfg, { ["autoheal.retries"] = "-2" }, "autoheal.", { "retries" }).retries)
    assert.are.equal(5, kit.for_container(cfg, { ["autoheal.retries"] = "inf" }, "autoheal.", { "retries" }).retries)
    kit.override("pk-e", {})
    local limited = kit.config("pk-e", cfg, { action = { "restart", "kill" } })
    assert.are.equal("restart", kit.for_container(limited, { ["autoheal.action"] = "explode" }, "autoheal.", { "action" }).action)
    assert.are.equal("kill", kit.for_container(limited, { ["autoheal.action"] = "kill" }, "autoheal.", { "action" }).action)
  end)

  it("selects by the opt-in label or all, and filters the listener the same way", function()
    assert.is_true(kit.selected({ label = "autoheal" }, { autoheal = "true" }))
    assert.is_false(kit.selected({ label = "autoheal" }, { autoheal = "false" }))
    assert.is_false(kit.selected({ label = "autoheal" }, nil))
    assert.is_true(kit.selected({ label = "autoheal", all = true }, {}))
    assert.are.same({ ["label.autoheal"] = "true" }, kit.filters { label = "autoheal" })
    assert.is_nil(kit.filters { label = "autoheal", all = true })
  end)

  it("backs off as Docker does: 100 ms, doubling, capped", function()
    local got = {}
    for attempt = 1, 6 do got[attempt] = kit.backoff_delay(attempt, 0.1, 1) end
    assert.are.same({ 0.1, 0.2, 0.4, 0.8, 1, 1 }, got)
  end)

  for _, name in ipairs { "autoheal", "resource-guard", "restart-loop", "janitor" } do
    it("loads scripts/policies/" .. name .. ".lua with its defaults", function()
      local chunk = assert(loadfile("scripts/policies/" .. name .. ".lua"))
      local t = chunk(name)
      assert.are.equal("table", type(t))
      assert.are.equal(name, t.name)
      local known = { name = true, events = true, filters = true, setup = true, on_event = true, every = true, stop = true }
      for k in pairs(t) do assert.is_true(known[k], k) end
      assert.is_true(t.on_event ~= nil or t.setup ~= nil or t.every ~= nil)
    end)
  end
end)
