#!/usr/bin/env bash
# The stats monitor bench: N running containers watched at a 1 s interval
# for S seconds, by moonpod (stats.monitor with a day of history on), by
# `docker stats` (streaming), by `podman stats --interval 1` (Podman), and
# by docker-py streaming the same stats, one after the other against the
# same containers. Each is measured as a whole process by GNU time: CPU
# time (user + system) and peak RSS; moonpod and docker-py also say how
# many samples they received, against the N x S the engine should send.
#
#   tests/bench/monitor.sh ENGINE [OUT_DIR]
#   tests/bench/monitor.sh --report ENGINE OUT_DIR   (the table again, from a saved run)
#
# ENGINE is docker or podman; the engine comes from the MOONPOD_TEST_*
# variables of an engines env.sh (make bench sources its own; by hand,
# source build/engines/env.sh). Knobs: BENCH_MONITOR_CONTAINERS=100,
# BENCH_MONITOR_SECONDS=60, BENCH_MONITOR_TOOLS="moonpod docker-cli
# podman-cli docker-py". Prints a table (also written to OUT_DIR/monitor.md,
# default build/bench/ENGINE) with the targets, each said met or not met:
# at most half the CPU time of the engine's CLI, under 25 MB peak RSS, far
# less than the docker-py script (at most half its CPU time and half its
# peak RSS); and a warning for a tool that received under 90% of N x S samples.
set -euo pipefail

readonly PROG="bench-monitor"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO
REPORT_ONLY=0
if [[ "${1:-}" == --report ]]; then
    REPORT_ONLY=1
    shift
    [[ -n "${2:-}" ]] || die "usage: monitor.sh --report docker|podman OUT_DIR"
fi
readonly REPORT_ONLY
readonly ENGINE="${1:-}"
[[ "$ENGINE" == docker || "$ENGINE" == podman ]] || die "usage: monitor.sh docker|podman [OUT_DIR]"
readonly OUT="${2:-$REPO/build/bench/$ENGINE}/monitor"
N="${BENCH_MONITOR_CONTAINERS:-100}"
SECS="${BENCH_MONITOR_SECONDS:-60}"
read -ra TOOLS <<<"${BENCH_MONITOR_TOOLS:-moonpod docker-cli podman-cli docker-py}"
# this run's own label and names: other runs on the same engine keep theirs
readonly LABEL="moonpod.bench.monitor=$$"
readonly MOONPOD="$REPO/moonpod"
readonly PYTHON=/usr/bin/python3
readonly GNU_TIME=/usr/bin/time
DOCKER_CLI="$(command -v docker || true)"
[[ -x /usr/bin/docker ]] && DOCKER_CLI=/usr/bin/docker   # Debian's: speaks the engine's API version

SOCK="" IMAGE=""
case "$ENGINE" in
    docker) SOCK="${MOONPOD_TEST_DOCKER_SOCK:-}"; IMAGE="${MOONPOD_TEST_DOCKER_IMAGE:-}" ;;
    podman) SOCK="${MOONPOD_TEST_PODMAN_SOCK:-}"; IMAGE="${MOONPOD_TEST_PODMAN_IMAGE:-}" ;;
esac
readonly SOCK IMAGE

cli() {
    if [[ "$ENGINE" == podman ]]; then
        local args=()
        read -ra args <<<"${MOONPOD_TEST_PODMAN_ARGS:-}"
        env -u CONTAINER_HOST podman "${args[@]}" "$@"
    else
        "$DOCKER_CLI" --host "unix://$SOCK" "$@"
    fi
}

remove_all() {
    local ids=()
    mapfile -t ids < <(cli ps -aq --filter "label=$LABEL" 2>/dev/null || true)
    (( ${#ids[@]} )) || return 0
    log "$ENGINE: removing ${#ids[@]} bench containers"
    if [[ "$ENGINE" == podman ]]; then
        cli rm -f --time 0 "${ids[@]}" >/dev/null 2>&1 || true
    else
        cli rm -f "${ids[@]}" >/dev/null 2>&1 || true
    fi
}

# tool_cmd TOOL: fills CMD; returns 1 when the tool does not apply here.
tool_cmd() {
    case "$1" in
        moonpod) CMD=("$MOONPOD" "$REPO/tests/bench/monitor.lua" "$SOCK" "$LABEL" "$SECS") ;;
        docker-cli)
            [[ -n "$DOCKER_CLI" ]] || return 1
            CMD=(timeout -s INT "$SECS" "$DOCKER_CLI" --host "unix://$SOCK" stats "${IDS[@]}") ;;
        podman-cli)
            [[ "$ENGINE" == podman ]] || return 1
            local args=()
            read -ra args <<<"${MOONPOD_TEST_PODMAN_ARGS:-}"
            CMD=(timeout -s INT "$SECS" env -u CONTAINER_HOST podman "${args[@]}" stats --interval 1 "${IDS[@]}") ;;
        docker-py)
            "$PYTHON" -c 'import docker' 2>/dev/null || return 1
            CMD=("$PYTHON" "$REPO/tests/bench/dockerpy_monitor.py" "$SOCK" "$LABEL" "$SECS") ;;
        *) die "unknown tool $1" ;;
    esac
}

measure() {
    local tool="$1" dir="$OUT/$1"
    mkdir -p "$dir"
    tool_cmd "$tool" || { log "$ENGINE: $tool does not apply"; return 0; }
    log "$ENGINE: $tool watching ${#IDS[@]} containers for $SECS s"
    # timeout's rusage includes the CLI it waited for; `timeout -s INT`
    # ends the streaming CLIs as Ctrl-C would (status 124 is expected)
    "$GNU_TIME" -o "$dir/time" -f 'rusage %U %S %M %e' "${CMD[@]}" >"$dir/stdout" 2>"$dir/stderr" || true
    grep -q '^rusage ' "$dir/time" || { log "$ENGINE: $tool: no measurement (see $dir)"; return 0; }
    echo "$tool" >>"$OUT/measured"
}

# Starts the containers, measures each tool in turn, removes the containers.
run_tools() {
    [[ -n "$SOCK" && -n "$IMAGE" ]] || die "no engine: source an engines env.sh"
    [[ -x "$MOONPOD" ]] || die "no $MOONPOD: run make first"
    trap remove_all EXIT
    rm -rf "$OUT"
    mkdir -p "$OUT"
    log "$ENGINE: starting $N idle containers"
    local i
    for (( i = 1; i <= N; i++ )); do
        cli run -d --network none --label "$LABEL" --name "mpb-monitor-$$-$i" "$IMAGE" \
            sh -c 'while true; do sleep 1; done' >/dev/null || die "creating container $i failed"
    done
    mapfile -t IDS < <(cli ps -q --no-trunc --filter "label=$LABEL")
    (( ${#IDS[@]} == N )) || die "expected $N running containers, found ${#IDS[@]}"
    printf 'containers %d\nseconds %d\n' "$N" "$SECS" >"$OUT/params"
    local tool
    for tool in "${TOOLS[@]}"; do measure "$tool"; done
}

if (( REPORT_ONLY )); then
    [[ -s "$OUT/params" ]] || die "no $OUT/params: not a result directory of this script"
    N="$(awk '$1 == "containers" { print $2 }' "$OUT/params")"
    SECS="$(awk '$1 == "seconds" { print $2 }' "$OUT/params")"
else
    run_tools
fi
[[ -s "$OUT/measured" ]] && grep -qx moonpod "$OUT/measured" || die "moonpod was not measured (see $OUT/moonpod)"

cpu_of() { awk '/^rusage /{ printf "%.2f", $2 + $3 }' "$OUT/$1/time"; }
rss_of() { awk '/^rusage /{ printf "%.1f", $4 / 1024 }' "$OUT/$1/time"; }
measured() { grep -qx "$1" "$OUT/measured"; }
# what a tool printed as "KEY N" on its stdout, or nothing
said() { awk -v k="$2" '$1 == k { print $2 }' "$OUT/$1/stdout" 2>/dev/null | tail -n 1; }
# samples a tool received; the CLIs redraw a table and count nothing
samples_of() {
    case "$1" in
        moonpod) said moonpod received ;;
        docker-py) said docker-py samples ;;
    esac
}
# "met (X)" / "NOT met (X)": is a <= b * factor?
verdict() {
    awk -v a="$1" -v b="$2" -v f="$3" -v what="$4" 'BEGIN {
        if (b <= 0) { print "not measured"; exit }
        printf "%s (%s)", (a <= b * f ? "met" : "NOT met"), what }'
}

readonly EXPECTED=$(( N * SECS ))
mcpu="$(cpu_of moonpod)"
mrss="$(rss_of moonpod)"
ratio_to() { awk -v m="$mcpu" -v t="$(cpu_of "$1")" 'BEGIN { if (t > 0) printf "%.2f", m / t; else print "-" }'; }
target_cli() {
    local tool="$1" shown="$2"
    if measured "$tool"; then
        echo "- at most 0.5 × the CPU time of $shown: $(verdict "$mcpu" "$(cpu_of "$tool")" 0.5 "$(ratio_to "$tool")×")"
    else
        echo "- at most 0.5 × the CPU time of $shown: not measured here"
    fi
}

{
    echo "### stats monitor: $ENGINE, $N containers, 1 s interval, $SECS s"
    echo
    echo "| tool | CPU s (user+sys) | peak RSS MB | moonpod CPU / tool CPU | samples (of $EXPECTED) | notes |"
    echo "|---|---|---|---|---|---|"
    while read -r tool; do
        note=""
        case "$tool" in
            moonpod|docker-py) note="$(tr '\n' ' ' <"$OUT/$tool/stdout")" ;;
        esac
        got="$(samples_of "$tool")"
        echo "| $tool | $(cpu_of "$tool") | $(rss_of "$tool") | $(ratio_to "$tool") | ${got:-not counted} | $note|"
    done <"$OUT/measured"
    echo
    echo "Targets:"
    target_cli docker-cli '`docker stats`'
    if [[ "$ENGINE" == podman ]]; then target_cli podman-cli '`podman stats --interval 1`'; fi
    echo "- under 25 MB peak RSS with a day of history: $(verdict "$mrss" 25 1 "$mrss MB")"
    if measured docker-py; then
        pcpu="$(cpu_of docker-py)"
        prss="$(rss_of docker-py)"
        both="$(awk -v mc="$mcpu" -v pc="$pcpu" -v mr="$mrss" -v pr="$prss" 'BEGIN {
            ok = pc > 0 && pr > 0 && mc <= 0.5 * pc && mr <= 0.5 * pr
            # parenthesised: a bare ">" among the printf arguments is a redirection
            printf "%s (CPU %.2f s vs %.2f s, %.2f×; RSS %.1f MB vs %.1f MB, %.2f×)", (ok ? "met" : "NOT met"),
                mc, pc, (pc > 0 ? mc / pc : 0), mr, pr, (pr > 0 ? mr / pr : 0) }')"
        echo "- far less than the docker-py script (at most half its CPU time and half its peak RSS): $both"
    else
        echo "- far less than the docker-py script: not measured here (no python3-docker)"
    fi
    while read -r tool; do
        got="$(samples_of "$tool")"
        [[ -n "$got" ]] || continue
        if (( got * 10 < EXPECTED * 9 )); then
            echo
            echo "WARNING: $tool received $got samples, under 90% of the $EXPECTED expected ($N containers × $SECS s):"
            echo "its CPU time covers less work than the others'."
        fi
    done <"$OUT/measured"
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs."
} | tee "$OUT/monitor.md"
