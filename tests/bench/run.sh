#!/usr/bin/env bash
# make bench: moonpod side by side with a bare libcurl client (the floor) and
# the well-known peers (docker CLI, docker-py, dockerode), in one run, against
# the same private engine, Docker first and then Podman.
#
#   (a) cold start: a whole process that connects and prints how many
#       containers there are — wall time (hyperfine) and peak RSS (GNU time);
#   (b) 1,000 sequential list calls in one process, timed inside each program
#       around the loop only, plus the whole process;
#   (c) one-shot stats of 50 running containers, all requests at once, timed
#       inside each program around the fetch only (after connecting and
#       listing), plus the docker CLI's `stats --no-stream` as a process;
#   (d) reading a 100 MB log (framed, from an exited container) to the end:
#       wall time, MB/s and peak RSS of the whole process, and moonpod on a
#       10 MB log too, to show its memory does not grow with the log;
#   (e) the stats monitor: 100 running containers watched at 1 s for 60 s by
#       moonpod (a day of history on), `docker stats`, `podman stats
#       --interval 1` and docker-py streaming: CPU time and peak RSS of each
#       (tests/bench/monitor.sh, knobs BENCH_MONITOR_* there);
#   (f) the event listener: throughput and latency (tests/bench/events.sh);
#   (g) remediation latency: a container killed with SIGKILL, until it runs
#       again, moonpod serve's policy against the engine's own restart
#       policy and a 5 s polling loop (tests/bench/remediation.sh).
#
# Prints one set of tables per engine with ratios to the floor and the
# targets (informational: the bench fails only when it cannot measure
# moonpod or the floor at all), and writes the same tables to
# build/bench/results.md.
#
# Knobs (environment): BENCH_ENGINES="docker podman", BENCH_CONTAINERS=20,
# BENCH_LOOP_N=1000, BENCH_CLI_LOOP_N=100, BENCH_COLD_RUNS=30,
# BENCH_COLD_WARMUP=3, BENCH_RSS_RUNS=5, BENCH_LOOP_REPS_DOCKER=5,
# BENCH_LOOP_REPS_PODMAN=1, BENCH_STATS_CONTAINERS=50,
# BENCH_STATS_REPS_DOCKER=3, BENCH_STATS_REPS_PODMAN=10,
# BENCH_STATS_SETTLE=1.2 (seconds of quiet before each Docker stats run),
# BENCH_LOG_MB=100, BENCH_LOG_SMALL_MB=10, BENCH_LOGS_REPS=1,
# BENCH_SKIP="stats logs" (leave parts out: list, stats, logs, monitor, events,
# remediation), BENCH_EVENTS, BENCH_LATENCY_STARTS (tests/bench/events.sh),
# BENCH_REMEDIATION_* (tests/bench/remediation.sh),
# BENCH_KEEP_ENGINES=1 (leave the engines up),
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
readonly FLOOR_STATS="$OUT/floor_stats"
readonly FLOOR_LOGS="$OUT/floor_logs"
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
# A wedged peer must not hang the bench; the slowest legitimate commands
# (1,000 compat-API lists on Podman, a 100 MB log through Podman's API) take
# about 20 and 40 s.
readonly TOOL_TIMEOUT=300

readonly N_STATS="${BENCH_STATS_CONTAINERS:-50}"
readonly STATS_SETTLE="${BENCH_STATS_SETTLE:-1.2}"
# floor-each (Podman only): the floor asking the libpod endpoint once per
# container, all at once, as moonpod does — what 50 requests cost the engine
# beside one. dockerode-oneshot: dockerode asking one-shot=true too (it
# forwards any option as a query parameter), so that on Docker the engine
# does the same work for it as for moonpod and the floor.
readonly STATS_TOOLS=(floor floor-each moonpod docker-cli docker-py dockerode dockerode-oneshot)
readonly LOG_MB="${BENCH_LOG_MB:-100}"
readonly LOG_SMALL_MB="${BENCH_LOG_SMALL_MB:-10}"
readonly LOGS_REPS="${BENCH_LOGS_REPS:-1}"
# 43 characters and a newline: 2,383,128 lines in 100 MB.
readonly LOG_LINE="some log line of moderate length 0123456789"
# podman-cli: the local podman reading its log file directly (Podman only).
# moonpod-small: moonpod on the small log, for its peak RSS.
readonly LOGS_TOOLS=(floor moonpod moonpod-small docker-cli podman-cli docker-py dockerode)
# Carried by the running bench containers; the stats programs list by it.
readonly BENCH_LABEL="moonpod.bench=1"
read -ra SKIP_PARTS <<<"${BENCH_SKIP:-}"

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

# Every bench-N and bench-log-N, not only 1..N_CONTAINERS: an earlier run
# may have used more.
remove_containers() {
    local engine="$1" names=()
    mapfile -t names < <(engine_cli "$engine" ps -a --format '{{.Names}}' 2>/dev/null | grep -E '^bench-(log-)?[0-9]+$' || true)
    (( ${#names[@]} )) || return 0
    case "$engine" in
        docker) docker_cli rm -f "${names[@]}" >/dev/null 2>&1 || true ;;
        podman) podman_cli rm -f --time 0 --ignore "${names[@]}" >/dev/null 2>&1 || true ;;
    esac
}

# create_containers ENGINE [FIRST LAST]: idle running containers bench-FIRST
# .. bench-LAST (default 1..N_CONTAINERS, after removing leftovers).
create_containers() {
    local engine="$1" first="${2:-1}" last="${3:-$N_CONTAINERS}" image i
    image="$(engine_image "$engine")"
    if (( first == 1 )); then
        CONTAINERS_ON+=("$engine")
        remove_containers "$engine"   # leftovers of an interrupted run
    fi
    (( last >= first )) || return 0
    log "$engine: creating $(( last - first + 1 )) idle containers (bench-$first..bench-$last)"
    for (( i = first; i <= last; i++ )); do
        engine_cli "$engine" run -d --network none --label "$BENCH_LABEL" --name "bench-$i" "$image" \
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
    cc -O2 -o "$FLOOR_STATS" "$BENCH_DIR/floor_stats.c" "${flag_words[@]}" || die "building floor_stats failed"
    cc -O2 -o "$FLOOR_LOGS" "$BENCH_DIR/floor_logs.c" "${flag_words[@]}" || die "building floor_logs failed"
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

# The peak RSS of a process that only links libcurl and initialises it (the
# floor with N = 0): the part of every tool's figure that comes with libcurl.
measure_curl_rss() {
    local engine="$1" sock="$2" path="$3" runs="$OUT/$1/floor/curl-only.runs" i
    : >"$runs"
    for (( i = 0; i < RSS_RUNS; i++ )); do
        "$GNU_TIME" -f '%M' -o "$runs.time" "$FLOOR" "$sock" "$path" 0 >/dev/null 2>&1 || return 0
        tail -n1 "$runs.time" >>"$runs"
    done
    printf 'curl_only_rss_kb\t%s\n' "$(median <"$runs")" >>"$OUT/$engine/meta"
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

# ---------------------------------------------------------------- stats ----

# The availability of a peer (dockerode-oneshot is dockerode).
unavailable_reason() {
    local tool="${1%-oneshot}"
    [[ -s "$OUT/unavailable/$tool" ]] && cat "$OUT/unavailable/$tool"
}

# stats_cmd TOOL: fills CMD (stats of the running containers with
# BENCH_LABEL). Uses STATS_SOCK, STATS_LIST_PATH, STATS_MODE, STATS_PATH and
# STATS_IDS set by bench_stats.
stats_cmd() {
    case "$1" in
        floor) CMD=("$FLOOR_STATS" "$STATS_SOCK" "$STATS_LIST_PATH" "$STATS_MODE" "$STATS_PATH") ;;
        floor-each) CMD=("$FLOOR_STATS" "$STATS_SOCK" "$STATS_LIST_PATH" each "$STATS_PATH&containers={id}") ;;
        moonpod) CMD=("$MOONPOD" "$BENCH_DIR/stats.lua" "$STATS_SOCK" "$BENCH_LABEL") ;;
        # One process for all of them, given the ids (its list is argv).
        docker-cli) CMD=("$DOCKER_CLI" --host "unix://$STATS_SOCK" stats --no-stream "${STATS_IDS[@]}") ;;
        docker-py) CMD=("$PYTHON" "$BENCH_DIR/dockerpy_stats.py" "$STATS_SOCK" "$BENCH_LABEL") ;;
        dockerode) CMD=(node "$BENCH_DIR/dockerode_stats.js" "$STATS_SOCK" "$BENCH_LABEL") ;;
        dockerode-oneshot) CMD=(node "$BENCH_DIR/dockerode_stats.js" "$STATS_SOCK" "$BENCH_LABEL" one-shot) ;;
    esac
}

# stats_once ENGINE TOOL R: one run; writes rep-R.out (the program's output,
# with "fetch_us") and rep-R.wall_us (the whole process). Fails when the
# tool did not sample every container.
stats_once() {
    local engine="$1" tool="$2" r="$3" dir="$OUT/$1/stats/$2" t0 t1 count
    stats_cmd "$tool"
    # Docker's stats collector wakes for the first subscriber, then samples
    # once a second: a quiet spell before each run starts every tool from
    # the same idle collector, however long the previous one took to exit.
    [[ "$engine" == docker ]] && sleep "$STATS_SETTLE"
    t0=$EPOCHREALTIME
    if ! timeout "$TOOL_TIMEOUT" "${CMD[@]}" >"$dir/rep-$r.out" 2>"$dir/rep-$r.err"; then
        printf 'failed: %s\n' "$(tail -n1 "$dir/rep-$r.err")" >"$dir/skip"
        log "$engine: stats: $tool: $(cat "$dir/skip") (see $dir/rep-$r.err)"
        rm -f "$dir/rep-$r.out"
        return 1
    fi
    t1=$EPOCHREALTIME
    if [[ "$tool" == docker-cli ]]; then
        count=$(( $(grep -c . "$dir/rep-$r.out" || true) - 1 ))   # a header line
    else
        count="$(head -n1 "$dir/rep-$r.out")"
    fi
    if [[ "$count" != "$STATS_EXPECTED" ]]; then
        printf 'sampled %s containers, expected %s\n' "${count:-none}" "$STATS_EXPECTED" >"$dir/skip"
        log "$engine: stats: $tool: $(cat "$dir/skip")"
        rm -f "$dir/rep-$r.out"
        return 1
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) * 1e6 }' >"$dir/rep-$r.wall_us"
}

# The requests moonpod makes for get_container_stats (and the list before),
# read from its debug log, so the floor asks the same: on Docker one request
# per container (the id becomes {id}), on Podman the same libpod endpoint
# with every container in one request.
stats_paths() {
    local engine="$1" log_file="$2" one
    STATS_LIST_PATH="$(grep -o 'GET http://[^/ ]*/[^ ]*containers/json[^ ]*' "$log_file" | head -n1 | sed 's|^GET http://[^/]*||')"
    one="$(grep -o 'GET http://[^/ ]*/[^ ]*stats?[^ ]*' "$log_file" | head -n1 | sed 's|^GET http://[^/]*||')"
    [[ -n "$STATS_LIST_PATH" && -n "$one" ]] || return 1
    if [[ "$engine" == docker ]]; then
        STATS_MODE=each
        STATS_PATH="$(printf '%s\n' "$one" | sed -E 's|/containers/[0-9a-f]{64}/|/containers/{id}/|')"
        [[ "$STATS_PATH" == *"{id}"* ]] || return 1
    else
        STATS_MODE=all
        STATS_PATH="$(printf '%s\n' "$one" | sed -E 's/&containers=[^&]*//')"
        [[ "$STATS_PATH" == *stats?* ]] || return 1
    fi
}

# bench_stats ENGINE HAVE: HAVE bench containers are running already (the
# list's); more are started up to N_STATS.
bench_stats() {
    local engine="$1" have="$2" dir="$OUT/$1/stats" tool r reps ok=() still=() reason
    STATS_SOCK="$(engine_sock "$engine")"
    for tool in "${STATS_TOOLS[@]}"; do mkdir -p "$dir/$tool"; done
    create_containers "$engine" $(( have + 1 )) "$N_STATS"
    mapfile -t STATS_IDS < <(engine_cli "$engine" ps -q --no-trunc --filter "label=$BENCH_LABEL")
    STATS_EXPECTED="${#STATS_IDS[@]}"
    (( STATS_EXPECTED > 0 )) || die "$engine: no running bench containers for stats"

    # moonpod once with its debug log: the smoke test and the floor's paths.
    if ! MOONPOD_DEBUG=1 timeout 60 "$MOONPOD" "$BENCH_DIR/stats.lua" "$STATS_SOCK" "$BENCH_LABEL" \
            >"$dir/moonpod/debug.out" 2>"$dir/moonpod/debug.log" ||
       [[ "$(head -n1 "$dir/moonpod/debug.out")" != "$STATS_EXPECTED" ]]; then
        die "$engine: moonpod could not take stats of $STATS_EXPECTED containers (see $dir/moonpod/debug.log)"
    fi
    stats_paths "$engine" "$dir/moonpod/debug.log" \
        || die "$engine: no stats request in moonpod's debug log ($dir/moonpod/debug.log)"
    log "$engine: stats: moonpod asks GET $STATS_PATH ($STATS_MODE); the floor asks the same"
    {
        printf 'stats_path\t%s\n' "$STATS_PATH"
        printf 'stats_mode\t%s\n' "$STATS_MODE"
        printf 'stats_containers\t%s\n' "$STATS_EXPECTED"
        printf 'stats_loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'stats_settle\t%s\n' "$([[ "$engine" == docker ]] && echo "$STATS_SETTLE" || echo 0)"
    } >>"$OUT/$engine/meta"

    for tool in "${STATS_TOOLS[@]}"; do
        if [[ "$tool" == floor-each && "$engine" != podman ]]; then
            rm -rf "${dir:?}/$tool"   # on Docker the floor itself asks once per container
        elif reason="$(unavailable_reason "$tool")"; then
            printf '%s\n' "$reason" >"$dir/$tool/skip"
        else
            ok+=("$tool")
        fi
    done
    reps="BENCH_STATS_REPS_${engine^^}"
    # A Docker run waits for the collector's next tick, about 1 s.
    reps="${!reps:-$([[ "$engine" == docker ]] && echo 3 || echo 10)}"
    # Round the tools, as for the loops: load changes hit all of them alike.
    for (( r = 1; r <= reps; r++ )); do
        still=()
        for tool in "${ok[@]}"; do
            log "$engine: stats: $tool ($STATS_EXPECTED containers at once, repetition $r/$reps)"
            stats_once "$engine" "$tool" "$r" && still+=("$tool")
        done
        ok=("${still[@]}")
    done
    for tool in floor moonpod; do
        [[ -e "$dir/$tool/skip" ]] && die "$engine: stats: $tool failed: $(cat "$dir/$tool/skip")"
    done
    printf 'stats_loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$engine/meta"
}

# ----------------------------------------------------------------- logs ----

# make_log_container ENGINE NAME MB: an exited container whose log is MB
# MiB of LOG_LINE lines (stdout, no TTY: framed on both engines).
make_log_container() {
    local engine="$1" name="$2" mb="$3" code
    engine_cli "$engine" run -d --network none --name "$name" "$(engine_image "$engine")" \
        sh -c "yes '$LOG_LINE' | head -c $(( mb * 1048576 ))" >/dev/null \
        || die "$engine: creating $name failed"
    code="$(engine_cli "$engine" wait "$name")" || die "$engine: waiting for $name failed"
    [[ "$code" == 0 ]] || die "$engine: $name exited with '$code'"
}

# Lines in a log of MB MiB of LOG_LINE (the last one cut short).
log_lines() {
    local size=$(( $1 * 1048576 )) len=$(( ${#LOG_LINE} + 1 ))
    echo $(( (size + len - 1) / len ))
}

# logs_cmd TOOL: fills CMD; NULL_OUT=1 when its output goes to /dev/null
# (the CLIs print the log itself).
logs_cmd() {
    local name="bench-log-$LOG_MB"
    NULL_OUT=""
    case "$1" in
        floor) CMD=("$FLOOR_LOGS" "$LOGS_SOCK" "$LOGS_PATH") ;;
        moonpod) CMD=("$MOONPOD" "$BENCH_DIR/logs.lua" "$LOGS_SOCK" "$name") ;;
        moonpod-small) CMD=("$MOONPOD" "$BENCH_DIR/logs.lua" "$LOGS_SOCK" "bench-log-$LOG_SMALL_MB") ;;
        docker-cli) CMD=("$DOCKER_CLI" --host "unix://$LOGS_SOCK" logs "$name"); NULL_OUT=1 ;;
        podman-cli)
            local args=()
            read -ra args <<<"$MOONPOD_TEST_PODMAN_ARGS"
            CMD=(env -u CONTAINER_HOST podman "${args[@]}" logs "$name"); NULL_OUT=1 ;;
        docker-py) CMD=("$PYTHON" "$BENCH_DIR/dockerpy_logs.py" "$LOGS_SOCK" "$name") ;;
        dockerode) CMD=(node "$BENCH_DIR/dockerode_logs.js" "$LOGS_SOCK" "$name") ;;
    esac
}

# logs_once ENGINE TOOL R: one whole process under GNU time: rep-R.time
# holds "wall_s rss_kb user_s sys_s", rep-R.out the program's own lines.
logs_once() {
    local engine="$1" tool="$2" r="$3" dir="$OUT/$1/logs/$2" out expected lines t0 t1
    logs_cmd "$tool"
    out="$dir/rep-$r.out"
    [[ -n "$NULL_OUT" ]] && out=/dev/null
    expected="$LOGS_EXPECTED"
    [[ "$tool" == moonpod-small ]] && expected="$LOGS_EXPECTED_SMALL"
    t0=$EPOCHREALTIME
    if ! timeout "$TOOL_TIMEOUT" "$GNU_TIME" -f '%e %M %U %S' -o "$dir/rep-$r.gnutime" \
            "${CMD[@]}" >"$out" 2>"$dir/rep-$r.err"; then
        printf 'failed: %s\n' "$(grep -v '^Command exited' "$dir/rep-$r.err" | tail -n1)" >"$dir/skip"
        log "$engine: logs: $tool: $(cat "$dir/skip") (see $dir/rep-$r.err)"
        return 1
    fi
    t1=$EPOCHREALTIME
    if [[ -z "$NULL_OUT" ]]; then
        lines="$(awk '$1 == "lines" { print $2 }' "$dir/rep-$r.out")"
        if [[ "$lines" != "$expected" ]]; then
            printf 'read %s lines, expected %s\n' "${lines:-none}" "$expected" >"$dir/skip"
            log "$engine: logs: $tool: $(cat "$dir/skip")"
            return 1
        fi
    fi
    # GNU time's wall clock has 10 ms steps; the shell's is finer.
    awk -v a="$t0" -v b="$t1" '{ printf "%.6f %s %s %s\n", b - a, $2, $3, $4 }' \
        <(tail -n1 "$dir/rep-$r.gnutime") >"$dir/rep-$r.time"
}

bench_logs() {
    local engine="$1" dir="$OUT/$1/logs" tool r ok=() still=() reason
    LOGS_SOCK="$(engine_sock "$engine")"
    for tool in "${LOGS_TOOLS[@]}"; do mkdir -p "$dir/$tool"; done
    CONTAINERS_ON+=("$engine")
    log "$engine: logs: writing a $LOG_MB MB and a $LOG_SMALL_MB MB log"
    make_log_container "$engine" "bench-log-$LOG_MB" "$LOG_MB"
    make_log_container "$engine" "bench-log-$LOG_SMALL_MB" "$LOG_SMALL_MB"
    LOGS_EXPECTED="$(log_lines "$LOG_MB")"
    LOGS_EXPECTED_SMALL="$(log_lines "$LOG_SMALL_MB")"

    # moonpod on the small log with its debug log: the smoke test and the
    # floor's request (moonpod asks for timestamps: the floor does too).
    if ! MOONPOD_DEBUG=1 timeout 120 "$MOONPOD" "$BENCH_DIR/logs.lua" "$LOGS_SOCK" "bench-log-$LOG_SMALL_MB" \
            >"$dir/moonpod/debug.out" 2>"$dir/moonpod/debug.log" ||
       [[ "$(awk '$1 == "lines" { print $2 }' "$dir/moonpod/debug.out")" != "$LOGS_EXPECTED_SMALL" ]]; then
        die "$engine: moonpod could not read the $LOG_SMALL_MB MB log (see $dir/moonpod/debug.log)"
    fi
    LOGS_PATH="$(grep -o 'GET http://[^/ ]*/[^ ]*/logs?[^ ]*' "$dir/moonpod/debug.log" | head -n1 |
                 sed -e 's|^GET http://[^/]*||' -e "s|/bench-log-$LOG_SMALL_MB/|/bench-log-$LOG_MB/|")"
    [[ "$LOGS_PATH" == *"/bench-log-$LOG_MB/logs?"* ]] \
        || die "$engine: no logs request in moonpod's debug log ($dir/moonpod/debug.log)"
    log "$engine: logs: moonpod asks GET $LOGS_PATH; the floor asks the same"
    {
        printf 'logs_path\t%s\n' "$LOGS_PATH"
        printf 'logs_mb\t%s\n' "$LOG_MB"
        printf 'logs_small_mb\t%s\n' "$LOG_SMALL_MB"
        printf 'logs_lines\t%s\n' "$LOGS_EXPECTED"
        printf 'logs_loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'version:podman-cli\t%s\n' "$(podman --version 2>/dev/null | head -n1)"
    } >>"$OUT/$engine/meta"

    for tool in "${LOGS_TOOLS[@]}"; do
        if [[ "$tool" == podman-cli && "$engine" != podman ]]; then
            rm -rf "${dir:?}/$tool"   # not a peer on Docker
        elif reason="$(unavailable_reason "$tool")"; then
            printf '%s\n' "$reason" >"$dir/$tool/skip"
        else
            ok+=("$tool")
        fi
    done
    for (( r = 1; r <= LOGS_REPS; r++ )); do
        still=()
        for tool in "${ok[@]}"; do
            log "$engine: logs: $tool (repetition $r/$LOGS_REPS)"
            logs_once "$engine" "$tool" "$r" && still+=("$tool")
        done
        ok=("${still[@]}")
    done
    for tool in floor moonpod; do
        [[ -e "$dir/$tool/skip" ]] && die "$engine: logs: $tool failed: $(cat "$dir/$tool/skip")"
    done
    printf 'logs_loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$engine/meta"
}

skipped_part() {
    local p
    for p in "${SKIP_PARTS[@]}"; do [[ "$p" == "$1" ]] && return 0; done
    return 1
}

bench_list() {
    local engine="$1" sock="$2" path expected tool reps ok=()
    create_containers "$engine"
    expected="$(engine_cli "$engine" ps -aq | grep -c .)" || true

    if ! path="$(moonpod_list_path "$sock" "$OUT/$engine/moonpod/debug.log")"; then
        die "$engine: moonpod could not list containers (see $OUT/$engine/moonpod/debug.log)"
    fi
    log "$engine: moonpod lists with GET $path; the floor asks the same"
    {
        printf 'path\t%s\n' "$path"
        printf 'containers\t%s\n' "$expected"
    } >>"$OUT/$engine/meta"

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
    measure_curl_rss "$engine" "$sock" "$path"
    reps="BENCH_LOOP_REPS_${engine^^}"
    # 1,000 lists take ~1.5 s per tool on Docker but ~8-16 s on Podman.
    reps="${!reps:-$([[ "$engine" == docker ]] && echo 5 || echo 1)}"
    measure_loops "$engine" "$sock" "$path" "$reps" "${ok[@]}"
}

done_with_containers() {
    local engine="$1" e left=()
    log "$engine: removing the bench containers"
    remove_containers "$engine"
    for e in "${CONTAINERS_ON[@]}"; do [[ "$e" == "$engine" ]] || left+=("$e"); done
    CONTAINERS_ON=("${left[@]}")
}

bench_engine() {
    local engine="$1" sock tool parts=()
    sock="$(engine_sock "$engine")"
    [[ -S "$sock" ]] || die "$engine: no socket at '$sock'"
    rm -rf "${OUT:?}/$engine"
    for tool in "${TOOLS[@]}"; do mkdir -p "$OUT/$engine/$tool"; done
    {
        printf 'engine_version\t%s\n' "$(engine_version "$sock")"
        printf 'version_ms\t%s\n' "$(request_ms "$sock" /version)"
        printf 'ping_ms\t%s\n' "$(request_ms "$sock" /_ping)"
        printf 'loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'cpus\t%s\n' "$(nproc)"
        for tool in "${TOOLS[@]}"; do
            printf 'version:%s\t%s\n' "$tool" "$(tool_version "$tool" || true)"
        done
    } >"$OUT/$engine/meta"

    skipped_part list || { bench_list "$engine" "$sock"; parts+=(list); }
    if ! skipped_part stats; then
        # The list's containers stay: the stats add to them up to N_STATS.
        if skipped_part list; then bench_stats "$engine" 0; else bench_stats "$engine" "$N_CONTAINERS"; fi
        parts+=(stats)
    fi
    # Idle containers wake every second: gone before the logs are read.
    done_with_containers "$engine"
    skipped_part logs || { bench_logs "$engine"; parts+=(logs); done_with_containers "$engine"; }
    # (e) the stats monitor: its own containers, its own table (monitor.sh)
    skipped_part monitor || { "$BENCH_DIR/monitor.sh" "$engine" "$OUT/$engine"; parts+=(monitor); }
    printf 'parts\t%s\n' "${parts[*]}" >>"$OUT/$engine/meta"
}

main() {
    if [[ "$(id -u)" -ne 0 ]]; then
        # The private engines are rootful, and the peers drive them (the
        # podman CLI on their storage): the bench runs as root, through sudo.
        # shellcheck source=scripts/dev/root.sh
        source "$REPO/scripts/dev/root.sh"
        local rc=0
        run_as_root "$BENCH_DIR/run.sh" "$@" || rc=$?
        exit "$rc"
    fi
    local t0=$SECONDS engine
    for engine in "${REQUESTED_ENGINES[@]}"; do
        case "$engine" in
            docker|podman) ;;
            *) die "unknown engine '$engine' in BENCH_ENGINES (docker, podman)" ;;
        esac
    done
    mkdir -p "$OUT"
    rm -f "$OUT/engines-failed" "$OUT/results.md" "$OUT/events.md" "$OUT/remediation.md"
    check_tools
    build_floor
    exec {STDOUT_FD}>&1 {STDERR_FD}>&2
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_engines
    for engine in "${BENCH_ENGINES[@]}"; do bench_engine "$engine"; done
    if ! skipped_part events; then
        BENCH_ENGINES="${BENCH_ENGINES[*]}" "$BENCH_DIR/events.sh" || log "warning: the events bench failed"
    fi
    if ! skipped_part remediation; then
        BENCH_ENGINES="${BENCH_ENGINES[*]}" "$BENCH_DIR/remediation.sh" || log "warning: the remediation bench failed"
    fi
    lua5.4 "$BENCH_DIR/report.lua" "$OUT" "$OUT/results.md" "${BENCH_ENGINES[@]}"
    for engine in "${BENCH_ENGINES[@]}"; do
        [[ -r "$OUT/$engine/monitor/monitor.md" ]] && { echo; cat "$OUT/$engine/monitor/monitor.md"; } >>"$OUT/results.md"
    done
    if [[ -s "$OUT/events.md" ]]; then
        { printf '\n'; cat "$OUT/events.md"; } >>"$OUT/results.md"
    fi
    if [[ -s "$OUT/remediation.md" ]]; then
        { printf '\n'; cat "$OUT/remediation.md"; } >>"$OUT/results.md"
    fi
    log "done in $(( SECONDS - t0 )) s; tables also in build/bench/results.md"
}

main "$@"
