-- The remote transports against the harness's loopback services:
-- https:// with client certificates to the private dockerd, ssh:// through
-- the private sshd to the private Podman socket, and HTTP basic auth
-- through the private nginx in front of Podman (scripts/dev/transports.sh).

local moonpod = require "moonpod"
local engine = require "helpers.engine"

local MOONPOD = os.getenv("MOONPOD_BIN") or "./moonpod"

local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a failure")
  assert.is_true(moonpod.is_error(err), "expected an error object, got " .. tostring(err))
  return err
end

-- The local ports of this process's established connections to `port`:
-- one entry, the same before and after many requests, means one reused
-- connection.
local function connections_to(port)
  local r = moonpod.run { "ss", "-Htnp", "state", "established", "dport", "=", ":" .. port }
  local mine = {}
  for line in r.stdout:gmatch("[^\n]+") do
    if line:find("pid=" .. engine.pid() .. ",", 1, true) then
      mine[#mine + 1] = line:match("^%S+%s+%S+%s+(%S+)")
    end
  end
  table.sort(mine)
  return mine
end

-- The same for a unix socket: the inodes of this process's connections
-- to the socket at `path`. ss shows the listener's side of each accepted
-- connection with `path` as its local address and our end's inode as its
-- peer; our end is then found among this process's sockets.
local function unix_connections_to(path)
  local accepted = {}
  local r = moonpod.run { "ss", "-Hx", "src", path }
  assert.is_true(r.ok, r.stderr)
  for line in r.stdout:gmatch("[^\n]+") do
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    -- u_str ESTAB recv send <path> <inode> * <peer inode>
    if f[2] == "ESTAB" and f[5] == path then accepted[f[8]] = true end
  end
  local all = moonpod.run { "ss", "-Hxp" }
  assert.is_true(all.ok, all.stderr)
  local mine = {}
  for line in all.stdout:gmatch("[^\n]+") do
    if line:find("pid=" .. engine.pid() .. ",", 1, true) then
      local inode = line:match("^%S+%s+ESTAB%s+%S+%s+%S+%s+%S+%s+(%d+)")
      if inode and accepted[inode] then mine[#mine + 1] = inode end
    end
  end
  table.sort(mine)
  return mine
end

-- One connection, the same one before and after 50 requests. `count`
-- lists the client's connections to the engine (see over_tcp, over_unix
-- and unix_client).
local function assert_one_connection(client, count)
  client:list_containers()
  local before = count()
  assert.are.equal(1, #before, "connections: " .. table.concat(before, " "))
  for _ = 1, 50 do client:list_containers { all = true } end
  assert.are.same(before, count())
end

local function over_tcp(port)
  return function() return connections_to(port) end
end

local function over_unix(path)
  return function() return unix_connections_to(path) end
end

-- A client of the engine's unix socket whose connections can be told from
-- the others of this process (earlier specs' pooled ones, other clients):
-- it connects through a path of its own (a symlink; curl pools by path),
-- and `count()` lists the connections to the socket made since.
local function unix_client(name)
  local sock = engine.socket(name)
  local link = ("%s/%s.sock"):format(os.getenv("MOONPOD_TEST_TMP") or "/tmp", engine.unique("tr"))
  assert.is_true(moonpod.run({ "ln", "-s", sock, link }).ok)
  local old = {}
  for _, inode in ipairs(unix_connections_to(sock)) do old[inode] = true end
  local client = moonpod.connect { socket_path = link }
  local function count()
    local new = {}
    for _, inode in ipairs(unix_connections_to(sock)) do
      if not old[inode] then new[#new + 1] = inode end
    end
    return new
  end
  local function close()
    client:close()
    os.remove(link)
  end
  return client, count, close
end

for _, name in ipairs { "podman", "docker" } do
  describe("a unix socket to " .. name, function()
    it("serves request after request on one connection", function()
      local client, count, close = unix_client(name)
      assert.are.equal("unix", client.transport)
      assert.are.same({}, unix_connections_to(engine.socket(name) .. ".none"))
      assert_one_connection(client, count)
      -- an open stream holds a connection of its own, so a request made
      -- meanwhile needs a second one: the count sees both
      local events = client:get_events {}
      client:ping()
      assert.are.equal(2, #count())
      events:close()
      assert.is_true(engine.wait_for(function() return #count() <= 1 end, 5),
        "the closed stream's connection is still open")
      close()
    end)

    it("keeps its connection out of child processes", function()
      local client, count, close = unix_client(name)
      client:list_containers()
      local mine = count()
      assert.are.equal(1, #mine)
      -- a child that held it would keep it open at the engine after close
      local r = moonpod.run { "sh", "-c", 'ls -l "/proc/$$/fd"' }
      assert.is_true(r.ok, r.stderr)
      assert.is_nil(r.stdout:find("socket:[" .. mine[1] .. "]", 1, true), "the child has the connection:\n" .. r.stdout)
      close()
    end)
  end)
end

describe("https:// to Docker", function()
  local url, certs, port

  setup(function()
    url = engine.env("MOONPOD_TEST_DOCKER_TLS_URL")
    certs = engine.env("MOONPOD_TEST_CERT_DIR")
    port = url:match(":(%d+)$")
  end)

  local function tls(extra)
    local cfg = { remote_url = url, tls_ca = certs .. "/ca.pem", tls_cert = certs .. "/cert.pem",
                  tls_key = certs .. "/key.pem" }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    return cfg
  end

  it("connects with the client certificate from the config", function()
    local client = moonpod.connect(tls())
    assert.are.equal("docker", client.runtime)
    assert.are.equal("tls", client.transport)
    assert.are.equal(url, client.endpoint)
    assert.are.equal("table", type(client:list_containers { all = true }))
    assert_one_connection(client, over_tcp(port))
    client:close()
  end)

  it("reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH like the docker CLI", function()
    local code = [[
      local c = require("moonpod").connect()
      print(c.runtime, c.transport, c.endpoint, type(c:list_containers()))
    ]]
    local r = moonpod.run({ MOONPOD, "-e", code }, {
      timeout = 60,
      env = { DOCKER_HOST = url:gsub("^https", "tcp"), DOCKER_TLS_VERIFY = "1", DOCKER_CERT_PATH = certs,
              CONTAINER_HOST = false, XDG_RUNTIME_DIR = false },
    })
    assert.is_true(r.ok, r.stderr)
    assert.are.equal(("docker\ttls\t%s\ttable\n"):format(url), r.stdout)
  end)

  it("refuses a server whose certificate is not from the given CA", function()
    local err = failure(moonpod.connect, tls { tls_ca = engine.env("MOONPOD_TEST_OTHER_CA") })
    assert.are.equal("connection", err.kind)
    assert.matches("TLS certificate verification failed", err.message)
    assert.matches("tls_verify = false", err.message)
  end)

  it("accepts it with tls_verify = false (insecure)", function()
    local client = moonpod.connect(tls { tls_ca = engine.env("MOONPOD_TEST_OTHER_CA"), tls_verify = false })
    assert.are.equal("tls", client.transport)
    assert.are.equal("table", type(client:list_containers()))
    client:close()
  end)

  it("is refused without a client certificate", function()
    local err = failure(moonpod.connect, { remote_url = url, tls_ca = certs .. "/ca.pem" })
    assert.are.equal("connection", err.kind)
    assert.matches("TLS", err.message)
    assert.matches("tls_cert", err.message)
  end)
end)

describe("ssh:// to Podman", function()
  local url, key, known

  setup(function()
    url = engine.env("MOONPOD_TEST_SSH_URL")
    key = engine.env("MOONPOD_TEST_SSH_KEY")
    known = engine.env("MOONPOD_TEST_SSH_KNOWN_HOSTS")
  end)

  local function ssh(extra)
    local cfg = { remote_url = url, identity_file = key, ssh_options = { "UserKnownHostsFile=" .. known },
                  connect_timeout = 20 }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    return cfg
  end

  local function no_ssh_left(before)
    return engine.wait_for(function() return #engine.children("ssh") == before end, 5)
  end

  it("runs requests through one ssh child, which goes with client:close()", function()
    local before = #engine.children("ssh")
    local client = moonpod.connect(ssh())
    assert.are.equal("podman", client.runtime)
    assert.are.equal("ssh", client.transport)
    assert.are.equal(url, client.endpoint)
    local tunnel = engine.children("ssh")
    assert.are.equal(before + 1, #tunnel)
    for _ = 1, 40 do assert.are.equal("table", type(client:list_containers { all = true })) end
    assert.are.same(tunnel, engine.children("ssh"))
    client:close()
    assert.is_true(no_ssh_left(before), "the ssh child is still there after close()")
    assert.has_error(function() client:list_containers() end)
  end)

  -- The local end of a tunnel: the unix socket its ssh child listens on.
  local function tunnel_socket(ssh_pid)
    local r = moonpod.run { "ss", "-Hxlp" }
    for line in r.stdout:gmatch("[^\n]+") do
      if line:find("pid=" .. ssh_pid .. ",", 1, true) then return line:match("^%S+%s+%S+%s+%S+%s+%S+%s+(%S+)") end
    end
  end

  it("serves request after request on one connection through the tunnel", function()
    local before = engine.children("ssh")
    local client = moonpod.connect(ssh())
    local pid
    for _, p in ipairs(engine.children("ssh")) do
      if not table.concat(before, " "):find(p, 1, true) then pid = p end
    end
    local path = tunnel_socket(pid)
    assert.is_string(path, "ssh " .. tostring(pid) .. " listens on no unix socket")
    assert_one_connection(client, over_unix(path))
    client:close()
  end)

  it("stops ssh when the client is garbage-collected", function()
    local before = #engine.children("ssh")
    local client = moonpod.connect(ssh())
    client:ping()
    assert.are.equal(before + 1, #engine.children("ssh"))
    client = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_true(no_ssh_left(before), "the ssh child is still there after collection")
  end)

  it("says what ssh said when the key is refused, and leaves no ssh behind", function()
    local before = #engine.children("ssh")
    local err = failure(moonpod.connect, ssh { identity_file = engine.env("MOONPOD_TEST_SSH_BAD_KEY") })
    assert.are.equal("connection", err.kind)
    assert.matches("Permission denied", err.message)
    assert.matches("127.0.0.1", err.message)
    assert.is_true(no_ssh_left(before))
  end)

  it("is a connection error when nothing listens on the ssh port", function()
    local err = failure(moonpod.connect, ssh { remote_url = "ssh://root@127.0.0.1:1/run/podman/podman.sock" })
    assert.are.equal("connection", err.kind)
    assert.matches("refused", err.message)
  end)

  -- The child prints its ssh's pid and ends as told; that ssh must not outlive it.
  local function child_ssh_outlives(how)
    local code = ([[
      local moonpod = require "moonpod"
      local c = moonpod.connect { remote_url = %q, identity_file = %q,
                                  ssh_options = { "UserKnownHostsFile=" .. %q }, connect_timeout = 20 }
      local me = io.open("/proc/self/stat"):read("l"):match("^%%d+")
      print(moonpod.run({ "pgrep", "-P", me, "-x", "ssh" }).stdout)
      io.stdout:flush()
      %s
    ]]):format(url, key, known, how)
    -- a SIGKILLed moonpod can't remove its tunnel's directory: give it a scratch TMPDIR
    local scratch = ("%s/%s"):format(os.getenv("MOONPOD_TEST_TMP") or "/tmp", engine.unique("ssh"))
    assert.is_true(moonpod.run({ "mkdir", "-m", "0700", scratch }).ok)
    local r = moonpod.run({ MOONPOD, "-e", code }, { timeout = 4, env = { CONTAINER_HOST = false, TMPDIR = scratch } })
    moonpod.run { "rm", "-rf", "--", scratch }
    local pid = r.stdout:match("%d+")
    assert.is_not_nil(pid, "the child reported no ssh: " .. r.stderr)
    return not engine.wait_for(function() return not engine.alive(pid) end, 5)
  end

  it("leaves no ssh behind when the process ends normally, by exit, or is killed", function()
    assert.is_false(child_ssh_outlives(""), "after a normal end")
    assert.is_false(child_ssh_outlives("os.exit(3)"), "after os.exit")
    -- run's timeout SIGKILLs the child: only the kernel (pdeathsig) is left to act
    assert.is_false(child_ssh_outlives("moonpod.sleep(60)"), "after SIGKILL")
  end)
end)

describe("HTTP basic auth", function()
  local url, user, password, port

  setup(function()
    url = engine.env("MOONPOD_TEST_AUTH_URL")
    user = engine.env("MOONPOD_TEST_AUTH_USER")
    password = engine.env("MOONPOD_TEST_AUTH_PASSWORD")
    port = url:match(":(%d+)$")
  end)

  it("passes the proxy with the right credentials, on one connection", function()
    local client = moonpod.connect { remote_url = url, username = user, password = password }
    assert.are.equal("podman", client.runtime)
    assert.are.equal("tcp", client.transport)
    assert.are.equal(url:gsub("^http", "tcp"), client.endpoint)
    assert_one_connection(client, over_tcp(port))
    client:close()
  end)

  it("takes credentials from the URL too, and never shows them", function()
    local client = moonpod.connect { remote_url = url:gsub("//", "//" .. user .. ":" .. password .. "@") }
    assert.are.equal("podman", client.runtime)
    assert.is_nil(client.endpoint:find(password, 1, true))
    client:close()
  end)

  it("is an api error with status 401 and a clear message when the password is wrong", function()
    local err = failure(moonpod.connect, { remote_url = url, username = user, password = "wrong" })
    assert.are.equal("api", err.kind)
    assert.are.equal(401, err.status_code)
    assert.matches("authentication failed", err.message)
    assert.is_nil(err.message:find("wrong", 1, true))
  end)

  it("says credentials are wanted when none were given", function()
    local err = failure(moonpod.connect, { remote_url = url })
    assert.are.equal(401, err.status_code)
    assert.matches("username and password", err.message)
  end)
end)
