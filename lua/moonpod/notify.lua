--- moonpod.notify: alerts for policies — always a log line, and a JSON
-- POST to a webhook when one is configured, retried with exponential
-- backoff from a task of its own, so that the policy's handler never waits
-- on a slow receiver.
--
--   local notify = require "moonpod.notify"
--   local alert = notify.alerter { policy = "autoheal", webhook = { url = "http://..." } }
--   alert { event = "restarted", container = name, message = "..." }

local core = require "moonpod.core"

local M = {}

local function log_alert(policy, ev)
  core.log.warn("alert%s: %s %s%s", policy and (" from " .. policy) or "", tostring(ev.event or "alert"),
    tostring(ev.container or ""), ev.message and (" — " .. tostring(ev.message)) or "")
end

--- notify.webhook{ url, retries = 5, backoff = 0.5, max_backoff = 30, timeout = 5,
--- queue = 100, headers = {} } -> webhook: `webhook(t)` queues t as a JSON POST;
--- `webhook.stats` counts sent, failed (gave up after the retries), dropped (queue full)
--- and attempts. A 2xx answer is success; anything else, or no answer, is retried.
function M.webhook(opts)
  assert(type(opts) == "table" and type(opts.url) == "string", "notify.webhook: url is required")
  local url = opts.url
  local retries = opts.retries or 5
  local backoff = opts.backoff or 0.5
  local max_backoff = opts.max_backoff or 30
  local timeout = opts.timeout or 5
  local limit = opts.queue or 100
  local headers = { ["Content-Type"] = "application/json" }
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local queue, sender = {}, nil
  local stats = { sent = 0, failed = 0, dropped = 0, attempts = 0 }

  local function post(body)
    local delay = backoff
    for attempt = 1, retries + 1 do
      stats.attempts = stats.attempts + 1
      local ok, res = pcall(core.http.request, { method = "POST", url = url, body = body, headers = headers, timeout = timeout })
      if ok and res.status >= 200 and res.status < 300 then
        stats.sent = stats.sent + 1
        return
      end
      local why = ok and ("HTTP " .. res.status) or tostring(res)
      if attempt > retries then
        stats.failed = stats.failed + 1
        core.log.error("webhook %s: gave up after %d attempts (%s)", url, attempt, why)
        return
      end
      core.log.warn("webhook %s: attempt %d failed (%s), retrying in %.1f s", url, attempt, why, delay)
      core.sleep(delay)
      delay = math.min(delay * 2, max_backoff)
    end
  end

  local function drain()
    while #queue > 0 do
      post(table.remove(queue, 1))
    end
    sender = nil
  end

  return setmetatable({ stats = stats, url = url }, {
    __call = function(_, t)
      if #queue >= limit then
        stats.dropped = stats.dropped + 1
        core.log.error("webhook %s: queue full (%d), alert dropped", url, limit)
        return false
      end
      queue[#queue + 1] = core.json.encode(t)
      if not sender then sender = core.spawn(drain) end
      return true
    end,
  })
end

--- notify.alerter{ policy = name, webhook = url | { url, retries, ... } } -> alert:
--- `alert{ event =, container =, message =, ... }` logs the alert and, when a
--- webhook is configured (or MOONPOD_WEBHOOK_URL is set), POSTs it as JSON
--- with `policy`, `time` and `host` added.
function M.alerter(opts)
  opts = opts or {}
  local wh = opts.webhook
  if wh == nil or wh == "" then wh = os.getenv("MOONPOD_WEBHOOK_URL") end
  if wh == "" then wh = nil end
  if type(wh) == "string" then wh = { url = wh } end
  local hook = wh and M.webhook(wh)
  local host = os.getenv("HOSTNAME")
  local alert = function(ev)
    ev.policy = ev.policy or opts.policy
    ev.time = ev.time or core.now()
    ev.host = ev.host or host
    log_alert(opts.policy, ev)
    if hook then hook(ev) end
  end
  return alert, hook
end

return M
