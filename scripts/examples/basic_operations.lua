#!/usr/bin/env moonpod
-- Basic container operations (the specification's first example): connect
-- with auto-detection, list every container with its status.
--
--   moonpod scripts/examples/basic_operations.lua

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
end
