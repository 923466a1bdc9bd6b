# shellcheck shell=bash
# Remote transports for the test engines, sourced by engines.sh (which owns
# log, die, launch, live_pid, stop_pid, pid_running, wait_gone):
#
#   TLS    a private CA, a server certificate (SAN 127.0.0.1, localhost) and
#          a client certificate, made with openssl; dockerd also listens on
#          tcp://127.0.0.1:PORT with --tlsverify (see docker_launch).
#   SSH    an sshd on 127.0.0.1:PORT with its own host key, authorising a
#          harness-made key for root, so that ssh -L can forward the private
#          Podman socket.
#   AUTH   an nginx on 127.0.0.1:PORT asking for HTTP basic auth and proxying
#          to the private Podman socket.
#
# Everything lives under $STATE (tls/, ssh/, nginx/, ports.env); ports are
# picked at random among the free ones below Linux's ephemeral range and kept
# in ports.env across runs while they stay free. Only /run/sshd is outside
# $STATE: Debian's sshd insists on that privilege-separation directory.

readonly PORT_MIN=20000 PORT_SPAN=12000   # 20000-31999: no ephemeral port collides
readonly AUTH_USER="moonpod"

transports_paths() {
    TLS_DIR="$STATE/tls"
    TLS_CLIENT_DIR="$TLS_DIR/client"   # laid out as DOCKER_CERT_PATH wants it
    S="$STATE/ssh"
    SSH_CONF="$S/sshd_config"
    SSH_PIDFILE="$S/sshd.pid"
    SSH_LOG="$S/sshd.log"
    N="$STATE/nginx"
    NGINX_CONF="$N/nginx.conf"
    NGINX_PIDFILE="$N/nginx.pid"
    NGINX_LOG="$N/nginx.log"
    PORTS_FILE="$STATE/ports.env"
    DOCKER_TLS_PORT="" SSH_PORT="" AUTH_PORT=""
    if [[ -r "$PORTS_FILE" ]]; then
        # written by save_ports below: three NAME=digits lines
        local name value
        while IFS='=' read -r name value; do
            [[ "$value" =~ ^[0-9]+$ ]] || continue
            case "$name" in
                DOCKER_TLS_PORT|SSH_PORT|AUTH_PORT) printf -v "$name" '%s' "$value" ;;
            esac
        done <"$PORTS_FILE"
    fi
}

save_ports() {
    printf 'DOCKER_TLS_PORT=%s\nSSH_PORT=%s\nAUTH_PORT=%s\n' \
        "$DOCKER_TLS_PORT" "$SSH_PORT" "$AUTH_PORT" >"$PORTS_FILE.tmp"
    mv "$PORTS_FILE.tmp" "$PORTS_FILE"
}

port_free() {
    [[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
}

# Sets the variable named $1 to a free port: its saved value when that is
# still free, else a random free one no other service of ours has.
choose_port() {
    local var="$1" port tries
    port="${!var}"
    if [[ -n "$port" ]] && port_free "$port"; then
        return 0
    fi
    for tries in $(seq 1 200); do
        port=$(( PORT_MIN + RANDOM % PORT_SPAN ))
        [[ "$port" != "$DOCKER_TLS_PORT" && "$port" != "$SSH_PORT" && "$port" != "$AUTH_PORT" ]] || continue
        if port_free "$port"; then
            printf -v "$var" '%s' "$port"
            save_ports
            return 0
        fi
    done
    die "no free TCP port found on 127.0.0.1 after $tries tries"
}

# Waits up to START_DEADLINE for "$check" to succeed while pid $2 lives.
wait_until() {
    local name="$1" pid="$2" logfile="$3" check="$4" t0="$5"
    local deadline=$(( t0 + START_DEADLINE * 1000 ))
    until "$check"; do
        if ! pid_running "$pid"; then
            log_tail "$logfile"
            die "$name exited during start-up (see $logfile)"
        fi
        if (( $(now_ms) > deadline )); then
            log_tail "$logfile"
            die "$name did not come up within ${START_DEADLINE}s (see $logfile)"
        fi
        sleep 0.05
    done
}

# All descendants of pid $1, deepest last. sshd's per-connection processes
# (and nginx's workers) outlive a master killed first.
descendants() {
    local kid
    for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        printf '%s\n' "$kid"
        descendants "$kid"
    done
}

# stop_tree PIDFILE NEEDLE WHAT: the process and everything under it.
stop_tree() {
    local pidfile="$1" needle="$2" what="$3" pid kids=() kid
    pid="$(live_pid "$pidfile" "$needle")" || { rm -f -- "$pidfile"; return 0; }
    mapfile -t kids < <(descendants "$pid")
    stop_pid "$pid" "$what"
    for kid in "${kids[@]}"; do
        if pid_running "$kid"; then
            kill -KILL "$kid" 2>/dev/null || true
            wait_gone "$kid" 50 || log "$what: pid $kid survived SIGKILL"
        fi
    done
    rm -f -- "$pidfile"
}

# ------------------------------------------------------------------ TLS ----

# sign CSR_SUBJECT KEY OUT EXTENSIONS: a certificate signed by our CA.
tls_sign() {
    local subject="$1" key="$2" out="$3" ext="$4"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
    openssl req -new -key "$key" -subj "$subject" -out "$out.csr"
    printf '%s\n' "$ext" >"$out.ext"
    openssl x509 -req -in "$out.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" \
        -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 3650 \
        -extfile "$out.ext" -out "$out" 2>/dev/null
    rm -f -- "$out.csr" "$out.ext"
}

# self_signed_ca KEY CERT CN
tls_ca() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    openssl req -new -x509 -key "$1" -subj "/CN=$3" -days 3650 -out "$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# The CA, server and client certificates, and a second CA nobody signed
# anything with (for "wrong CA" tests). Made once; kept across runs.
tls_make_certs() {
    [[ -s "$TLS_CLIENT_DIR/key.pem" && -s "$TLS_DIR/other-ca.pem" ]] && return 0
    local old_umask
    old_umask="$(umask)"
    umask 077
    rm -rf -- "$TLS_DIR"
    mkdir -p "$TLS_CLIENT_DIR"
    tls_ca "$TLS_DIR/ca-key.pem" "$TLS_DIR/ca.pem" "moonpod test CA"
    tls_sign "/CN=localhost" "$TLS_DIR/server-key.pem" "$TLS_DIR/server-cert.pem" \
        "$(printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth' \
            'keyUsage=critical,digitalSignature')"
    tls_sign "/CN=moonpod-test-client" "$TLS_CLIENT_DIR/key.pem" "$TLS_CLIENT_DIR/cert.pem" \
        "$(printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature')"
    cp "$TLS_DIR/ca.pem" "$TLS_CLIENT_DIR/ca.pem"
    tls_ca "$TLS_DIR/other-ca-key.pem" "$TLS_DIR/other-ca.pem" "moonpod unrelated CA"
    umask "$old_umask"
    log "tls: made a CA, server and client certificates in $TLS_DIR"
}

# dockerd's extra listener: mutual TLS on 127.0.0.1 only.
docker_tls_args() {
    printf '%s\n' --host "tcp://127.0.0.1:$DOCKER_TLS_PORT" --tlsverify \
        --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/server-cert.pem" --tlskey "$TLS_DIR/server-key.pem"
}

docker_tls_up() {
    local body
    [[ -n "$DOCKER_TLS_PORT" && -s "$TLS_CLIENT_DIR/key.pem" ]] || return 1
    body="$(curl -s --max-time 2 --cacert "$TLS_CLIENT_DIR/ca.pem" --cert "$TLS_CLIENT_DIR/cert.pem" \
        --key "$TLS_CLIENT_DIR/key.pem" "https://127.0.0.1:$DOCKER_TLS_PORT/_ping" 2>/dev/null)" || return 1
    [[ "$body" == "OK" ]]
}

# ------------------------------------------------------------------ SSH ----

ssh_make_keys() {
    mkdir -p "$S"
    chmod 0700 "$S"
    local k
    for k in host_ed25519_key client_key bad_key; do
        [[ -s "$S/$k" ]] || ssh-keygen -q -t ed25519 -N '' -C "moonpod-test-$k" -f "$S/$k"
    done
    cp "$S/client_key.pub" "$S/authorized_keys"
}

ssh_write_conf() {
    cat >"$SSH_CONF" <<EOF
# Written by scripts/dev/engines.sh: a private sshd for the ssh:// transport tests.
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519_key
PidFile $SSH_PIDFILE
AuthorizedKeysFile $S/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowStreamLocalForwarding local
# sshd grants -L permission to unix sockets only along with TCP ones: with
# "AllowTcpForwarding no" every direct-streamlocal request is denied
AllowTcpForwarding local
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
UseDNS no
MaxStartups 100:30:200
LogLevel VERBOSE
EOF
    # what a client should trust: this host key, at this address and port
    printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$S/host_ed25519_key.pub")" >"$S/known_hosts"
}

ssh_banner() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 4 <&3' _ "$SSH_PORT" 2>/dev/null
}

sshd_up() {
    [[ -n "$SSH_PORT" ]] && live_pid "$SSH_PIDFILE" "$SSH_CONF" >/dev/null && [[ "$(ssh_banner)" == "SSH-" ]]
}

sshd_start() {
    local t0 pid
    t0="$(now_ms)"
    if sshd_up; then
        log "sshd: reused on 127.0.0.1:$SSH_PORT"
        return 0
    fi
    stop_tree "$SSH_PIDFILE" "$SSH_CONF" sshd
    ssh_make_keys
    choose_port SSH_PORT
    ssh_write_conf
    install -d -m 0755 /run/sshd
    /usr/sbin/sshd -t -f "$SSH_CONF" 2>"$SSH_LOG" || { log_tail "$SSH_LOG"; die "sshd: bad configuration"; }
    # -D: in the foreground (launch detaches it); -e: log to its log file
    pid="$(launch "$SSH_LOG" /usr/sbin/sshd -D -e -f "$SSH_CONF")"
    wait_until sshd "$pid" "$SSH_LOG" sshd_up "$t0"
    log "sshd: started in $(( $(now_ms) - t0 )) ms on 127.0.0.1:$SSH_PORT"
}

sshd_stop() {
    stop_tree "$SSH_PIDFILE" "$SSH_CONF" sshd
}

# ---------------------------------------------------------------- nginx ----

nginx_password() {
    if [[ ! -s "$N/password" ]]; then
        (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$N/password")
    fi
    cat "$N/password"
}

nginx_write_conf() {
    mkdir -p "$N/tmp"
    local pw
    pw="$(nginx_password)"
    (umask 077 && printf '%s:%s\n' "$AUTH_USER" "$(openssl passwd -apr1 "$pw")" >"$N/htpasswd")
    cat >"$NGINX_CONF" <<EOF
# Written by scripts/dev/engines.sh: basic auth in front of the private Podman socket.
daemon off;
worker_processes 1;
user root;
pid $NGINX_PIDFILE;
error_log $NGINX_LOG info;
events { worker_connections 512; }
http {
    access_log $N/access.log;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    keepalive_timeout 600s;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$AUTH_PORT;
        auth_basic "moonpod test engine";
        auth_basic_user_file $N/htpasswd;
        client_max_body_size 0;
        location / {
            proxy_pass http://unix:$PODMAN_SOCK;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # streams (events, logs, stats) pass through as they come, for hours
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 24h;
            proxy_send_timeout 24h;
        }
    }
}
EOF
}

nginx_up() {
    local body
    [[ -n "$AUTH_PORT" && -s "$N/password" ]] || return 1
    live_pid "$NGINX_PIDFILE" "$NGINX_CONF" >/dev/null || return 1
    body="$(curl -s --max-time 2 -u "$AUTH_USER:$(cat "$N/password")" \
        "http://127.0.0.1:$AUTH_PORT/_ping" 2>/dev/null)" || return 1
    [[ "$body" == "OK" ]]
}

nginx_start() {
    local t0 pid
    t0="$(now_ms)"
    if nginx_up; then
        log "nginx: reused on 127.0.0.1:$AUTH_PORT"
        return 0
    fi
    stop_tree "$NGINX_PIDFILE" "$NGINX_CONF" nginx
    mkdir -p "$N"
    choose_port AUTH_PORT
    nginx_write_conf
    : >"$NGINX_LOG"
    nginx -t -q -p "$N" -c "$NGINX_CONF" 2>>"$NGINX_LOG" || { log_tail "$NGINX_LOG"; die "nginx: bad configuration"; }
    pid="$(launch "$NGINX_LOG" nginx -p "$N" -c "$NGINX_CONF")"
    wait_until nginx "$pid" "$NGINX_LOG" nginx_up "$t0"
    log "nginx: started in $(( $(now_ms) - t0 )) ms on 127.0.0.1:$AUTH_PORT"
}

nginx_stop() {
    stop_tree "$NGINX_PIDFILE" "$NGINX_CONF" nginx
}

# ------------------------------------------------------------------ env ----

# Exports for the specs, for the services that answer.
transports_env() {
    if docker_tls_up; then
        printf 'export MOONPOD_TEST_DOCKER_TLS_URL=%q\n' "https://127.0.0.1:$DOCKER_TLS_PORT"
        printf 'export MOONPOD_TEST_CERT_DIR=%q\n' "$TLS_CLIENT_DIR"
        printf 'export MOONPOD_TEST_OTHER_CA=%q\n' "$TLS_DIR/other-ca.pem"
    fi
    if sshd_up; then
        printf 'export MOONPOD_TEST_SSH_URL=%q\n' "ssh://root@127.0.0.1:$SSH_PORT$PODMAN_SOCK"
        printf 'export MOONPOD_TEST_SSH_KEY=%q\n' "$S/client_key"
        printf 'export MOONPOD_TEST_SSH_BAD_KEY=%q\n' "$S/bad_key"
        printf 'export MOONPOD_TEST_SSH_KNOWN_HOSTS=%q\n' "$S/known_hosts"
    fi
    if nginx_up; then
        printf 'export MOONPOD_TEST_AUTH_URL=%q\n' "http://127.0.0.1:$AUTH_PORT"
        printf 'export MOONPOD_TEST_AUTH_USER=%q\n' "$AUTH_USER"
        printf 'export MOONPOD_TEST_AUTH_PASSWORD=%q\n' "$(cat "$N/password")"
    fi
}
