#!/usr/bin/env bash
# Test-engine harness: a private Podman API service and a private Docker
# Engine (with its own containerd), for the test suite, the demo and the
# benchmarks. Nothing here touches a user's engines or storage.
#
# With them, the remote transports (scripts/dev/transports.sh): dockerd also
# listens on 127.0.0.1 with mutual TLS, and Podman's socket is reachable
# through a private sshd (ssh -L) and a private nginx asking for basic auth.
# They start and stop with their engine.
#
#   engines.sh start  [podman|docker|all]   start (or reuse) and import the test image
#   engines.sh stop   [podman|docker|all]   stop services, their containers, unmount
#   engines.sh status [podman|docker|all]   exit 0 when all named engines answer
#   engines.sh clean                        stop all and remove the state dir
#   engines.sh env                          print the path of the env.sh to source
#
# State dir: $MOONPOD_ENGINES_DIR, else <repo>/build/engines. See
# scripts/dev/ENGINES-NOTES.md for why each setting is what it is.
set -euo pipefail

readonly PROG="engines.sh"
readonly PODMAN_IMAGE="localhost/moonpod-test:latest"
readonly DOCKER_IMAGE="moonpod-test:latest"
readonly APPLETS=(sh sleep echo cat yes top ls true false kill wc head tail dd
                  date env printf grep sed seq)
readonly START_DEADLINE=60   # seconds; a cold start takes a few
readonly STOP_GRACE=20       # seconds before SIGKILL
readonly SUN_PATH_MAX=107    # sizeof(sun_path) - 1
readonly PODMAN_RUNROOT_MAX=50

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=scripts/dev/transports.sh
source "$(dirname "${BASH_SOURCE[0]}")/transports.sh"

usage() {
    cat >&2 <<EOF
usage: $PROG start|stop|status [podman|docker|all]
       $PROG clean
       $PROG env
EOF
    exit 2
}

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- paths ----

setup_paths() {
    local script_dir repo
    script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
    repo="$(cd "$script_dir/../.." && pwd -P)"
    STATE="$(realpath -m -- "${MOONPOD_ENGINES_DIR:-$repo/build/engines}")"
    # MOONPOD_TEST_PODMAN_ARGS is word-split by its users, and containers.conf
    # and daemon.json embed these paths unescaped: keep them to a safe alphabet.
    if [[ ! "$STATE" =~ ^/[A-Za-z0-9._/+-]+$ ]]; then
        die "state dir '$STATE' has characters other than [A-Za-z0-9._/+-]; set MOONPOD_ENGINES_DIR"
    fi
    [[ "$STATE" != "/" ]] || die "refusing to use / as the state dir"

    # Two limits on path length: sun_path (the longest socket name is
    # libnetwork's, in dockerd's exec-root) and podman's refusal of a runroot
    # longer than 50 characters. Sockets, podman's runroot and dockerd's
    # exec-root live in RUN_DIR, which moves to a short per-state-dir folder
    # in /tmp when the state dir is too deep.
    local longest_sock="/docker/libnetwork/0123456789ab.sock" runroot_name="/podman"
    RUN_DIR="$STATE/run"
    if (( ${#RUN_DIR} + ${#longest_sock} > SUN_PATH_MAX ||
          ${#RUN_DIR} + ${#runroot_name} > PODMAN_RUNROOT_MAX )); then
        local sum
        sum="$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)"
        RUN_DIR="/tmp/moonpod-engines-$sum"
    fi

    P="$STATE/podman"
    PODMAN_RUNROOT="$RUN_DIR/podman"
    PODMAN_SOCK="$RUN_DIR/podman.sock"
    PODMAN_PIDFILE="$P/service.pid"
    PODMAN_LOG="$P/service.log"
    PODMAN_CONF="$P/containers.conf"
    PODMAN_STORAGE_CONF="$P/storage.conf"
    PODMAN_ARGS=(--root "$P/root" --runroot "$PODMAN_RUNROOT")

    D="$STATE/docker"
    DOCKER_SOCK="$RUN_DIR/docker.sock"
    DOCKER_PIDFILE="$D/dockerd.pid"
    DOCKER_LOG="$D/dockerd.log"
    DOCKER_EXEC="$RUN_DIR/docker"
    CTRD_SOCK="$RUN_DIR/containerd.sock"
    CTRD_PIDFILE="$D/containerd.pid"
    CTRD_LOG="$D/containerd.log"

    IMAGE_TAR="$STATE/image/rootfs.tar"
    ENV_FILE="$STATE/env.sh"
    transports_paths

    # Every podman child (CLI, service, conmon's cleanup) must see the private
    # configuration rather than /etc's or a user's.
    export CONTAINERS_CONF="$PODMAN_CONF"
    export CONTAINERS_STORAGE_CONF="$PODMAN_STORAGE_CONF"
    export XDG_RUNTIME_DIR="$P/xdg"
    export TMPDIR="$P/tmp"
}

# ---------------------------------------------------------- primitives ----

# RUN_DIR may sit in /tmp, where anyone could have planted it first.
make_run_dir() {
    if [[ "$RUN_DIR" == "$STATE/"* ]]; then
        mkdir -p "$RUN_DIR"
        return 0
    fi
    mkdir -m 0700 "$RUN_DIR" 2>/dev/null || true
    if [[ -L "$RUN_DIR" || ! -O "$RUN_DIR" ]]; then
        die "$RUN_DIR is a symlink or not ours: remove it"
    fi
    ln -sfn "$RUN_DIR" "$STATE/run"
}

require_root() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root: dockerd and rootful podman need it (try sudo)"
}

require_tools() {
    local tool missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if (( ${#missing[@]} )); then
        die "missing ${missing[*]}: run scripts/dev/deps.sh (make deps)"
    fi
}

# Only the engine that answers is trusted: a pidfile alone may be stale.
ping_ok() {
    local sock="$1" body
    [[ -S "$sock" ]] || return 1
    body="$(curl -s --max-time 2 --unix-socket "$sock" http://engine/_ping 2>/dev/null)" || return 1
    [[ "$body" == "OK" ]]
}

# Prints the pid recorded in $1 if that process is alive and its command line
# mentions $2 (guards against a recycled pid).
live_pid() {
    local pidfile="$1" needle="$2" pid cmdline
    [[ -r "$pidfile" ]] || return 1
    # dockerd writes its pidfile without a trailing newline.
    read -r pid <"$pidfile" || [[ -n "${pid:-}" ]] || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$needle"* ]] || return 1
    printf '%s\n' "$pid"
}

# A zombie counts as gone: the daemons were reparented to PID 1, which may
# be slow (or fail) to reap them.
pid_running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != "Z" ]]
}

# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local pid="$1" tenths="$2" waited=0
    while pid_running "$pid"; do
        (( waited < tenths )) || return 1
        sleep 0.1
        waited=$((waited + 1))
    done
}

stop_pid() {
    local pid="$1" what="$2"
    kill -TERM "$pid" 2>/dev/null || return 0
    wait_gone "$pid" $(( STOP_GRACE * 10 )) && return 0
    log "$what (pid $pid) ignored SIGTERM for ${STOP_GRACE}s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 || log "$what (pid $pid) survived SIGKILL"
}

log_tail() {
    local file="$1"
    if [[ -s "$file" ]]; then
        log "last lines of $file:"
        tail -n 25 "$file" | sed "s/^/    /" >&2
    fi
}

# Starts "$@" detached in its own session with output to $1; prints its pid.
# The lock fd is closed in the child so a long-lived engine can't hold it.
launch() {
    local logfile="$1"; shift
    setsid "$@" </dev/null >>"$logfile" 2>&1 {LOCK_FD}>&- &
    printf '%s\n' "$!"
}

wait_ping() {
    local name="$1" sock="$2" pid="$3" logfile="$4" t0="$5"
    local deadline=$(( t0 + START_DEADLINE * 1000 ))
    until ping_ok "$sock"; do
        if ! pid_running "$pid"; then
            log_tail "$logfile"
            die "$name exited during start-up (see $logfile)"
        fi
        if (( $(now_ms) > deadline )); then
            log_tail "$logfile"
            die "$name did not answer GET /_ping on $sock within ${START_DEADLINE}s (see $logfile)"
        fi
        sleep 0.05
    done
}

# IDs of the containers in an engine's storage.
container_ids() {
    local dir d
    case "$1" in
        podman) dir="$P/root/overlay-containers" ;;
        docker) dir="$D/data/containers" ;;
    esac
    for d in "$dir"/*/; do
        [[ -d "$d" ]] || continue
        d="${d%/}"
        d="${d##*/}"
        [[ "$d" =~ ^[0-9a-f]{64}$ ]] && printf '%s\n' "$d"
    done
    return 0
}

# Processes an engine left behind: container processes (found by their cgroup,
# which both engines name after the container ID: a container's /proc/PID/root
# says only "/" since it pivot_root'ed) and the engine's own helpers
# (recognised by executable name and by naming one of the engine's private
# paths in an argument).
leftover_pids() {
    local engine="$1"; shift
    local id needle pid exe ids=() args=()
    mapfile -t ids < <(container_ids "$engine")
    if (( ${#ids[@]} )); then
        for id in "${ids[@]}"; do args+=(-e "$id"); done
        grep -lF "${args[@]}" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true
    fi
    args=()
    for needle in "$@"; do args+=(-e "$needle"); done
    # -z: each NUL-terminated argument is one "line" of /proc/PID/cmdline.
    grep -lzF "${args[@]}" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 |
        while read -r pid; do
            exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || continue
            case "${exe##*/}" in
                podman|conmon|containerd|containerd-shim*|dockerd|docker-proxy|runc|catatonit)
                    printf '%s\n' "$pid" ;;
            esac
        done
    return 0
}

# kill_leftovers ENGINE GRACE NEEDLE...: GRACE in tenths of a second.
kill_leftovers() {
    local what="$1" grace="$2"
    shift 2
    local pid pids=() waited=0
    # Helpers that are finishing on their own (podman's "container cleanup",
    # run by conmon when a container exits; shims whose task is gone) get a
    # moment before SIGKILL.
    while :; do
        mapfile -t pids < <(leftover_pids "$what" "$@" | sort -un |
            while read -r pid; do pid_running "$pid" && printf '%s\n' "$pid"; done)
        (( ${#pids[@]} )) || return 0
        (( waited < grace )) || break
        sleep 0.1
        waited=$((waited + 1))
    done
    log "$what: killing ${#pids[@]} leftover process(es): ${pids[*]}"
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        wait_gone "$pid" 50 || log "$what: pid $pid survived SIGKILL"
    done
}

# Mount points at or under $1, deepest first.
mounts_under() {
    local dir="$1" mp
    # Field 5 of mountinfo is the mount point with spaces etc. octal-escaped.
    while read -r _ _ _ _ mp _; do
        mp="$(printf '%b' "$mp")"
        if [[ "$mp" == "$dir" || "$mp" == "$dir/"* ]]; then
            printf '%s\n' "$mp"
        fi
    done </proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn -k1,1 | cut -f2-
}

unmount_under() {
    local dir="$1" mp _pass
    for _pass in 1 2 3; do
        local mps=()
        mapfile -t mps < <(mounts_under "$dir")
        (( ${#mps[@]} )) || return 0
        for mp in "${mps[@]}"; do
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
        done
    done
    if [[ -n "$(mounts_under "$dir")" ]]; then
        log "still mounted under $dir:"
        mounts_under "$dir" | sed "s/^/    /" >&2
        return 1
    fi
}

# The engines keep run-time state (pids, sockets, "alive" markers) under the
# state dir, which, unlike /run, survives a reboot: drop it after one so the
# engines don't trust state about processes that no longer exist.
check_boot() {
    local now old=""
    now="$(cat /proc/sys/kernel/random/boot_id)"
    [[ -r "$STATE/boot_id" ]] && old="$(cat "$STATE/boot_id")"
    if [[ -n "$old" && "$old" != "$now" ]]; then
        log "machine rebooted since the engines last ran: dropping their run-time state"
        rm -rf -- "$RUN_DIR" "$P/tmp" "$P/xdg" "$D/containerd/state"
        rm -f -- "$PODMAN_PIDFILE" "$DOCKER_PIDFILE" "$CTRD_PIDFILE"
    fi
    printf '%s\n' "$now" >"$STATE/boot_id"
}

# ---------------------------------------------------------------- image ----

build_image() {
    [[ -s "$IMAGE_TAR" ]] && return 0
    local busybox=/bin/busybox dir="$STATE/image" rootfs applet
    [[ -x "$busybox" ]] || die "$busybox missing: install busybox-static (make deps)"
    # A dynamically linked busybox would not run in a rootfs without libc.
    if ! file_is_static "$busybox"; then
        die "$busybox is not statically linked: install busybox-static"
    fi
    rootfs="$dir/rootfs"
    rm -rf -- "$rootfs"
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/root"
    install -d -m 1777 "$rootfs/tmp"
    cp "$busybox" "$rootfs/bin/busybox"
    # Listed once: "busybox --list | grep -q" fails under pipefail whenever
    # grep exits before busybox has written everything (SIGPIPE).
    local applets
    applets="$("$busybox" --list)"
    for applet in "${APPLETS[@]}"; do
        grep -qx -- "$applet" <<<"$applets" || die "busybox has no '$applet' applet"
        ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$IMAGE_TAR.tmp" .
    mv "$IMAGE_TAR.tmp" "$IMAGE_TAR"
}

# A dynamic executable names its loader (PT_INTERP, /lib.../ld-linux...);
# grepping for it avoids depending on file(1).
file_is_static() {
    ! LC_ALL=C grep -qa '/lib.*/ld-linux' "$1"
}

# --------------------------------------------------------------- podman ----

podman_cli() {
    podman "${PODMAN_ARGS[@]}" "$@"
}

podman_write_conf() {
    mkdir -p "$P/root" "$PODMAN_RUNROOT" "$P/tmp" "$P/xdg" "$P/networks"
    chmod 0700 "$P/xdg"
    cat >"$PODMAN_CONF" <<EOF
# Written by scripts/dev/engines.sh; see scripts/dev/ENGINES-NOTES.md.
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/tmp/events/events.log"
tmp_dir = "$P/tmp"
lock_type = "file"
image_copy_tmp_dir = "$P/tmp"
volume_path = "$P/root/volumes"

[network]
network_config_dir = "$P/networks"
EOF
    cat >"$PODMAN_STORAGE_CONF" <<EOF
# Written by scripts/dev/engines.sh.
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$PODMAN_RUNROOT"
EOF
}

podman_up() {
    ping_ok "$PODMAN_SOCK"
}

podman_launch() {
    PODMAN_T0="$(now_ms)"
    PODMAN_REUSED=0
    if podman_up; then
        PODMAN_REUSED=1
        return 0
    fi
    local pid
    if pid="$(live_pid "$PODMAN_PIDFILE" "$PODMAN_SOCK")"; then
        log "podman: service pid $pid does not answer: restarting it"
        stop_pid "$pid" "podman service"
    fi
    podman_write_conf
    rm -f -- "$PODMAN_SOCK"
    : >"$PODMAN_LOG"
    pid="$(launch "$PODMAN_LOG" podman "${PODMAN_ARGS[@]}" --log-level=info \
        system service --time=0 "unix://$PODMAN_SOCK")"
    printf '%s\n' "$pid" >"$PODMAN_PIDFILE"
}

podman_finish() {
    if (( ! PODMAN_REUSED )); then
        wait_ping podman "$PODMAN_SOCK" "$(cat "$PODMAN_PIDFILE")" "$PODMAN_LOG" "$PODMAN_T0"
    fi
    if ! podman_cli image exists "$PODMAN_IMAGE"; then
        podman_cli import --quiet --change 'CMD ["/bin/sh"]' "$IMAGE_TAR" "$PODMAN_IMAGE" >/dev/null \
            || die "podman: importing $IMAGE_TAR failed"
    fi
    local how="started"
    (( PODMAN_REUSED )) && how="reused"
    log "podman: $how in $(( $(now_ms) - PODMAN_T0 )) ms ($PODMAN_SOCK)"
}

podman_stop() {
    local pid t0
    t0="$(now_ms)"
    # The storage may hold running containers even when the service is down:
    # the service is stateless, containers belong to conmon.
    if [[ -d "$P/root" && -f "$PODMAN_CONF" ]]; then
        timeout 60 podman "${PODMAN_ARGS[@]}" stop --all --time 0 >/dev/null 2>>"$PODMAN_LOG" \
            || log "podman: stopping containers failed (see $PODMAN_LOG); killing them"
    fi
    if pid="$(live_pid "$PODMAN_PIDFILE" "$PODMAN_SOCK")"; then
        stop_pid "$pid" "podman service"
    fi
    rm -f -- "$PODMAN_PIDFILE" "$PODMAN_SOCK"
    kill_leftovers podman 30 "$P/" "$PODMAN_RUNROOT/" "$PODMAN_SOCK"
    unmount_under "$P" || die "podman: could not unmount everything under $P"
    unmount_under "$PODMAN_RUNROOT" || die "podman: could not unmount everything under $PODMAN_RUNROOT"
    log "podman: stopped in $(( $(now_ms) - t0 )) ms"
}

# --------------------------------------------------------------- docker ----

docker_cli() {
    local client=docker
    # Debian's client matches the engine; a newer one on PATH also works (it
    # negotiates the API version) and is the fallback.
    [[ -x /usr/bin/docker ]] && client=/usr/bin/docker
    "$client" --host "unix://$DOCKER_SOCK" "$@"
}

docker_write_conf() {
    mkdir -p "$D/data" "$DOCKER_EXEC" "$D/containerd/root" "$D/containerd/state" \
             "$D/containerd/opt"
    # dockerd would adopt a system containerd whenever
    # /run/containerd/containerd.sock exists, sharing its "moby" namespace with
    # the system's Docker; a containerd of our own, passed with --containerd,
    # keeps every harness run apart.
    cat >"$D/containerd.toml" <<EOF
# Written by scripts/dev/engines.sh; see scripts/dev/ENGINES-NOTES.md.
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$D/containerd/opt"
EOF
    # An explicit config file keeps /etc/docker/daemon.json out; the trust
    # key would otherwise be written to /etc/docker/key.json.
    cat >"$D/daemon.json" <<EOF
{
  "deprecated-key-path": "$D/key.json",
  "shutdown-timeout": 5
}
EOF
}

docker_up() {
    ping_ok "$DOCKER_SOCK"
}

docker_launch() {
    DOCKER_T0="$(now_ms)"
    DOCKER_REUSED=0
    if docker_up && docker_tls_up; then
        DOCKER_REUSED=1
        return 0
    fi
    local pid tls_args=()
    if pid="$(live_pid "$DOCKER_PIDFILE" "$DOCKER_SOCK")"; then
        log "docker: dockerd pid $pid does not answer (on its socket and TLS port): restarting it"
        stop_pid "$pid" dockerd
    fi
    tls_make_certs
    choose_port DOCKER_TLS_PORT
    mapfile -t tls_args < <(docker_tls_args)
    docker_write_conf
    rm -f -- "$DOCKER_SOCK"
    : >"$DOCKER_LOG"
    if ! live_pid "$CTRD_PIDFILE" "$D/containerd.toml" >/dev/null; then
        rm -f -- "$CTRD_SOCK" "$CTRD_SOCK.ttrpc"
        : >"$CTRD_LOG"
        pid="$(launch "$CTRD_LOG" containerd --config "$D/containerd.toml")"
        printf '%s\n' "$pid" >"$CTRD_PIDFILE"
    fi
    # dockerd retries its containerd connection, so both start in parallel.
    # --ip-forward=false: dockerd would otherwise set the host's ip_forward.
    launch "$DOCKER_LOG" dockerd \
        --config-file "$D/daemon.json" \
        --host "unix://$DOCKER_SOCK" \
        --containerd "$CTRD_SOCK" \
        --data-root "$D/data" \
        --exec-root "$DOCKER_EXEC" \
        --pidfile "$DOCKER_PIDFILE" \
        --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
        "${tls_args[@]}" \
        >"$D/dockerd.launch-pid"
}

docker_finish() {
    if (( ! DOCKER_REUSED )); then
        local pid
        pid="$(cat "$D/dockerd.launch-pid")"
        if ! live_pid "$CTRD_PIDFILE" "$D/containerd.toml" >/dev/null; then
            log_tail "$CTRD_LOG"
            die "docker: containerd exited during start-up (see $CTRD_LOG)"
        fi
        wait_ping docker "$DOCKER_SOCK" "$pid" "$DOCKER_LOG" "$DOCKER_T0"
        wait_until "docker (TLS port $DOCKER_TLS_PORT)" "$pid" "$DOCKER_LOG" docker_tls_up "$DOCKER_T0"
    fi
    rm -f -- "$D/dockerd.launch-pid"
    if ! docker_cli image inspect "$DOCKER_IMAGE" >/dev/null 2>&1; then
        docker_cli import --change 'CMD ["/bin/sh"]' "$IMAGE_TAR" "$DOCKER_IMAGE" >/dev/null \
            || die "docker: importing $IMAGE_TAR failed"
    fi
    local how="started"
    (( DOCKER_REUSED )) && how="reused"
    log "docker: $how in $(( $(now_ms) - DOCKER_T0 )) ms ($DOCKER_SOCK)"
}

# containerd 1.6 puts every shim's socket in /run/containerd/s, named
# sha256(<containerd address>/<namespace>/<container id>); a shim that was
# killed leaves its socket behind. Only names derived from this engine's
# address and containers are considered.
remove_stale_shim_sockets() {
    local dir=/run/containerd/s cdir id sock
    [[ -d "$dir" && -d "$D/data/containers" ]] || return 0
    for cdir in "$D/data/containers"/*/; do
        [[ -d "$cdir" ]] || continue
        id="$(basename "$cdir")"
        sock="$dir/$(printf '%s' "$CTRD_SOCK/moby/$id" | sha256sum | cut -c1-64)"
        if [[ -S "$sock" ]]; then
            rm -f -- "$sock"
        fi
    done
}

docker_stop() {
    local pid id ids=() t0
    t0="$(now_ms)"
    if docker_up; then
        # Killing explicitly beats dockerd's shutdown, which waits out each
        # container's stop timeout.
        mapfile -t ids < <(curl -s --max-time 10 --unix-socket "$DOCKER_SOCK" \
            http://engine/containers/json | grep -o '"Id":"[0-9a-f]\{64\}"' | cut -d'"' -f4)
        for id in "${ids[@]}"; do
            curl -s --max-time 30 --unix-socket "$DOCKER_SOCK" -X POST -o /dev/null \
                "http://engine/containers/$id/stop?t=0" || true
        done
    fi
    if pid="$(live_pid "$DOCKER_PIDFILE" "$DOCKER_SOCK")"; then
        stop_pid "$pid" dockerd
    fi
    if pid="$(live_pid "$CTRD_PIDFILE" "$D/containerd.toml")"; then
        stop_pid "$pid" containerd
    fi
    rm -f -- "$DOCKER_PIDFILE" "$CTRD_PIDFILE" "$DOCKER_SOCK" "$CTRD_SOCK" "$CTRD_SOCK.ttrpc"
    kill_leftovers docker 5 "$D/" "$DOCKER_EXEC/" "$DOCKER_SOCK" "$CTRD_SOCK"
    remove_stale_shim_sockets
    unmount_under "$D" || die "docker: could not unmount everything under $D"
    unmount_under "$DOCKER_EXEC" || die "docker: could not unmount everything under $DOCKER_EXEC"
    log "docker: stopped in $(( $(now_ms) - t0 )) ms"
}

# ------------------------------------------------------------------ env ----

write_env() {
    local tmp="$ENV_FILE.tmp"
    {
        printf '# Written by scripts/dev/engines.sh: the private test engines that are up.\n'
        printf 'export MOONPOD_ENGINES_DIR=%q\n' "$STATE"
        if podman_up; then
            printf 'export CONTAINERS_CONF=%q\n' "$PODMAN_CONF"
            printf 'export CONTAINERS_STORAGE_CONF=%q\n' "$PODMAN_STORAGE_CONF"
            printf 'export MOONPOD_TEST_PODMAN_SOCK=%q\n' "$PODMAN_SOCK"
            printf 'export MOONPOD_TEST_PODMAN_URL=%q\n' "unix://$PODMAN_SOCK"
            printf 'export MOONPOD_TEST_PODMAN_ARGS=%q\n' "${PODMAN_ARGS[*]}"
            printf 'export MOONPOD_TEST_PODMAN_IMAGE=%q\n' "$PODMAN_IMAGE"
        fi
        if docker_up; then
            printf 'export MOONPOD_TEST_DOCKER_SOCK=%q\n' "$DOCKER_SOCK"
            printf 'export MOONPOD_TEST_DOCKER_HOST=%q\n' "unix://$DOCKER_SOCK"
            printf 'export MOONPOD_TEST_DOCKER_IMAGE=%q\n' "$DOCKER_IMAGE"
        fi
        transports_env
    } >"$tmp"
    mv "$tmp" "$ENV_FILE"
}

# ------------------------------------------------------------- commands ----

engines_of() {
    case "${1:-all}" in
        all) printf '%s\n' podman docker ;;
        *) printf '%s\n' "$1" ;;
    esac
}

lock_state() {
    exec {LOCK_FD}>"$STATE/.lock"
    flock -w 300 "$LOCK_FD" || die "another $PROG holds $STATE/.lock"
}

cmd_start() {
    local engines=() e t0
    mapfile -t engines < <(engines_of "${1:-all}")
    require_root
    require_tools curl tar setsid flock timeout
    for e in "${engines[@]}"; do
        case "$e" in
            podman) require_tools podman conmon runc /usr/sbin/sshd ssh-keygen nginx openssl ss ps ;;
            docker) require_tools dockerd containerd containerd-shim-runc-v2 runc openssl ss ;;
        esac
    done
    t0="$(now_ms)"
    mkdir -p "$STATE"
    touch "$STATE/.moonpod-engines"
    lock_state
    check_boot
    mkdir -p "$STATE/image"
    make_run_dir
    for e in "${engines[@]}"; do "${e}_launch"; done
    build_image
    for e in "${engines[@]}"; do "${e}_finish"; done
    if [[ " ${engines[*]} " == *" podman "* ]]; then
        sshd_start
        nginx_start
    fi
    write_env
    log "ready in $(( $(now_ms) - t0 )) ms; source $ENV_FILE"
}

cmd_stop() {
    local engines=() e
    mapfile -t engines < <(engines_of "${1:-all}")
    require_root
    [[ -e "$STATE/.moonpod-engines" ]] || return 0
    lock_state
    # What reaches Podman from outside goes first.
    if [[ " ${engines[*]} " == *" podman "* ]]; then
        nginx_stop
        sshd_stop
    fi
    # The engines are independent: stop them side by side.
    local pids=() rc=0 pid
    for e in "${engines[@]}"; do
        "${e}_stop" &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    write_env
    return "$rc"
}

cmd_status() {
    local engines=() e rc=0
    mapfile -t engines < <(engines_of "${1:-all}")
    for e in "${engines[@]}"; do
        if "${e}_up"; then
            local var="${e^^}_SOCK"
            printf '%s: up (%s)\n' "$e" "${!var}"
        else
            printf '%s: down\n' "$e"
            rc=3
        fi
    done
    local name
    for name in docker_tls sshd nginx; do
        if "${name}_up"; then printf '%s: up\n' "$name"; else printf '%s: down\n' "$name"; fi
    done
    return "$rc"
}

cmd_clean() {
    require_root
    cmd_stop all
    [[ -e "$STATE/.moonpod-engines" ]] || { log "$STATE is no engine state dir: left alone"; return 0; }
    if [[ -n "$(mounts_under "$STATE")$(mounts_under "$RUN_DIR")" ]]; then
        die "refusing to remove $STATE: something is still mounted under it"
    fi
    rm -rf --one-file-system -- "$STATE"
    if [[ "$RUN_DIR" != "$STATE/"* && -d "$RUN_DIR" && ! -L "$RUN_DIR" ]]; then
        rm -rf --one-file-system -- "$RUN_DIR"
    fi
    log "removed $STATE"
}

main() {
    local cmd="${1:-}"
    [[ -n "$cmd" ]] || usage
    shift
    (( $# <= 1 )) || usage
    case "${1:-all}" in
        all|podman|docker) ;;
        *) usage ;;
    esac
    setup_paths
    case "$cmd" in
        start)  cmd_start "$@" ;;
        stop)   cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        clean)  (( $# == 0 )) || usage; cmd_clean ;;
        env)    (( $# == 0 )) || usage; printf '%s\n' "$ENV_FILE" ;;
        -h|--help|help) usage ;;
        *) usage ;;
    esac
}

main "$@"
