-- Rewrites the README's API reference from lua/moonpod/doc.lua, the one
-- source help() reads too. Run: ./moonpod scripts/dev/api_doc.lua [README.md]
-- (tests/spec/core/repl_spec.lua checks that the README is up to date).

local path = arg[1] or "README.md"
local BEGIN, END = "<!-- api-reference:begin -->", "<!-- api-reference:end -->"

local f = assert(io.open(path, "rb"))
local text = f:read("a")
f:close()
local a, b = text:find(BEGIN, 1, true), text:find(END, 1, true)
assert(a and b and a < b, path .. " has no " .. BEGIN .. " ... " .. END .. " section")
local body = require("moonpod.doc").markdown()
local out = text:sub(1, a - 1) .. BEGIN .. "\n\n" .. body .. "\n" .. text:sub(b)
f = assert(io.open(path, "wb"))
f:write(out)
f:close()
