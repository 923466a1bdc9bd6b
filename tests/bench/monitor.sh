#!/usr/bin/env bash
# The stats monitor bench: N running containers watched at a 1 s interval
# for S seconds, by moonpod (stats.monitor with a day of history on), by
# `docker stats` (streaming), by `podman stats --interval 1` (Podman), and
# by docker-py streaming the same stats, one after the other against the
# same containers. Each is measured as a whole process by GNU time: CPU
# time (user + system) and peak RSS.
#
#   tests/bench/monitor.sh ENGINE [OUT_DIR]
#
# ENGINE is docker or podman; the engine comes from the MOONPOD_TEST_*
# variables of an engines env.sh (make bench sources its own; by hand,
# source build/engines/env.sh). Knobs: BENCH_MONITOR_CONTAINERS=100,
# BENCH_MONITOR_SECONDS=60, BENCH_MONITOR_TOOLS="moonpod docker-cli
# podman-cli docker-py". Prints a table (also written to OUT_DIR/monitor.md,
# default build/bench/ENGINE) with the targets: at most half the CPU time
# of the engine's CLI, under 25 MB peak RSS.
set -euo pipefail

readonly PROG="bench-monitor"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO
readonly ENGINE="${1:-}"
[[ "$ENGINE" == docker || "$ENGINE" == podman ]] || die "usage: monitor.sh docker|podman [OUT_DIR]"
readonly OUT="${2:-$REPO/build/bench/$ENGINE}/monitor"
readonly N="${BENCH_MONITOR_CONTAINERS:-100}"
readonly SECS="${BENCH_MONITOR_SECONDS:-60}"
read -ra TOOLS <<<"${BENCH_MONITOR_TOOLS:-moonpod docker-cli podman-cli docker-py}"
readonly LABEL="moonpod.bench.monitor=1"
readonly MOONPOD="$REPO/moonpod"
readonly PYTHON=/usr/bin/python3
readonly GNU_TIME=/usr/bin/time
DOCKER_CLI="$(command -v docker || true)"
[[ -x /usr/bin/docker ]] && DOCKER_CLI=/usr/bin/docker   # Debian's: speaks the engine's API version

case "$ENGINE" in
    docker) SOCK="${MOONPOD_TEST_DOCKER_SOCK:?source an engines env.sh}"; IMAGE="${MOONPOD_TEST_DOCKER_IMAGE:?}" ;;
    podman) SOCK="${MOONPOD_TEST_PODMAN_SOCK:?source an engines env.sh}"; IMAGE="${MOONPOD_TEST_PODMAN_IMAGE:?}" ;;
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

trap remove_all EXIT
[[ -x "$MOONPOD" ]] || die "no $MOONPOD: run make first"
rm -rf "$OUT"
mkdir -p "$OUT"
remove_all
log "$ENGINE: starting $N idle containers"
for (( i = 1; i <= N; i++ )); do
    cli run -d --network none --label "$LABEL" --name "mpb-monitor-$i" "$IMAGE" \
        sh -c 'while true; do sleep 1; done' >/dev/null || die "creating container $i failed"
done
mapfile -t IDS < <(cli ps -q --no-trunc --filter "label=$LABEL")
(( ${#IDS[@]} == N )) || die "expected $N running containers, found ${#IDS[@]}"

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

for tool in "${TOOLS[@]}"; do measure "$tool"; done
[[ -s "$OUT/measured" ]] && grep -qx moonpod "$OUT/measured" || die "moonpod was not measured (see $OUT/moonpod)"

cpu_of() { awk '/^rusage /{ printf "%.2f", $2 + $3 }' "$OUT/$1/time"; }
rss_of() { awk '/^rusage /{ printf "%.1f", $4 / 1024 }' "$OUT/$1/time"; }

{
    echo "### stats monitor: $ENGINE, ${#IDS[@]} containers, 1 s interval, $SECS s"
    echo
    echo "| tool | CPU s (user+sys) | peak RSS MB | moonpod CPU / tool CPU | notes |"
    echo "|---|---|---|---|---|"
    mcpu="$(cpu_of moonpod)"
    while read -r tool; do
        cpu="$(cpu_of "$tool")"
        note=""
        case "$tool" in
            moonpod) note="$(tr '\n' ' ' <"$OUT/moonpod/stdout")" ;;
            docker-py) note="$(tr '\n' ' ' <"$OUT/docker-py/stdout")" ;;
        esac
        ratio="$(awk -v m="$mcpu" -v t="$cpu" 'BEGIN { if (t > 0) printf "%.2f", m / t; else print "-" }')"
        echo "| $tool | $cpu | $(rss_of "$tool") | $ratio | $note|"
    done <"$OUT/measured"
    echo
    echo "Targets: moonpod at most 0.5 × the CPU time of \`docker stats\` and of \`podman stats --interval 1\`;"
    echo "moonpod under 25 MB peak RSS (a day of history on): $(rss_of moonpod) MB."
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs."
} | tee "$OUT/monitor.md"
