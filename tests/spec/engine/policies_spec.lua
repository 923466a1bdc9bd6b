-- The ready-made policies (scripts/policies) under `moonpod serve`, against
-- the engine under test: autoheal restarts an unhealthy container and gives
-- up after its retries, doubles its backoff and starts it over after
-- reset_after, waits out a grace period; restart-loop stops a crash-looper,
-- resource-guard stops a CPU burner and restarts a container over its
-- memory threshold, janitor removes old exited containers but keeps the
-- labelled ones; alerts reach a real webhook receiver on loopback, through
-- its refusals. Each policy runs from a wrapper policy file that overrides
-- its settings (short thresholds, and an opt-in label no one else uses, so
-- that the containers of other test runs on the shared engine are left alone).

local moonpod = require "moonpod"
local engine = require "helpers.engine"
local serve = require "helpers.serve"
local receiver = require "helpers.receiver"

local TMP = os.getenv("MOONPOD_TEST_TMP") or "/tmp"
local REPO = os.getenv("PWD")
local LOOP = "trap 'exit 0' TERM; while true; do sleep 0.2; done"

local function fresh_dir(tag)
  local dir = ("%s/%s"):format(TMP, engine.unique("pol-" .. tag))
  assert(moonpod.run({ "mkdir", "-p", dir }).ok)
  return dir
end

-- A wrapper policy: the ready-made one with `settings` over its defaults.
local function wrapper(dir, policy, settings)
  local path = ("%s/%s.lua"):format(dir, policy)
  serve.write(path, ("require('moonpod.policykit').override(%q, moonpod_settings)\nreturn dofile(%q)\n")
    :format(policy, ("%s/scripts/policies/%s.lua"):format(REPO, policy))
    :gsub("moonpod_settings", function()
      local parts = {}
      for k, v in pairs(settings) do
        parts[#parts + 1] = ("[%q] = %s"):format(k, type(v) == "string" and ("%q"):format(v) or tostring(v))
      end
      return "{ " .. table.concat(parts, ", ") .. " }"
    end))
  return path
end

local function started_at(name)
  return engine.cli("inspect", "--format", "{{.State.StartedAt}}", name)
end

-- Docker runs health checks on its own; Podman without systemd runs them
-- when asked: a task that asks every 0.5 s (cancel it when done).
local function health_checks(name)
  return moonpod.spawn(function()
    if engine.name ~= "podman" then return end
    while true do
      local argv = engine.cli_argv()
      for _, a in ipairs { "healthcheck", "run", name } do argv[#argv + 1] = a end
      moonpod.run(argv, { timeout = 30, env = { CONTAINER_HOST = false } })
      moonpod.sleep(0.5)
    end
  end)
end

describe("ready-made policies on " .. engine.name .. " #children", function()
  local client, names, servers, receivers = nil, {}, {}, {}

  setup(function() client = moonpod.connect() end)

  local function create(spec)
    spec.name = spec.name or engine.unique("pol")
    spec.image = engine.image()
    spec.network = "none"
    spec.cmd = spec.cmd or { "sh", "-c", LOOP }
    names[#names + 1] = spec.name
    local id = client:create_container(spec)
    return id, spec.name
  end

  local function start(dir, files, env)
    local h = serve.start(dir, files, env)
    servers[#servers + 1] = h
    assert.is_true(h.logged("serve: ready", 20), h.log_text())
    return h
  end

  after_each(function()
    local bad = {}
    for _, h in ipairs(servers) do
      local r = h.stop()
      -- a clean drain; under ASan or valgrind also no leak or memory error
      if r.status ~= 0 then bad[#bad + 1] = ("serve exited %s:\n%s"):format(tostring(r.status), h.log_text()) end
      -- and no policy task outlived the drain (a monitor left open, say)
      if h.log_text():find("after the drain timeout", 1, true) then bad[#bad + 1] = "slow drain:\n" .. h.log_text() end
    end
    servers = {}
    for _, r in ipairs(receivers) do r.stop() end
    receivers = {}
    if #names > 0 then engine.remove(table.unpack(names)) end
    names = {}
    assert.are.same({}, bad)
  end)

  it("autoheal restarts an unhealthy container, backs off, then gives up and alerts through a refusing webhook", function()
    local dir = fresh_dir("heal")
    local r = receiver.start(dir .. "/recv", 1)
    receivers[#receivers + 1] = r
    local label = engine.unique("heal")
    local file = wrapper(dir, "autoheal", { label = label, retries = 2, webhook_url = r.url, webhook_backoff = 0.2 })
    local h = start(dir, { file })
    local id, name = create {
      labels = { [label] = "true" },
      healthcheck = { test = "false", interval = 0.5, timeout = 2, retries = 1 },
    }
    client:start_container(id)
    local first = started_at(name)
    local checker = health_checks(name)
    local ok = h.logged("restarted " .. name .. " (unhealthy; attempt 1 of 2;", 30)
      and h.logged("restarted " .. name .. " (unhealthy; attempt 2 of 2;", 30)
      and h.logged("gave_up " .. name, 30)
    checker:cancel()
    assert.is_true(ok, h.log_text())
    assert.are_not.equal(first, started_at(name))
    assert.are.equal("running", engine.state(name))
    -- the alert went through the receiver's refusal
    assert.is_true(r.wait_posts(1, 10), h.log_text())
    local post = r.posts()[1]
    assert.are.equal("gave_up", post.event)
    assert.are.equal(name, post.container)
    assert.are.equal("autoheal", post.policy)
    assert.are.equal(2, post.attempts)
    assert.are.equal(1, r.refused())
    assert.matches("attempt 1 failed (HTTP 503)", h.log_text(), 1, true)
    -- it stopped trying: no third restart
    moonpod.sleep(1.5)
    assert.is_nil(h.log_text():find("attempt 3", 1, true))
  end)

  it("autoheal doubles its backoff, starts it over once a container has run reset_after, and waits out the grace", function()
    local dir = fresh_dir("back")
    local label = engine.unique("back")
    local file = wrapper(dir, "autoheal", { label = label, retries = 3, backoff_initial = 0.2, reset_after = 2 })
    local h = start(dir, { file })
    local HEALTH = { test = "test -f /tmp/healthy", interval = 0.5, timeout = 2, retries = 1 }
    local always = { test = "false", interval = 0.5, timeout = 2, retries = 1 }
    -- unhealthy within a second of each start: it never runs reset_after, the backoff doubles
    local sick_id, sick = create { labels = { [label] = "true" }, healthcheck = always }
    -- healthy for 3 s after each start, then unhealthy: each time it ran past reset_after,
    -- so each restart waits the first step again
    local tires_id, tires = create { labels = { [label] = "true" }, healthcheck = HEALTH,
      cmd = { "sh", "-c", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; " .. LOOP } }
    -- unhealthy at first, healthy after 1.5 s: within its grace of 4 s, so left alone
    local slow_id, slow = create { labels = { [label] = "true", [label .. ".grace"] = "4" }, healthcheck = HEALTH,
      cmd = { "sh", "-c", "sleep 1.5; touch /tmp/healthy; " .. LOOP } }
    -- always unhealthy, grace 3 s: restarted, but only once the grace is over
    local late_id, late = create { labels = { [label] = "true", [label .. ".grace"] = "3" }, healthcheck = always }
    local checkers = {}
    local t0 = moonpod.monotonic()
    for _, c in ipairs { { sick_id, sick }, { tires_id, tires }, { slow_id, slow }, { late_id, late } } do
      client:start_container(c[1])
      checkers[#checkers + 1] = health_checks(c[2])
    end
    local function count(text, what)
      local n, at = 0, 1
      while true do
        local i = text:find(what, at, true)
        if not i then return n end
        n, at = n + 1, i + 1
      end
    end
    -- a healthy state between restarts starts the attempts over; the backoff
    -- starts over only because it ran past reset_after
    local again = "restarted " .. tires .. " (unhealthy; attempt 1 of 3; after a 0.20 s backoff)"
    local late_at
    local ok = engine.wait_for(function()
      if not late_at and h.log_text():find("restarted " .. late .. " (unhealthy; attempt 1", 1, true) then
        late_at = moonpod.monotonic()
      end
      return h.log_text():find("restarted " .. sick .. " (unhealthy; attempt 3 of 3", 1, true)
        and count(h.log_text(), again) >= 3 and late_at
    end, 60)
    for _, c in ipairs(checkers) do c:cancel() end
    assert.is_truthy(ok, h.log_text())
    local text = h.log_text()
    -- 100 ms doubling in Docker's manner, here from 0.2 s
    assert.matches("restarted " .. sick .. " (unhealthy; attempt 1 of 3; after a 0.20 s backoff)", text, 1, true)
    assert.matches("restarted " .. sick .. " (unhealthy; attempt 2 of 3; after a 0.40 s backoff)", text, 1, true)
    assert.matches("restarted " .. sick .. " (unhealthy; attempt 3 of 3; after a 0.80 s backoff)", text, 1, true)
    assert.is_nil(text:find("restarted " .. tires .. " (unhealthy; attempt 1 of 3; after a 0.40", 1, true))
    assert.is_nil(text:find("restarted " .. slow, 1, true))
    assert.are.equal("running", engine.state(slow))
    assert.is_true(late_at - t0 >= 3, ("restarted %.2f s after its start, within its grace"):format(late_at - t0))
  end)

  it("autoheal kills instead when a label says so, and alerts through MOONPOD_WEBHOOK_URL", function()
    local dir = fresh_dir("kill")
    local r = receiver.start(dir .. "/recv", 0)
    receivers[#receivers + 1] = r
    local label = engine.unique("kill")
    local file = wrapper(dir, "autoheal", { label = label })
    local h = start(dir, { file }, { MOONPOD_WEBHOOK_URL = r.url })
    local id, name = create {
      labels = { [label] = "true", [label .. ".action"] = "kill" },
      healthcheck = { test = "false", interval = 0.5, timeout = 2, retries = 1 },
    }
    client:start_container(id)
    local checker = health_checks(name)
    local ok = h.logged("killed " .. name .. " (unhealthy; attempt 1 of 5;", 30)
    checker:cancel()
    assert.is_true(ok, h.log_text())
    assert.is_true(engine.wait_for(function() return engine.state(name) == "exited" end, 10))
    assert.is_true(r.wait_posts(1, 10), h.log_text())
    assert.are.equal("kill", r.posts()[1].event)
    assert.are.equal(name, r.posts()[1].container)
  end)

  it("restart-loop stops a crash-looping container and alerts", function()
    local dir = fresh_dir("loop")
    local label = engine.unique("loop")
    local file = wrapper(dir, "restart-loop", { all = false, label = label, max_deaths = 3, window = 60 })
    local h = start(dir, { file })
    local id, name = create { labels = { [label] = "true" }, cmd = { "sh", "-c", "sleep 0.1; exit 3" }, restart_policy = "always" }
    client:start_container(id)
    assert.is_true(h.logged("restart_loop " .. name, 40), h.log_text())
    assert.matches("died 4 times", h.log_text(), 1, true)
    assert.is_true(engine.wait_for(function() return engine.state(name) == "exited" end, 15))
    -- and it stays stopped
    moonpod.sleep(1.5)
    assert.are.equal("exited", engine.state(name))
  end)

  it("resource-guard stops a CPU burner after N samples over the threshold, and leaves an idle one", function()
    local dir = fresh_dir("guard")
    local label = engine.unique("guard")
    local file = wrapper(dir, "resource-guard", { label = label, cpu = 20, cycles = 2, interval = 1, action = "stop" })
    local h = start(dir, { file })
    local burner_id, burner = create { labels = { [label] = "true" }, cmd = { "sh", "-c", "trap 'exit 0' TERM; while :; do :; done" } }
    local idle_id, idle = create { labels = { [label] = "true" } }
    client:start_container(burner_id)
    client:start_container(idle_id)
    assert.is_true(h.logged("resource_cpu " .. burner, 40), h.log_text())
    assert.matches("for 2 samples: stop", h.log_text(), 1, true)
    assert.is_true(engine.wait_for(function() return engine.state(burner) == "exited" end, 20))
    assert.are.equal("running", engine.state(idle))
    assert.is_nil(h.log_text():find(idle, 1, true))
  end)

  it("resource-guard restarts a container over its memory threshold, and leaves one under it", function()
    local dir = fresh_dir("mem")
    local label = engine.unique("mem")
    local file = wrapper(dir, "resource-guard", { label = label, cpu = 0, memory = 25, cycles = 2, interval = 1,
                                                  action = "restart" })
    local h = start(dir, { file })
    local MB = 1024 * 1024
    -- 24 MB held in a shell variable, of a 64 MB limit: 37%
    local fat_id, fat = create { labels = { [label] = "true" }, memory = 64 * MB,
      cmd = { "sh", "-c", "x=$(head -c 25165824 /dev/zero | tr '\\0' a); " .. LOOP } }
    local thin_id, thin = create { labels = { [label] = "true" }, memory = 64 * MB }
    client:start_container(fat_id)
    client:start_container(thin_id)
    local first = started_at(fat)
    assert.is_true(h.logged("resource_memory " .. fat, 40), h.log_text())
    assert.matches("for 2 samples: restart", h.log_text(), 1, true)
    assert.is_true(engine.wait_for(function() return started_at(fat) ~= first end, 20))
    assert.are.equal("running", engine.state(thin))
    assert.is_nil(h.log_text():find(thin, 1, true))
  end)

  it("janitor removes an old exited container and keeps the one labelled to keep", function()
    local dir = fresh_dir("jan")
    local label = engine.unique("jan")
    local gone_id, gone = create { labels = { [label] = "true" }, cmd = { "true" } }
    local kept_id, kept = create { labels = { [label] = "true", ["moonpod.keep"] = "true" }, cmd = { "true" } }
    local running_id, running = create { labels = { [label] = "true" } }
    client:start_container(gone_id)
    client:start_container(kept_id)
    client:start_container(running_id)
    assert.is_true(engine.wait_for(function()
      return engine.state(gone) == "exited" and engine.state(kept) == "exited"
    end, 15))
    local file = wrapper(dir, "janitor", { all = false, label = label, older_than = 1, interval = 1 })
    local h = start(dir, { file })
    assert.is_true(h.logged("removed " .. gone, 20), h.log_text())
    assert.is_false(engine.cli_on(engine.name, "ps", "-a", "--format", "{{.Names}}"):find(gone, 1, true) ~= nil)
    moonpod.sleep(1.5) -- another sweep or more
    assert.are.equal("exited", engine.state(kept))
    assert.are.equal("running", engine.state(running))
  end)
end)
