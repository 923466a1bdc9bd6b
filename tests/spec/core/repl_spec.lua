-- The REPL's parts that need no engine: the API reference (and the README
-- generated from it), the pretty printer, completion candidates.

local moonpod = require "moonpod"
local doc = require "moonpod.doc"
local pretty = require "moonpod.pretty"
local repl = require "moonpod.repl"

describe("the API reference", function()
  it("is what the README's API reference section says", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("a")
    f:close()
    local section = readme:match("<!%-%- api%-reference:begin %-%->\n\n(.-)\n<!%-%- api%-reference:end %-%->")
    assert.is_string(section, "README.md has no generated API reference section")
    assert.are.equal(doc.markdown(), section,
      "README.md is out of date: run ./moonpod scripts/dev/api_doc.lua")
  end)

  it("documents every client method, found by the function itself", function()
    local methods = debug.getregistry()["moonpod.client"].methods
    local missing = {}
    for name, fn in pairs(methods) do
      local e = doc.find(fn)
      if not (e and e[1]:find("client:" .. name .. "(", 1, true)) then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("documents every function of the moonpod module", function()
    -- not for scripts: the C halves of moonpod.events and moonpod.stats
    local internal = { event_source = true, stats_monitor = true, history_store = true, http_server = true,
                       metrics_text = true }
    local missing = {}
    for name, v in pairs(moonpod) do
      if type(v) == "function" and not internal[name] and not doc.find(v) then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("help texts: one entry, one section, the overview, and unknown names", function()
    assert.matches("^moonpod%.spawn%(fn, %.%.%.%) %-> task\n    Runs fn", doc.text(moonpod.spawn))
    assert.matches("^client:get_events%(opts%?%) %-> stream\n", doc.text("get_events"))
    assert.matches("^%-%- task: .*task:join%(%)", doc.text("task"))
    assert.matches("%-%- registry:", doc.text())
    assert.are.equal("no help for nothing_like_this", doc.text("nothing_like_this"))
  end)
end)

describe("the binary", function()
  it("links libedit for line editing, never GNU readline (the binary stays MIT)", function()
    local r = moonpod.run { "ldd", os.getenv("MOONPOD_BIN") or "./moonpod" }
    assert.is_true(r.ok, r.stderr)
    assert.matches("libedit%.so", r.stdout)
    assert.is_nil(r.stdout:find("libreadline", 1, true))
  end)
end)

describe("the pretty printer", function()
  it("sorts keys, nests tables and keeps short ones on one line", function()
    assert.are.equal('{ 1, "two", a = true, b = { c = 1.5 }, ["not id"] = 3 }',
      pretty.format { 1, "two", b = { c = 1.5 }, a = true, ["not id"] = 3 })
  end)

  it("cuts long lists with a count", function()
    local t = {}
    for i = 1, 25 do t[i] = i end
    local text = pretty.format(t)
    assert.matches("\n  1, 2, 3,", text)
    assert.matches("%.%.%. 5 more %(25 in all%)\n}$", text)
    assert.is_nil(text:find("21", 1, true))
  end)

  it("survives cycles", function()
    local t = { name = "loop" }
    t.self = t
    assert.are.equal('{ name = "loop", self = <cycle> }', pretty.format(t))
  end)

  it("shows models as one-liners and errors through __tostring", function()
    local c = { id = "0123456789abcdef", name = "web-1", image = "nginx", status = "running", runtime = "podman" }
    assert.are.equal("<Container web-1 running 0123456789ab nginx on podman>", pretty.format(c))
    local s = { container_id = "0123456789abcdef", cpu_percent = 12.34, memory_usage_bytes = 1536,
      memory_limit_bytes = 2 ^ 30, network_rx_bytes = 0, network_tx_bytes = 10, block_read_bytes = 0,
      block_write_bytes = 0, pids = 3 }
    assert.are.equal("<ContainerStats 0123456789ab cpu 12.3% mem 1.5 KiB/1.0 GiB net rx 0 B tx 10 B blk r 0 B w 0 B pids 3>",
      pretty.format(s))
    assert.are.equal('<stdout 00:00:01 "hi\\tthere">', pretty.format { stream = "stdout", text = "hi\tthere", timestamp = 1 })
    assert.are.equal("not_found: gone", pretty.format(moonpod.error("not_found", "gone")))
  end)

  it("prints several results tab-separated, like lua.c", function()
    assert.are.equal('1\tnil\t"a\\n"', pretty.results(table.pack(1, nil, "a\n")))
  end)
end)

describe("completion", function()
  local env = { moonpod = moonpod, tbl = { alpha = 1, beta = { gamma = 2 } }, print = print }

  it("completes globals and keywords", function()
    assert.are.same({ "tbl" }, repl.complete("tb", "tb", env))
    assert.are.same({ "function" }, repl.complete("x = func", "func", env))
  end)

  it("completes fields of nested tables", function()
    assert.are.same({ "tbl.alpha" }, repl.complete("tbl.al", "tbl.al", env))
    assert.are.same({ "tbl.beta.gamma" }, repl.complete("tbl.beta.g", "tbl.beta.g", env))
  end)

  it("completes methods of a client before it is connected", function()
    assert.are.same({ "client:start_container", "client:stop_container" },
      repl.complete("client:st", "client:st", env))
    assert.are.same({ "moonpod.sleep" }, repl.complete("moonpod.sle", "moonpod.sle", env))
  end)

  it("completes methods of a real timer and a real task", function()
    local t = moonpod.every(60, function() end)
    local k = moonpod.spawn(moonpod.sleep, 60)
    finally(function() t:stop() k:cancel() end)
    local e = { t = t, k = k }
    assert.are.same({ "t:active", "t:stats", "t:stop" }, repl.complete("t:", "t:", e))
    assert.are.same({ "k:cancel", "k:join", "k:status" }, repl.complete("x = k:", "k:", e))
  end)

  it("offers nothing for what does not exist", function()
    assert.are.same({}, repl.complete("nope.x", "nope.x", env))
  end)
end)
