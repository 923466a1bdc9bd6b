--- moonpod.doc: the API reference, in one place.
--
-- The REPL's help() reads it, and the README's "API reference" section is
-- generated from it (doc.markdown(); scripts/dev/api_doc.lua rewrites the
-- README, and a spec checks the two agree). Each entry is a signature and
-- a short text; the name before "(" is how help() finds it, and for the
-- functions of the C core (client methods, task, timer and stream
-- methods) also by identity: help(client.get_container_stats).

local M = {}

M.sections = {
  {
    name = "moonpod",
    intro = "The module: `local moonpod = require \"moonpod\"` (preloaded in the REPL).",
    entries = {
      { "moonpod.connect(config?) -> client", "Connects to an engine: auto-detected (CONTAINER_HOST, DOCKER_HOST, Podman's and Docker's sockets, a transient `podman system service`, the CLIs) or as `config` says (`socket_path`, `remote_url`, `api_version`, `tls_*`, `username`/`password`, `identity_file`, `connect_timeout`, `request_timeout` ...)." },
      { "moonpod.multi(configs) -> multi", "Several engines as one client: `configs` maps a name to a config. Container calls go to the engine that has the container; `m:list_containers()` merges all engines." },
      { "moonpod.spawn(fn, ...) -> task", "Runs fn(...) as a new task, starting on the next turn of the loop." },
      { "moonpod.sleep(seconds)", "Waits without blocking the loop." },
      { "moonpod.every(seconds, fn) -> timer", "Calls fn(timer) every `seconds`, each call in its own task; a tick still running when the next is due is skipped." },
      { "moonpod.yield()", "Gives way to the other ready tasks." },
      { "moonpod.current_task() -> task | nil", "The task running now." },
      { "moonpod.now() -> seconds", "Wall-clock time, float epoch seconds." },
      { "moonpod.monotonic() -> seconds", "A clock that never goes back, for measuring durations." },
      { "moonpod.run(argv, opts?) -> { ok, status, stdout, stderr }", "Runs a child process (argv vector, never a shell) and waits for it; opts: `stdin`, `env`, `cwd`, `timeout`, `max_output`." },
      { "moonpod.http.request{ method, url, headers, body, timeout, max_body } -> { status, headers, body }", "An HTTP(S) request on the loop (the task waits): method defaults to GET, or POST with a body; `timeout` in seconds (30); `max_body` bytes (1 MiB); the response's `headers` by lower-case name. Any HTTP status is a response; no answer raises an error object (`connection`, `timeout`, `protocol` — also for a body over max_body)." },
      { "moonpod.exit(code?)", "Ends the process at the end of this turn of the loop." },
      { "moonpod.is_error(v, kind?) -> boolean", "Whether v is a moonpod error object (of that kind)." },
      { "moonpod.error(kind, message, fields?) -> error", "Makes an error object." },
      { "moonpod.json.encode(value) -> text", "JSON text of a Lua value (`moonpod.json.null`, `moonpod.json.array(t)` for the ambiguous cases)." },
      { "moonpod.json.decode(text) -> value", "A Lua value from JSON text." },
      { "moonpod.log.info(fmt, ...)", "One line on stderr (also `warn`, `error`, `debug`); JSON lines with MOONPOD_LOG_FORMAT=json." },
    },
  },
  {
    name = "client",
    intro = "A connected engine. Every call waits without blocking the loop and raises an error object on failure.",
    entries = {
      { "client.runtime", "\"podman\" or \"docker\"; also `client.transport`, `client.endpoint`, `client.api_version`, `client.server_version`." },
      { "client:ping() -> true", "Raises when the engine does not answer." },
      { "client:get_version() -> table", "The engine's /version document." },
      { "client:get_system_info() -> table", "The engine's /info document." },
      { "client:list_containers(opts?) -> { Container }", "opts: `all`, `limit`, `filters = { label =, name =, status = ... }`." },
      { "client:get_container(id_or_name) -> Container", "The whole inspect document is in `.raw`." },
      { "client:create_container(spec) -> id", "spec: `name`, `image`, `cmd`, `env`, `labels`, `healthcheck`, `restart_policy`, `network`, `memory`, `cpus` ..." },
      { "client:start_container(id)", "Starts a container." },
      { "client:stop_container(id, opts?)", "opts: `timeout` (seconds before SIGKILL)." },
      { "client:restart_container(id, opts?)", "opts: `timeout`." },
      { "client:kill_container(id, opts?)", "opts: `signal` (default SIGKILL)." },
      { "client:pause_container(id)", "Freezes a container's processes." },
      { "client:unpause_container(id)", "Thaws them." },
      { "client:wait_container(id, opts?) -> exit_code", "opts: `condition` (\"not-running\", \"next-exit\", \"removed\"), `timeout`." },
      { "client:remove_container(id, opts?)", "opts: `force`, `volumes`." },
      { "client:get_container_logs(id, opts?) -> { LogLine } | stream", "opts: `tail`, `since`, `until`, `timestamps`, `stdout`, `stderr`; with `follow = true` a stream of LogLine." },
      { "client:get_container_stats(id, opts?) -> ContainerStats | stream", "One sample; with `stream = true` a stream of samples about a second apart. `cpu_percent`: 100 = one full CPU." },
      { "client:get_events(opts?) -> stream", "ContainerEvents; opts: `filters`, `since`, `until` (then the stream ends), `buffer_size`." },
      { "client:list_pods() -> { Pod }", "Podman only; an \"unsupported\" error on Docker." },
      { "client:close()", "Closes the connections (and an ssh tunnel or a transient service)." },
    },
  },
  {
    name = "stream",
    intro = "Followed logs, stats and events: iterators for a generic `for`; breaking out of `for x in client:...(...)` closes them (a stream kept in a variable: `local s <close> = ...`).",
    entries = {
      { "stream:next() -> value | nil", "The next value, waiting for it; nil at the end." },
      { "stream:close()", "Ends the stream and releases its connection." },
      { "stream:stats() -> table", "Counters: values read, queued, dropped." },
    },
  },
  {
    name = "task",
    intro = "Every piece of Lua moonpod runs is a task (a REPL line too).",
    entries = {
      { "task:join() -> ...", "Waits for the task; its results, or its error raised again." },
      { "task:cancel() -> boolean", "Ends the task: its wait is abandoned, its to-be-closed values (streams) closed." },
      { "task:status() -> string", "\"ready\", \"running\", \"waiting\", \"done\", \"failed\" or \"cancelled\"." },
    },
  },
  {
    name = "timer",
    intro = "What moonpod.every returns.",
    entries = {
      { "timer:stop()", "No more ticks." },
      { "timer:active() -> boolean", "Whether it still ticks." },
      { "timer:stats() -> { ticks, skipped }", "Ticks run, and ticks skipped because the previous one was still running." },
    },
  },
  {
    name = "events",
    intro = "`local events = require \"moonpod.events\"` (preloaded in the REPL as `events`).",
    entries = {
      { "events.listener(config?, registry?) -> listener", "config: `client`, `event_types`, `container_filters`, `auto_reconnect`, `reconnect_delay`, `max_reconnect_attempts`, `event_buffer_size`, `event_batch_size`, `event_batch_timeout`, `sync_on_startup`, `events_file`." },
      { "listener:add_event_handler(fn)", "fn(event), in order, one at a time." },
      { "listener:add_async_event_handler(fn)", "fn(event), each call in its own task." },
      { "listener:add_batch_handler(fn)", "fn({ events }), per batch." },
      { "listener:start()", "Starts following the engine's events." },
      { "listener:stop()", "Stops; also when the listener is a to-be-closed value." },
      { "listener:get_stats() -> table", "events_received, events_processed, events_dropped, events_filtered, handler_errors, reconnects, gaps, pauses, uptime_seconds ..." },
    },
  },
  {
    name = "registry",
    intro = "`local registry = require \"moonpod.registry\"` (preloaded in the REPL as `registry`).",
    entries = {
      { "registry.new() -> registry", "An empty registry; a listener given it keeps it current." },
      { "registry:sync(client)", "Fills it from the engine." },
      { "registry:get(id_or_name) -> Container | nil", "One container." },
      { "registry:list(filters?) -> { Container }", "filters: `status`, `label`, `name` (a prefix), `runtime`, `health`." },
      { "registry:count() -> n", "How many containers it knows." },
      { "registry:on_change(fn)", "fn(container, old_status, new_status)." },
    },
  },
  {
    name = "stats",
    intro = "`local stats = require \"moonpod.stats\"` (preloaded in the REPL as `stats`): resource monitoring with history.",
    entries = {
      { "stats.monitor(config?) -> mon", "config: `client`, `interval` (s), `queue_size` (samples waiting for on_sample handlers, 1000; the oldest are dropped and counted), `history = { retention, path, flush_interval, max_pending }` (path: an SQLite file the history survives in, written every `flush_interval` s (5) with at most `max_pending` samples (100000) waiting for it; more are dropped and counted)." },
      { "mon:watch(id_or_name) / mon:unwatch(id_or_name)", "Samples a container / stops, dropping its history." },
      { "mon:watch_all{ filters = }", "Samples every running container, following starts and stops through the event listener." },
      { "mon:on_sample(fn)", "fn(ContainerStats) for every sample." },
      { "mon:latest(id_or_name) -> ContainerStats | nil", "The newest sample." },
      { "mon:history(id_or_name, { since, until, step }) -> { ContainerStats }", "Samples over a window, downsampled to `step` seconds." },
      { "mon:summary(id_or_name, metric, window?) -> { min, max, avg, last, count }", "Over the last `window` seconds (60)." },
      { "mon:serve_metrics{ host, port } -> server", "/metrics (Prometheus text format, cAdvisor's container_* names) and /healthz. Under `moonpod serve` a policy's monitors also show on the service's /metrics." },
      { "mon:close()", "Stops every stream and server; flushes the history store." },
    },
  },
  {
    name = "notify",
    intro = "`local notify = require \"moonpod.notify\"`: alerts for policies, as log lines and webhook POSTs.",
    entries = {
      { "notify.webhook{ url, retries, backoff, max_backoff, timeout, queue, headers } -> hook", "`hook(t)` queues t as a JSON POST, sent from a task of its own and retried with doubling backoff (5 retries from 0.5 s) until a 2xx answer; a full queue (100) drops the alert. `hook.stats`: `sent`, `failed`, `dropped`, `attempts`." },
      { "notify.alerter{ policy, webhook = url | {...} } -> alert, hook", "`alert{ event, container, message, ... }` logs a warning and, with a webhook (or MOONPOD_WEBHOOK_URL), POSTs it with `policy`, `time` and `host` added." },
    },
  },
  {
    name = "policykit",
    intro = "`local kit = require \"moonpod.policykit\"`: what the ready-made policies in scripts/policies share.",
    entries = {
      { "policykit.override(name, settings)", "In a wrapper policy, before `dofile` of a ready-made one: settings over its defaults." },
      { "policykit.config(name, defaults) -> config", "The defaults with the overrides for `name`; an unknown setting or one of the wrong type is an error." },
      { "policykit.for_container(config, labels, prefix, keys) -> settings", "config with each key replaced by the container's label `prefix .. key`, parsed as the setting's type." },
      { "policykit.selected(config, labels) -> boolean", "Whether a policy looks after the container: `config.all`, or the label `config.label` is \"true\"." },
      { "policykit.filters(config) -> container_filters", "The listener filter for the opt-in label (nil with `config.all`)." },
      { "policykit.alerter(name, config) -> alert", "notify.alerter with `config.webhook_url` (or MOONPOD_WEBHOOK_URL), `webhook_retries`, `webhook_backoff`." },
      { "policykit.backoff_delay(attempt, initial, max) -> seconds", "Docker's restart backoff: initial, doubling, capped at max." },
    },
  },
  {
    name = "term",
    intro = "`local term = require \"moonpod.term\"`: the terminal, for full-screen scripts such as `moonpod top` (lua/moonpod/top.lua). The REPL drives it too; its other functions are the REPL's own.",
    entries = {
      { "term.isatty(fd?) -> boolean", "Whether the file descriptor (default 0, stdin) is a terminal." },
      { "term.size() -> columns, rows", "The size of the terminal on stdout (80, 24 when it is not one)." },
      { "term.raw(on)", "`term.raw(true)`: keys arrive one by one, unechoed, Ctrl-C included (as \"\\3\"); `term.raw(false)` puts the terminal back (so does the end of the process). Raises when stdin is not a terminal." },
      { "term.read_key(timeout?) -> key | \"resize\" | \"eof\" | nil", "Waits, without blocking the loop, for the next key: its bytes (an escape sequence whole, \"\\27[A\" for Up); \"resize\" when the window changed size; \"eof\" when input ended; nil after `timeout` seconds. One task at a time." },
    },
  },
  {
    name = "repl",
    intro = "At the prompt (`moonpod`, `moonpod -i`): globals `moonpod`, `client` (connected on first use), `events`, `registry`, `stats` (when present), `help`.",
    entries = {
      { "help(what?)", "This reference: everything, a section (`help(\"client\")`), or one entry (`help(client.get_container_stats)`, `help(\"get_events\")`)." },
      { "_PROMPT, _PROMPT2", "The prompts (default \"> \" and \">> \")." },
      { "moonpod top [--interval SECONDS] [engine=url ...]", "A full-screen live view of the containers, redrawn every `--interval` (or `-d`) seconds (2); several engines through moonpod.multi with `name=url` arguments (a Lua script on this API: lua/moonpod/top.lua)." },
    },
  },
}

local function entry_name(sig)
  return sig:match("^([%w_.:]+)") or sig
end

-- Where the C core keeps the methods of its objects.
local function method_tables()
  local reg = debug.getregistry()
  local function index_of(mt_name)
    local mt = reg[mt_name]
    if type(mt) ~= "table" then return nil end
    return type(mt.methods) == "table" and mt.methods or (type(mt.__index) == "table" and mt.__index or nil)
  end
  local ok_ev, events = pcall(require, "moonpod.events")
  local ok_reg, registry = pcall(require, "moonpod.registry")
  local ok_term, term = pcall(require, "moonpod.term")
  return {
    moonpod = require "moonpod",
    client = index_of("moonpod.client"),
    task = index_of("moonpod.task"),
    timer = index_of("moonpod.timer"),
    stream = index_of("moonpod.stream"),
    events = ok_ev and events or nil,
    term = ok_term and term or nil,
    registry = ok_reg and registry or nil,
  }
end

local function value_of(tables, name)
  local head, rest = name:match("^([%w_]+)[.:](.+)$")
  local t = head and tables[head]
  if head == "registry" and name:find(":", 1, true) then
    t = getmetatable(tables.registry.new())
  end
  for part in (rest or ""):gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = rawget(t, part)
  end
  return rest and t or nil
end

--- Finds an entry: by the value it documents (a function or a module),
--- by its full name ("client:get_container") or by its last part
--- ("get_container"). Returns entry, section.
function M.find(what)
  local tables = method_tables()
  for _, s in ipairs(M.sections) do
    for _, e in ipairs(s.entries) do
      local name = entry_name(e[1])
      if type(what) == "string" then
        if name == what or name:match("[.:]([%w_]+)$") == what then return e, s end
      elseif what ~= nil and value_of(tables, name) == what then
        return e, s
      end
    end
  end
  return nil
end

local function section_named(what)
  for _, s in ipairs(M.sections) do
    if s.name == what then return s end
  end
  local tables = method_tables()
  if type(what) ~= "string" then
    for _, s in ipairs(M.sections) do
      if tables[s.name] ~= nil and tables[s.name] == what then return s end
    end
    if getmetatable(what) == debug.getregistry()["moonpod.client"] then return section_named("client") end
  end
end

local function wrap(text, width, lead)
  local lines, cur = {}, lead
  for word in text:gmatch("%S+") do
    if #cur > #lead and #cur + 1 + #word > width then
      lines[#lines + 1] = cur
      cur = lead .. word
    else
      cur = cur == lead and (lead .. word) or (cur .. " " .. word)
    end
  end
  lines[#lines + 1] = cur
  return table.concat(lines, "\n")
end

local function section_text(s, full)
  local out = { "-- " .. s.name .. ": " .. s.intro:gsub("`", "") }
  for _, e in ipairs(s.entries) do
    out[#out + 1] = "  " .. e[1]
    if full then out[#out + 1] = wrap((e[2]:gsub("`", "")), 78, "      ") end
  end
  return table.concat(out, "\n")
end

--- The text help() prints for `what` (see help).
function M.text(what)
  if what == nil then
    local out = {}
    for _, s in ipairs(M.sections) do out[#out + 1] = section_text(s, false) end
    out[#out + 1] = "help(x) for one entry or one section, e.g. help(client.get_container_stats), help(\"events\")"
    return table.concat(out, "\n")
  end
  local s = section_named(what)
  if s then return section_text(s, true) end
  local e = M.find(what)
  if e then return e[1] .. "\n" .. wrap((e[2]:gsub("`", "")), 78, "    ") end
  return "no help for " .. tostring(what)
end

--- help(what?): prints the API reference, one section, or one entry.
function M.help(what)
  print(M.text(what))
end

--- The reference as markdown: the README's "API reference" section.
function M.markdown()
  local out = {}
  for _, s in ipairs(M.sections) do
    out[#out + 1] = "### " .. s.name
    out[#out + 1] = ""
    out[#out + 1] = s.intro
    out[#out + 1] = ""
    out[#out + 1] = "| | |"
    out[#out + 1] = "|---|---|"
    for _, e in ipairs(s.entries) do
      out[#out + 1] = ("| `%s` | %s |"):format((e[1]:gsub("|", "\\|")), (e[2]:gsub("|", "\\|")))
    end
    out[#out + 1] = ""
  end
  return table.concat(out, "\n")
end

return M
