#!/usr/bin/env bash
# make bench: moonpod side by side with a bare libcurl client (the floor) and
# the well-known peers (docker CLI, docker-py, dockerode), in one run, against
# the same private engine, Docker first and then Podman.
#
#   (a) cold start: a whole process that connects and prints how many
#       containers there are — wall time (hyperfine) and peak RSS (GNU time);
#   (b) 1,000 sequential list calls in one process, timed inside each program
#       around the loop only, plus the whole process.
#
# Prints one table per engine with ratios to the floor and the targets
# (informational: the bench fails only when it cannot measure moonpod or the
# floor at all), and writes the same tables to build/bench/results.md.
#
# Knobs (environment): BENCH_ENGINES="docker podman", BENCH_CONTAINERS=20,
# BENCH_LOOP_N=1000, BENCH_CLI_LOOP_N=100, BENCH_COLD_RUNS=30,
# BENCH_COLD_WARMUP=3, BENCH_RSS_RUNS=5, BENCH_LOOP_REPS_DOCKER=5,
# BENCH_LOOP_REPS_PODMAN=1, BENCH_KEEP_ENGINES=1 (leave the engines up),
# MOONPOD_ENGINES_DIR (default: build/bench/engines, see below).
set -euo pipefail

readonly PROG="bench"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO
readonly BENCH_DIR="$REPO/tests/bench"
readonly OUT="$REPO/build/bench"
readonly ENGINES_SH="$REPO/scripts/dev/engines.sh"
readonly MOONPOD="$REPO/moonpod"
readonly FLOOR="$OUT/floor"
# Debian's interpreter: it has python3-docker; a pyenv python3 on PATH has not.
readonly PYTHON=/usr/bin/python3
readonly GNU_TIME=/usr/bin/time

readonly N_CONTAINERS="${BENCH_CONTAINERS:-20}"
readonly LOOP_N="${BENCH_LOOP_N:-1000}"
readonly CLI_LOOP_N="${BENCH_CLI_LOOP_N:-100}"
readonly COLD_RUNS="${BENCH_COLD_RUNS:-30}"
readonly COLD_WARMUP="${BENCH_COLD_WARMUP:-3}"
readonly RSS_RUNS="${BENCH_RSS_RUNS:-5}"
read -ra BENCH_ENGINES <<<"${BENCH_ENGINES:-docker podman}"
readonly REQUESTED_ENGINES=("${BENCH_ENGINES[@]}")
readonly TOOLS=(floor moonpod docker-cli docker-py dockerode)
# A wedged peer must not hang the bench; the slowest legitimate command
# (1,000 compat-API lists on Podman) takes about 20 s.
readonly TOOL_TIMEOUT=300

# The engines get a state dir of their own by default: the test suite may be
# using build/engines at the same time, its containers would skew the counts,
# and stopping its engines at exit would pull them from under it.
export MOONPOD_ENGINES_DIR="${MOONPOD_ENGINES_DIR:-$OUT/engines}"

DOCKER_CLI=""
ENGINES_STARTED=()      # engines this run brought up (and so stops)
CONTAINERS_ON=()        # engines that may hold bench-N containers

# ------------------------------------------------------------- helpers ----

# Quotes one word for hyperfine's -N parser (POSIX shell words), so paths
# reach the benchmarked program as argv, never through a shell.
shell_word() {
    local s="$1"
    printf "'%s'" "${s//\'/\'\\\'\'}"
}

# hyperfine_argv RESULT_JSON OUTPUT EXTRA_OPTS... -- COMMAND ARGV...
hyperfine_argv() {
    local json="$1" output="$2"; shift 2
    local opts=() cmd="" w
    while (( $# )) && [[ "$1" != "--" ]]; do opts+=("$1"); shift; done
    shift
    for w in "$@"; do cmd+="${cmd:+ }$(shell_word "$w")"; done
    timeout "$TOOL_TIMEOUT" hyperfine -N --style basic --export-json "$json" --output "$output" "${opts[@]}" -- "$cmd"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ------------------------------------------------------------- engines ----

engines_up() {
    local e
    for e in "$@"; do
        "$ENGINES_SH" status "$e" >/dev/null 2>&1 || return 1
    done
}

# One engine that will not start is reported and left out; the bench goes
# on with the other.
start_engines() {
    local e up=()
    for e in "${BENCH_ENGINES[@]}"; do
        engines_up "$e" || ENGINES_STARTED+=("$e")
        log "starting $e in $MOONPOD_ENGINES_DIR"
        # One retry: engines.sh start is idempotent, and a start right after
        # a stop has been seen to misjudge a just-launched containerd as gone.
        if "$ENGINES_SH" start "$e" || { sleep 2; log "retrying $e once"; "$ENGINES_SH" start "$e"; }; then
            up+=("$e")
        else
            log "warning: scripts/dev/engines.sh start $e failed: no $e results this run"
            printf '%s\n' "$e" >>"$OUT/engines-failed"
        fi
    done
    (( ${#up[@]} )) || die "no engine could be started"
    BENCH_ENGINES=("${up[@]}")
    local env_file
    env_file="$("$ENGINES_SH" env)"
    [[ -r "$env_file" ]] || die "engines.sh wrote no $env_file"
    # shellcheck source=/dev/null
    source "$env_file"
    # Every tool is given its socket explicitly; an inherited endpoint must
    # not send the podman CLI (or anything else) elsewhere.
    unset CONTAINER_HOST DOCKER_HOST
}

stop_engines() {
    if [[ -n "${BENCH_KEEP_ENGINES:-}" ]]; then
        log "BENCH_KEEP_ENGINES set: leaving the engines up"
        return 0
    fi
    # Engines that were already up belong to someone else, unless they live
    # in the bench's own state dir (left over from an interrupted run).
    local e todo=()
    for e in "${REQUESTED_ENGINES[@]}"; do
        if [[ "$MOONPOD_ENGINES_DIR" == "$OUT/engines" ]] || printf '%s\n' "${ENGINES_STARTED[@]}" | grep -qx "$e"; then
            todo+=("$e")
        fi
    done
    for e in "${todo[@]}"; do
        "$ENGINES_SH" stop "$e" || log "warning: engines.sh stop $e failed"
    done
}

podman_cli() {
    local args=()
    read -ra args <<<"$MOONPOD_TEST_PODMAN_ARGS"
    env -u CONTAINER_HOST podman "${args[@]}" "$@"
}

docker_cli() {
    "$DOCKER_CLI" --host "$MOONPOD_TEST_DOCKER_HOST" "$@"
}

engine_cli() {
    local engine="$1"; shift
    "${engine}_cli" "$@"
}

engine_sock() {
    case "$1" in
        docker) printf '%s\n' "$MOONPOD_TEST_DOCKER_SOCK" ;;
        podman) printf '%s\n' "$MOONPOD_TEST_PODMAN_SOCK" ;;
    esac
}

engine_image() {
    case "$1" in
        docker) printf '%s\n' "$MOONPOD_TEST_DOCKER_IMAGE" ;;
        podman) printf '%s\n' "$MOONPOD_TEST_PODMAN_IMAGE" ;;
    esac
}

# Every bench-N, not only 1..N_CONTAINERS: an earlier run may have used more.
remove_containers() {
    local engine="$1" names=()
    mapfile -t names < <(engine_cli "$engine" ps -a --format '{{.Names}}' 2>/dev/null | grep -E '^bench-[0-9]+$' || true)
    (( ${#names[@]} )) || return 0
    case "$engine" in
        docker) docker_cli rm -f "${names[@]}" >/dev/null 2>&1 || true ;;
        podman) podman_cli rm -f --time 0 --ignore "${names[@]}" >/dev/null 2>&1 || true ;;
    esac
}

create_containers() {
    local engine="$1" image i
    image="$(engine_image "$engine")"
    CONTAINERS_ON+=("$engine")
    remove_containers "$engine"   # leftovers of an interrupted run
    log "$engine: creating $N_CONTAINERS idle containers"
    for (( i = 1; i <= N_CONTAINERS; i++ )); do
        engine_cli "$engine" run -d --network none --name "bench-$i" "$image" \
            sh -c 'while true; do sleep 1; done' >/dev/null \
            || die "$engine: creating container bench-$i failed"
    done
}

cleanup() {
    local rc=$? e
    trap - EXIT INT TERM
    # A signal's trap runs inside whatever command was interrupted, with its
    # redirections (a tool's log file): talk to the real terminal again.
    exec 1>&"$STDOUT_FD" 2>&"$STDERR_FD"
    for e in "${CONTAINERS_ON[@]}"; do
        log "$e: removing the bench containers"
        remove_containers "$e"
    done
    stop_engines
    exit "$rc"
}

# --------------------------------------------------------------- tools ----

build_floor() {
    mkdir -p "$OUT"
    local flags
    flags="$(pkg-config --cflags --libs libcurl libcjson)" \
        || die "pkg-config knows no libcurl or libcjson: run make deps"
    local flag_words=()
    read -ra flag_words <<<"$flags"
    cc -O2 -o "$FLOOR" "$BENCH_DIR/floor.c" "${flag_words[@]}" || die "building the floor failed"
}

ensure_dockerode() {
    [[ -d "$BENCH_DIR/node_modules/dockerode" ]] && return 0
    command -v npm >/dev/null 2>&1 || return 1
    log "installing dockerode (npm, pinned in tests/bench/package.json)"
    (cd "$BENCH_DIR" && timeout 300 npm install --no-audit --no-fund >"$OUT/npm-install.log" 2>&1)
}

# Decides which peers can run at all, once, before any engine work. Reasons
# go to $OUT/unavailable/TOOL so every engine's table can show them.
check_tools() {
    local missing=() t
    for t in hyperfine cc pkg-config lua5.4 curl; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [[ -x "$GNU_TIME" ]] || missing+=("$GNU_TIME (package time)")
    (( ${#missing[@]} == 0 )) || die "missing ${missing[*]}: run make deps"
    [[ -x "$MOONPOD" ]] || die "$MOONPOD missing: run make moonpod (make bench does)"

    rm -rf "$OUT/unavailable"
    mkdir -p "$OUT/unavailable"
    if [[ -x /usr/bin/docker ]]; then
        DOCKER_CLI=/usr/bin/docker
    elif command -v docker >/dev/null 2>&1; then
        DOCKER_CLI="$(command -v docker)"
        log "warning: Debian's /usr/bin/docker missing; using $DOCKER_CLI"
    else
        # Containers are created with it; the bench can't go on without it.
        die "no docker CLI: install docker.io (make deps)"
    fi
    if [[ ! -x "$PYTHON" ]] || ! "$PYTHON" -c 'import docker' >/dev/null 2>&1; then
        echo "$PYTHON cannot import docker (install python3-docker)" >"$OUT/unavailable/docker-py"
    fi
    if ! command -v node >/dev/null 2>&1; then
        echo "node not installed" >"$OUT/unavailable/dockerode"
    elif ! ensure_dockerode; then
        echo "npm install of dockerode failed or npm unreachable (see build/bench/npm-install.log)" \
            >"$OUT/unavailable/dockerode"
    fi
    for t in docker-py dockerode; do
        if [[ -s "$OUT/unavailable/$t" ]]; then
            log "warning: $t will not run: $(cat "$OUT/unavailable/$t")"
        fi
    done
}

tool_version() {
    case "$1" in
        floor) printf 'libcurl %s, cJSON %s\n' "$(pkg-config --modversion libcurl)" "$(pkg-config --modversion libcjson)" ;;
        moonpod) "$MOONPOD" -v 2>&1 | head -n1 ;;
        docker-cli) "$DOCKER_CLI" --version 2>/dev/null | head -n1 ;;
        docker-py) "$PYTHON" -c 'import docker; print("docker-py", docker.__version__)' 2>/dev/null ;;
        dockerode) node -p '"dockerode " + require(process.argv[1]).version + ", node " + process.version' \
                       "$BENCH_DIR/node_modules/dockerode/package.json" 2>/dev/null ;;
    esac
}

# tool_cmd TOOL SOCKET PATH [N]: fills CMD with the argv that lists the
# containers once (no N) or N times in one process.
tool_cmd() {
    local tool="$1" sock="$2" path="$3" n="${4:-}"
    case "$tool" in
        floor) CMD=("$FLOOR" "$sock" "$path" "${n:-1}") ;;
        moonpod)
            if [[ -n "$n" ]]; then
                CMD=("$MOONPOD" "$BENCH_DIR/loop.lua" "$n" "$sock")
            else
                CMD=("$MOONPOD" "$BENCH_DIR/cold.lua" "$sock")
            fi ;;
        # The CLI has no loop of its own: its loop is N whole processes.
        docker-cli) CMD=("$DOCKER_CLI" --host "unix://$sock" ps -aq) ;;
        docker-py) CMD=("$PYTHON" "$BENCH_DIR/dockerpy_list.py" "$sock" ${n:+"$n"}) ;;
        dockerode) CMD=(node "$BENCH_DIR/dockerode_list.js" "$sock" ${n:+"$n"}) ;;
    esac
}

# Prints the count a tool reports (the docker CLI prints one ID per line).
tool_count() {
    local tool="$1" file="$2"
    if [[ "$tool" == docker-cli ]]; then
        grep -c . "$file" || true
    else
        head -n1 "$file"
    fi
}

# Median server time of GET $2 over 5 requests, in ms: what an API
# negotiation request costs on this engine (moonpod's connect asks /_ping,
# docker-py's asks /version).
request_ms() {
    local sock="$1" path="$2" i
    for (( i = 0; i < 5; i++ )); do
        curl -s -o /dev/null --max-time 10 -w '%{time_total}\n' --unix-socket "$sock" "http://engine$path" || true
    done | median | awk '{ printf "%.2f", $1 * 1000 }'
}

engine_version() {
    curl -s --max-time 5 --unix-socket "$1" http://engine/version |
        grep -o '"Version":"[^"]*"' | head -n1 | cut -d'"' -f4 || true
}

# The request moonpod makes for list_containers on this engine, read from its
# debug log, so the floor asks exactly the same thing (libpod on Podman).
moonpod_list_path() {
    local sock="$1" log_file="$2" path
    MOONPOD_DEBUG=1 timeout 60 "$MOONPOD" "$BENCH_DIR/cold.lua" "$sock" >/dev/null 2>"$log_file" || return 1
    path="$(grep -o 'GET http://[^/ ]*/[^ ]*containers/json[^ ]*' "$log_file" | tail -n1 | sed 's|^GET http://[^/]*||')"
    [[ -n "$path" ]] || return 1
    printf '%s\n' "$path"
}

# ----------------------------------------------------------- measuring ----

# smoke ENGINE TOOL SOCK PATH EXPECTED: one run, which must print the count.
smoke() {
    local engine="$1" tool="$2" sock="$3" path="$4" expected="$5" dir count
    dir="$OUT/$engine/$tool"
    if [[ -s "$OUT/unavailable/$tool" ]]; then
        cp "$OUT/unavailable/$tool" "$dir/skip"
        return 1
    fi
    tool_cmd "$tool" "$sock" "$path"
    if ! timeout 60 "${CMD[@]}" >"$dir/smoke.out" 2>"$dir/smoke.err"; then
        printf 'failed: %s\n' "$(tail -n1 "$dir/smoke.err")" >"$dir/skip"
        log "$engine: $tool cannot run: $(cat "$dir/skip") (full error: $dir/smoke.err)"
        return 1
    fi
    count="$(tool_count "$tool" "$dir/smoke.out")"
    if [[ "$count" != "$expected" ]]; then
        printf 'printed %s containers, expected %s\n' "${count:-nothing}" "$expected" >"$dir/skip"
        log "$engine: $tool: $(cat "$dir/skip")"
        return 1
    fi
}

measure_cold() {
    local engine="$1" tool="$2" sock="$3" path="$4" dir="$OUT/$1/$2"
    tool_cmd "$tool" "$sock" "$path"
    log "$engine: cold start: $tool"
    if ! hyperfine_argv "$dir/cold.json" "$dir/cold.out" \
            --warmup "$COLD_WARMUP" --runs "$COLD_RUNS" -- "${CMD[@]}" >"$dir/cold.log" 2>&1; then
        rm -f "$dir/cold.json"
        log "$engine: $tool: cold-start timing failed (see $dir/cold.log)"
    fi
}

measure_rss() {
    local engine="$1" tool="$2" sock="$3" path="$4" dir="$OUT/$1/$2" i kb
    tool_cmd "$tool" "$sock" "$path"
    : >"$dir/rss.runs"
    for (( i = 0; i < RSS_RUNS; i++ )); do
        if ! timeout "$TOOL_TIMEOUT" "$GNU_TIME" -f '%M' -o "$dir/rss.time" "${CMD[@]}" >/dev/null 2>"$dir/rss.err"; then
            log "$engine: $tool: peak-RSS run failed (see $dir/rss.err)"
            return 0
        fi
        tail -n1 "$dir/rss.time" >>"$dir/rss.runs"
    done
    kb="$(median <"$dir/rss.runs")"
    printf '%s\n' "$kb" >"$dir/rss_kb"
}

# The docker CLI has no loop of its own: its loop is N whole processes.
measure_cli_loop() {
    local engine="$1" sock="$2" path="$3" dir="$OUT/$1/docker-cli"
    tool_cmd docker-cli "$sock" "$path"
    log "$engine: loop: docker-cli ($CLI_LOOP_N whole processes)"
    if hyperfine_argv "$dir/cli-loop.json" "$dir/cli-loop.out" \
            --runs "$CLI_LOOP_N" -- "${CMD[@]}" >"$dir/loop.log" 2>&1; then
        printf '%s\n' "$CLI_LOOP_N" >"$dir/loop_n"
    else
        rm -f "$dir/cli-loop.json"
        log "$engine: docker-cli: loop timing failed (see $dir/loop.log)"
    fi
}

# One repetition of LOOP_N calls in one process: hyperfine times the whole
# process (monotonic clock), the program's "loop_us" line the calls alone.
loop_once() {
    local engine="$1" tool="$2" sock="$3" path="$4" r="$5" reps="$6" dir="$OUT/$1/$2"
    tool_cmd "$tool" "$sock" "$path" "$LOOP_N"
    log "$engine: loop: $tool ($LOOP_N calls, repetition $r/$reps)"
    if ! hyperfine_argv "$dir/loop-$r.json" "$dir/loop-$r.out" \
            --runs 1 -- "${CMD[@]}" >"$dir/loop.log" 2>&1; then
        rm -f "$dir/loop-$r.json"
        log "$engine: $tool: loop run failed (see $dir/loop.log)"
        return 1
    fi
    if ! grep -q '^loop_us ' "$dir/loop-$r.out"; then
        rm -f "$dir/loop-$r.json"
        log "$engine: $tool: loop run printed no loop_us (see $dir/loop-$r.out)"
        return 1
    fi
    printf '%s\n' "$LOOP_N" >"$dir/loop_n"
}

# Repetitions go round the tools rather than tool after tool, so a change in
# the machine's load (other work shares it) hits floor and moonpod alike and
# the per-call ratio stays fair.
measure_loops() {
    local engine="$1" sock="$2" path="$3" reps="$4"; shift 4
    local tool r loopers=() still=()
    for tool in "$@"; do
        if [[ "$tool" == docker-cli ]]; then
            measure_cli_loop "$engine" "$sock" "$path"
        else
            loopers+=("$tool")
        fi
    done
    for (( r = 1; r <= reps; r++ )); do
        still=()
        for tool in "${loopers[@]}"; do
            loop_once "$engine" "$tool" "$sock" "$path" "$r" "$reps" && still+=("$tool")
        done
        loopers=("${still[@]}")
    done
}

bench_engine() {
    local engine="$1" sock path expected tool reps ok=()
    sock="$(engine_sock "$engine")"
    [[ -S "$sock" ]] || die "$engine: no socket at '$sock'"
    rm -rf "${OUT:?}/$engine"
    for tool in "${TOOLS[@]}"; do mkdir -p "$OUT/$engine/$tool"; done

    create_containers "$engine"
    expected="$(engine_cli "$engine" ps -aq | grep -c .)" || true

    if ! path="$(moonpod_list_path "$sock" "$OUT/$engine/moonpod/debug.log")"; then
        die "$engine: moonpod could not list containers (see $OUT/$engine/moonpod/debug.log)"
    fi
    log "$engine: moonpod lists with GET $path; the floor asks the same"
    {
        printf 'path\t%s\n' "$path"
        printf 'containers\t%s\n' "$expected"
        printf 'engine_version\t%s\n' "$(engine_version "$sock")"
        printf 'version_ms\t%s\n' "$(request_ms "$sock" /version)"
        printf 'ping_ms\t%s\n' "$(request_ms "$sock" /_ping)"
        printf 'loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'cpus\t%s\n' "$(nproc)"
        for tool in "${TOOLS[@]}"; do
            printf 'version:%s\t%s\n' "$tool" "$(tool_version "$tool" || true)"
        done
    } >"$OUT/$engine/meta"

    for tool in "${TOOLS[@]}"; do
        smoke "$engine" "$tool" "$sock" "$path" "$expected" && ok+=("$tool")
    done
    for tool in floor moonpod; do
        [[ -e "$OUT/$engine/$tool/skip" ]] && die "$engine: $tool cannot run: $(cat "$OUT/$engine/$tool/skip")"
    done

    for tool in "${ok[@]}"; do measure_cold "$engine" "$tool" "$sock" "$path"; done
    for tool in "${ok[@]}"; do
        log "$engine: peak RSS: $tool"
        measure_rss "$engine" "$tool" "$sock" "$path"
    done
    reps="BENCH_LOOP_REPS_${engine^^}"
    # 1,000 lists take ~1.5 s per tool on Docker but ~8-16 s on Podman.
    reps="${!reps:-$([[ "$engine" == docker ]] && echo 5 || echo 1)}"
    measure_loops "$engine" "$sock" "$path" "$reps" "${ok[@]}"

    log "$engine: removing the bench containers"
    remove_containers "$engine"
    local e left=()
    for e in "${CONTAINERS_ON[@]}"; do [[ "$e" == "$engine" ]] || left+=("$e"); done
    CONTAINERS_ON=("${left[@]}")
}

main() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root: the private engines need it"
    local t0=$SECONDS engine
    for engine in "${REQUESTED_ENGINES[@]}"; do
        case "$engine" in
            docker|podman) ;;
            *) die "unknown engine '$engine' in BENCH_ENGINES (docker, podman)" ;;
        esac
    done
    mkdir -p "$OUT"
    rm -f "$OUT/engines-failed" "$OUT/results.md"
    check_tools
    build_floor
    exec {STDOUT_FD}>&1 {STDERR_FD}>&2
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_engines
    for engine in "${BENCH_ENGINES[@]}"; do bench_engine "$engine"; done
    lua5.4 "$BENCH_DIR/report.lua" "$OUT" "$OUT/results.md" "${BENCH_ENGINES[@]}"
    log "done in $(( SECONDS - t0 )) s; tables also in build/bench/results.md"
}

main "$@"
