#!/usr/bin/env moonpod
-- Multi-runtime management (the specification's MultiRuntimeManager):
-- one object over a Podman and a Docker engine, every container of both
-- listed with the engine it runs on.
--
--   moonpod scripts/examples/multi_runtime.lua [name=socket_path ...]
--
-- Default: podman=/run/podman/podman.sock docker=/var/run/docker.sock, as
-- in the specification. An engine that does not answer is reported and
-- the others are still listed; the exit status is 1 when none answered.

local moonpod = require "moonpod"

local configs = {}
for _, a in ipairs(arg) do
  local name, path = a:match("^([%w_-]+)=(.+)$")
  if not name then
    io.stderr:write(("bad argument %q: expected name=socket_path\n"):format(a))
    os.exit(2)
  end
  configs[name] = { socket_path = path }
end
if next(configs) == nil then
  configs = {
    podman = { socket_path = "/run/podman/podman.sock" },
    docker = { socket_path = "/var/run/docker.sock" },
  }
end

local manager <close> = moonpod.multi(configs)

local engines = manager:engines()
local names = {}
for name in pairs(engines) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local e = engines[name]
  if e.up then
    print(("%s: %s at %s"):format(name, e.runtime, e.endpoint))
  else
    print(("%s: down (%s)"):format(name, tostring(e.error)))
  end
end

local all, failed = manager:list_containers { all = true }
print(("%d container(s)"):format(#all))
for _, c in ipairs(all) do
  print(("  %-8s %-32s %s"):format(c.runtime, c.name, c.status))
end
local down = 0
for _ in pairs(failed) do down = down + 1 end
if down == #names then os.exit(1) end
