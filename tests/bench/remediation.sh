#!/usr/bin/env bash
# The remediation bench (make bench runs this from run.sh, with the private
# engines up and their env.sh sourced): on each engine, how long a
# container whose main process is killed with SIGKILL stays down, for
# three remedies, one after the other:
#
#   moonpod  `moonpod serve tests/bench/remediation_policy.lua`: starts a
#            container again on its die event;
#   engine   the engine's own restart policy (`--restart=always`): the floor;
#   poll     a loop like autoheal's: every 5 s, list the exited containers
#            and start each (tests/bench/remediation_poll.py, docker-py).
#
# Method (tests/bench/remediation.lua): BENCH_REMEDIATION_CONTAINERS idle
# containers per remedy, killed in turn, one kill at a time, each only after
# it has run BENCH_REMEDIATION_RUN_S seconds (Docker resets its restart
# backoff after 10 s), BENCH_REMEDIATION_KILLS kills in all; latency is
# from just before the kill to the engine's timestamp on the next start
# event. For the poll, each kill also waits a random 0-5 s, so that it
# lands anywhere in the poll's cycle. p50 and p99 per remedy, and
# moonpod's over the engine's. About 4 minutes per engine at the defaults
# (the poll's 30 kills take 5 s each).
#
# Prints the table and writes it to build/bench/remediation.md.
# Knobs: BENCH_REMEDIATION_CONTAINERS=10, BENCH_REMEDIATION_KILLS=30,
# BENCH_REMEDIATION_RUN_S=10.5, BENCH_ENGINES="docker podman".
# Needs root (it kills container processes from the host).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO BENCH_DIR="$REPO/tests/bench" OUT="$REPO/build/bench/remediation"
readonly MOONPOD="$REPO/moonpod" PYTHON=/usr/bin/python3
readonly CONTAINERS="${BENCH_REMEDIATION_CONTAINERS:-10}" KILLS="${BENCH_REMEDIATION_KILLS:-30}"
readonly RUN_S="${BENCH_REMEDIATION_RUN_S:-10.5}"
readonly CONTESTANTS=(moonpod engine poll)
read -ra ENGINES <<<"${BENCH_ENGINES:-docker podman}"

log() { printf 'bench: remediation: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "must run as root: it kills container processes from the host"
mkdir -p "$OUT"
if [[ -z "${MOONPOD_TEST_DOCKER_SOCK:-}" ]]; then
    env_file="${MOONPOD_ENGINES_DIR:-$REPO/build/engines}/env.sh"
    [[ -r "$env_file" ]] || die "no engines: run from make bench, or start scripts/dev/engines.sh first"
    # shellcheck source=/dev/null
    source "$env_file"
fi
unset CONTAINER_HOST DOCKER_HOST

HELPER_PID=""
stop_helper() {
    [[ -n "$HELPER_PID" ]] || return 0
    kill -TERM "$HELPER_PID" 2>/dev/null || true
    wait "$HELPER_PID" 2>/dev/null || true
    HELPER_PID=""
}
trap stop_helper EXIT

# start_helper ENGINE CONTESTANT SOCK: the remedy that runs beside the
# engine (none for the engine's own policy). Returns 1 when it cannot run.
start_helper() {
    local engine="$1" who="$2" sock="$3" logf="$OUT/$1-$2.helper.log" i
    case "$who" in
        moonpod)
            CONTAINER_HOST="unix://$sock" "$MOONPOD" serve "$BENCH_DIR/remediation_policy.lua" 2>"$logf" &
            HELPER_PID=$!
            for (( i = 0; i < 200; i++ )); do
                grep -q 'serve: ready: 1 of 1 policies running' "$logf" && return 0
                sleep 0.05
            done
            log "$engine: moonpod serve did not get ready (see $logf)"
            return 1 ;;
        poll)
            "$PYTHON" -c 'import docker' 2>/dev/null || { log "no docker-py ($PYTHON): no poll contestant"; return 1; }
            "$PYTHON" "$BENCH_DIR/remediation_poll.py" "$sock" 5 2>"$logf" &
            HELPER_PID=$! ;;
    esac
}

measure() {
    : >"$OUT/results.tsv"
    local e sock image who out jitter
    for e in "${ENGINES[@]}"; do
        if [[ "$e" == docker ]]; then sock="$MOONPOD_TEST_DOCKER_SOCK" image="$MOONPOD_TEST_DOCKER_IMAGE"
        else sock="$MOONPOD_TEST_PODMAN_SOCK" image="$MOONPOD_TEST_PODMAN_IMAGE"; fi
        [[ -S "$sock" ]] || { log "$e: no socket, no remediation bench"; continue; }
        for who in "${CONTESTANTS[@]}"; do
            out="$OUT/$e-$who.out"
            log "$e: $who ($KILLS kills over $CONTAINERS containers, each after ${RUN_S} s up)"
            if ! start_helper "$e" "$who" "$sock"; then
                stop_helper
                printf '%s\t%s\t-\t-\t-\t-\t-\n' "$e" "$who" >>"$OUT/results.tsv"
                continue
            fi
            # kills at random points of the poll's 5 s cycle (remediation.lua)
            jitter=0
            [[ "$who" == poll ]] && jitter=5
            if timeout 600 "$MOONPOD" "$BENCH_DIR/remediation.lua" "$sock" "$image" "$who" "$CONTAINERS" "$KILLS" "$RUN_S" "$jitter" \
                    >"$out" 2>"$OUT/$e-$who.err"; then
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$e" "$who" \
                    "$(awk '$1 == "kills" { print $2 }' "$out")" "$(awk '$1 == "missed" { print $2 }' "$out")" \
                    "$(awk '$1 == "p50_us" { print $2 }' "$out")" "$(awk '$1 == "p99_us" { print $2 }' "$out")" \
                    "$(awk '$1 == "max_us" { print $2 }' "$out")" >>"$OUT/results.tsv"
            else
                log "$e: $who failed (see $OUT/$e-$who.err)"
                printf '%s\t%s\t-\t-\t-\t-\t-\n' "$e" "$who" >>"$OUT/results.tsv"
            fi
            stop_helper
        done
    done
}

report() {
    lua5.4 - "$OUT/results.tsv" "$KILLS" "$CONTAINERS" "$RUN_S" <<'LUA'
local tsv, kills, containers, run_s = arg[1], arg[2], arg[3], arg[4]
local rows, by = {}, {}
for line in io.lines(tsv) do
  local e, who, n, missed, p50, p99, mx = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if e then
    local r = { e = e, who = who, n = tonumber(n), missed = tonumber(missed), p50 = tonumber(p50),
                p99 = tonumber(p99), max = tonumber(mx) }
    rows[#rows + 1] = r
    by[e .. "/" .. who] = r
  end
end
local out = {}
local function p(s) out[#out + 1] = s end
local function ms(v) return v and v >= 0 and ("%.0f"):format(v / 1000) or "-" end
p(("### Remediation latency: SIGKILL → running again (%s kills over %s containers, each up ≥ %s s)"):format(
  kills, containers, run_s))
p("")
p("| engine | remedy | kills | missed | p50 (ms) | p99 (ms) | max (ms) | p50 × engine's | p99 × engine's |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
local verdicts = {}
for _, r in ipairs(rows) do
  local floor = by[r.e .. "/engine"]
  local function ratio(k)
    return (floor and floor[k] and floor[k] > 0 and r[k] and r[k] >= 0) and ("%.2f"):format(r[k] / floor[k]) or "-"
  end
  p(("| %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(r.e, r.who, r.n or "-", r.missed or "-", ms(r.p50),
    ms(r.p99), ms(r.max), ratio("p50"), ratio("p99")))
  if r.who == "moonpod" then
    local ok = floor and floor.p50 and r.p50 and r.p50 >= 0 and r.p50 <= 1.2 * floor.p50
    verdicts[#verdicts + 1] = ("%s %s"):format(r.e, ok and "met" or "**not met**")
  end
end
p("")
p(("Target: moonpod's p50 within 1.2× of the engine's own restart policy: %s."):format(table.concat(verdicts, ", ")))
print(table.concat(out, "\n"))
LUA
}

measure
report | tee "$OUT/../remediation.md"
