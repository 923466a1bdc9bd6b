#!/usr/bin/env moonpod
-- Basic container operations (the specification's first example): connect
-- with auto-detection, list every container with its status and labels,
-- and the CPU and memory of each running one.
--
--   moonpod scripts/examples/basic_operations.lua
--
-- The engine is auto-detected (CONTAINER_HOST / DOCKER_HOST, then the
-- usual sockets, Podman first); it runs once and exits.

local moonpod = require "moonpod"

local client = moonpod.connect { auto_detect = true, fallback_to_docker = true }
print(("connected to %s %s at %s (API %s)"):format(
  client.runtime, client.server_version, client.endpoint, client.api_version))

local containers = client:list_containers { all = true }
print(("%d container(s)"):format(#containers))
for _, c in ipairs(containers) do
  local labels = {}
  for k, v in pairs(c.labels) do labels[#labels + 1] = k .. "=" .. v end
  table.sort(labels)
  print(("  %-24s %-10s %-32s %s"):format(c.name, c.status, c.image, table.concat(labels, ",")))
  if c.status == "running" then
    -- it may stop between the list and this request: say so and go on
    local ok, s = pcall(client.get_container_stats, client, c.id)
    if ok then
      print(("    CPU: %.1f%%"):format(s.cpu_percent))
      print(("    Memory: %.1f%%"):format(s.memory_percent))
    else
      print(("    stats unavailable: %s"):format(tostring(s)))
    end
  end
end
