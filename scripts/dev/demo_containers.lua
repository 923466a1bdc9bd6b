-- The demo's containers (scripts/dev/demo.sh): one that turns unhealthy,
-- one that crash-loops, one that burns CPU and one long exited, each with
-- the labels that put it in the care of a ready-made policy.
--
--   moonpod scripts/dev/demo_containers.lua up IMAGE    exit 3: no such image
--   moonpod scripts/dev/demo_containers.lua down
--   moonpod scripts/dev/demo_containers.lua status

local moonpod = require "moonpod"

local cmd, image = arg[1], arg[2]
local client = moonpod.connect { start_service = false, use_cli_fallback = false }

local function labels(extra)
  local t = { ["moonpod.demo"] = "true" }
  for k, v in pairs(extra) do t[k] = v end
  return t
end

local CONTAINERS = {
  {
    name = "demo-unhealthy", what = "turns unhealthy 12 s after each start",
    -- healthy at start, unhealthy 12 s later; a restart starts it over
    -- (only sh, echo, grep and sleep: the private engines' image is small)
    cmd = { "sh", "-c", "echo ok > /tmp/state; (sleep 12; echo bad > /tmp/state) & while true; do sleep 1; done" },
    healthcheck = { test = "grep -q ok /tmp/state", interval = 2, timeout = 2, retries = 1 },
    labels = labels { autoheal = "true" },
  },
  {
    name = "demo-crashloop", what = "exits 1 after a second; the engine restarts it (restart=always)",
    cmd = { "sh", "-c", "sleep 1; echo crashing; exit 1" },
    restart_policy = "always",
    labels = labels { restartloop = "true" },
  },
  {
    name = "demo-cpu", what = "burns a CPU",
    cmd = { "sh", "-c", "while :; do :; done" },
    labels = labels { ["moonpod.guard"] = "true" },
  },
  {
    name = "demo-exited", what = "ran and exited: old enough for the janitor",
    cmd = { "true" },
    labels = labels { janitor = "true" },
  },
  {
    name = "demo-kept", what = "exited too, but labelled moonpod.keep=true",
    cmd = { "true" },
    labels = labels { janitor = "true", ["moonpod.keep"] = "true" },
  },
}

local function remove_all()
  for _, c in ipairs(client:list_containers { all = true, filters = { label = { "moonpod.demo=true" } } }) do
    pcall(client.remove_container, client, c.id, { force = true })
  end
end

if cmd == "down" then
  remove_all()
elseif cmd == "status" then
  for _, c in ipairs(client:list_containers { all = true, filters = { label = { "moonpod.demo=true" } } }) do
    print(("  %s: %s"):format(c.name, c.status))
  end
elseif cmd == "up" and image then
  remove_all()
  for _, spec in ipairs(CONTAINERS) do
    local ok, id = pcall(client.create_container, client, {
      name = spec.name, image = image, cmd = spec.cmd, labels = spec.labels,
      healthcheck = spec.healthcheck, restart_policy = spec.restart_policy,
    })
    if not ok then
      if type(id) == "table" and id.kind == "not_found" then
        io.stderr:write(("demo: the engine has no image %s\n"):format(image))
        os.exit(3)
      end
      error(id, 0)
    end
    client:start_container(id)
    print(("  %-16s %s"):format(spec.name, spec.what))
  end
  for _, name in ipairs { "demo-exited", "demo-kept" } do client:wait_container(name) end
else
  io.stderr:write("usage: demo_containers.lua up IMAGE | down | status\n")
  os.exit(2)
end
