#!/usr/bin/env bash
# The event listener's benchmarks (make bench runs this from run.sh, with the
# private engines up and their env.sh sourced):
#
#   (a) throughput: the fake engine replays a stream built from real Docker
#       events (recorded here, then cycled to BENCH_EVENTS events, one name
#       in 100 "hit-..."), as fast as each client takes it. Tools: the floor
#       (libcurl counting lines: the transport; and libcurl + cJSON reading
#       Action and name), moonpod's listener with a handler reading
#       event.action and event.container_name, the same with a C filter
#       keeping 1 event in 100, docker-py's events(decode=True) and
#       dockerode's getEvents, each with an equally small handler. Events per
#       second (read_us, inside each program) and peak RSS (GNU time);
#       moonpod on a tenth of the stream too, to show flat memory.
#   (b) latency: on each real engine, from the engine's timestamp on a start
#       event to moonpod's handler, p50 and p99 over BENCH_LATENCY_STARTS.
#
# Prints the tables and writes them to build/bench/events.md.
# Knobs: BENCH_EVENTS=1000000, BENCH_EVENTS_ROUNDS=3, BENCH_LATENCY_STARTS=500, BENCH_ENGINES.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
readonly REPO BENCH_DIR="$REPO/tests/bench" OUT="$REPO/build/bench/events"
readonly MOONPOD="$REPO/moonpod" FAKE="${MOONPOD_FAKE_ENGINE:-$REPO/build/release/fake-engine}"
readonly PYTHON=/usr/bin/python3 GNU_TIME=/usr/bin/time
readonly N="${BENCH_EVENTS:-1000000}" STARTS="${BENCH_LATENCY_STARTS:-500}"
readonly CYCLE=10000 # events in the file the fake repeats
# Throughput rounds: every tool once per round, in turn; the table gives each
# tool's median round (this shared 2-CPU machine moves a single run by ±15%)
readonly ROUNDS="${BENCH_EVENTS_ROUNDS:-3}"
read -ra ENGINES <<<"${BENCH_ENGINES:-docker podman}"

log() { printf 'bench: events: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

(( N % CYCLE == 0 )) || die "BENCH_EVENTS must be a multiple of $CYCLE"
mkdir -p "$OUT"
if [[ -z "${MOONPOD_TEST_DOCKER_SOCK:-}" ]]; then
    env_file="${MOONPOD_ENGINES_DIR:-$REPO/build/engines}/env.sh"
    [[ -r "$env_file" ]] || die "no engines: run from make bench, or start scripts/dev/engines.sh first"
    # shellcheck source=/dev/null
    source "$env_file"
fi
unset CONTAINER_HOST DOCKER_HOST

build_floor() {
    local flags
    read -ra flags <<<"$(pkg-config --cflags --libs libcurl libcjson)"
    cc -O2 -o "$OUT/floor_events" "$BENCH_DIR/floor_events.c" "${flags[@]}" || die "building floor_events failed"
}

# Real events from the private Docker engine: twelve containers go through
# create, start, pause, unpause, exec, kill, start, stop and remove (about
# 160 events: Docker replays at most 256).
record() {
    local rec="$OUT/recorded.json" d=(docker --host "unix://$MOONPOD_TEST_DOCKER_SOCK") i t0 t1
    [[ -s "$rec" ]] && return 0
    log "recording real events from Docker"
    t0="$(date +%s.%N)"
    for i in $(seq 1 12); do
        local c="mpt-evrec-$i"
        "${d[@]}" run -d --network none --label "moonpod.bench=events" --name "$c" "$MOONPOD_TEST_DOCKER_IMAGE" \
            sh -c "trap 'exit 0' TERM; while true; do sleep 0.2; done" >/dev/null
        "${d[@]}" pause "$c" >/dev/null
        "${d[@]}" unpause "$c" >/dev/null
        "${d[@]}" exec "$c" true
        "${d[@]}" kill "$c" >/dev/null
        "${d[@]}" start "$c" >/dev/null
        "${d[@]}" stop -t 1 "$c" >/dev/null
        "${d[@]}" rm "$c" >/dev/null
    done
    t1="$(date +%s.%N)"
    curl -s --max-time 30 --unix-socket "$MOONPOD_TEST_DOCKER_SOCK" \
        "http://engine/events?since=$t0&until=$t1" >"$rec.tmp"
    mv "$rec.tmp" "$rec"
    log "recorded $(grep -c . "$rec") events"
}

FAKE_PID=""
start_fake() {
    local sock="$OUT/fake.sock" stream="$OUT/stream.json"
    "$PYTHON" "$BENCH_DIR/events_stream.py" "$OUT/recorded.json" "$stream" "$CYCLE"
    rm -f "$sock" "$sock.ready"
    "$FAKE" "$sock" --ready-file "$sock.ready" \
        --route "/v1.41/events=repeat:$(( N / CYCLE )):$stream" \
        --route "/events=repeat:$(( N / CYCLE )):$stream" 2>"$OUT/fake.log" &
    FAKE_PID=$!
    for _ in $(seq 1 200); do [[ -e "$sock.ready" ]] && return 0; sleep 0.05; done
    die "the fake engine did not start (see $OUT/fake.log)"
}
trap '[[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null; true' EXIT

# run_tool NAME N ARGV...: one run under GNU time; appends "name rate rss_kb".
run_tool() {
    local name="$1" n="$2"; shift 2
    local out="$OUT/$name.out"
    log "throughput: $name"
    if ! timeout 600 "$GNU_TIME" -f '%M' -o "$OUT/$name.rss" "$@" >"$out" 2>"$OUT/$name.err"; then
        log "$name failed (see $OUT/$name.err)"
        printf '%s\t-\t-\t-\n' "$name" >>"$OUT/throughput.tsv"
        return 0
    fi
    local us events rss
    us="$(awk '$1 == "read_us" { print $2 }' "$out")"
    events="$(awk '$1 == "events" { print $2 }' "$out")"
    rss="$(tail -n1 "$OUT/$name.rss")"
    [[ "$events" == "$n" ]] || log "$name: read $events events, expected $n"
    printf '%s\t%s\t%s\t%s\n' "$name" "$events" "$us" "$rss" >>"$OUT/throughput.tsv"
}

throughput() {
    : >"$OUT/throughput.tsv"
    for round in $(seq 1 "$ROUNDS"); do
        log "throughput: round $round of $ROUNDS"
        throughput_round
    done
}

throughput_round() {
    local sock="$OUT/fake.sock" tenth=$(( N / 10 ))
    run_tool floor-raw "$N" "$OUT/floor_events" "$sock" "$N" raw
    run_tool floor-cjson "$N" "$OUT/floor_events" "$sock" "$N" cjson
    run_tool moonpod "$N" "$MOONPOD" "$BENCH_DIR/events.lua" "$sock" "$N"
    run_tool moonpod-filtered "$N" "$MOONPOD" "$BENCH_DIR/events.lua" "$sock" "$N" hit-
    run_tool moonpod-tenth "$tenth" "$MOONPOD" "$BENCH_DIR/events.lua" "$sock" "$tenth"
    if "$PYTHON" -c 'import docker' 2>/dev/null; then
        run_tool docker-py "$N" "$PYTHON" "$BENCH_DIR/dockerpy_events.py" "$sock" "$N"
    fi
    if [[ -d "$BENCH_DIR/node_modules/dockerode" ]]; then
        run_tool dockerode "$N" node "$BENCH_DIR/dockerode_events.js" "$sock" "$N"
    fi
}

latency() {
    : >"$OUT/latency.tsv"
    local e sock image
    for e in "${ENGINES[@]}"; do
        if [[ "$e" == docker ]]; then sock="$MOONPOD_TEST_DOCKER_SOCK" image="$MOONPOD_TEST_DOCKER_IMAGE"
        else sock="$MOONPOD_TEST_PODMAN_SOCK" image="$MOONPOD_TEST_PODMAN_IMAGE"; fi
        [[ -S "$sock" ]] || { log "$e: no socket, no latency"; continue; }
        log "latency: $e ($STARTS starts)"
        if timeout 900 "$MOONPOD" "$BENCH_DIR/events_latency.lua" "$sock" "$image" "$STARTS" >"$OUT/latency-$e.out" 2>&1; then
            printf '%s\t%s\t%s\t%s\t%s\n' "$e" \
                "$(awk '$1 == "starts" { print $2 }' "$OUT/latency-$e.out")" \
                "$(awk '$1 == "p50_us" { print $2 }' "$OUT/latency-$e.out")" \
                "$(awk '$1 == "p99_us" { print $2 }' "$OUT/latency-$e.out")" \
                "$(awk '$1 == "max_us" { print $2 }' "$OUT/latency-$e.out")" >>"$OUT/latency.tsv"
        else
            log "$e: latency run failed (see $OUT/latency-$e.out)"
        fi
    done
}

report() {
    lua5.4 - "$OUT/throughput.tsv" "$OUT/latency.tsv" "$N" <<'LUA'
local tput, lat, n = arg[1], arg[2], tonumber(arg[3])
-- one row per tool: the median of its rounds' rates, the highest peak RSS
local rows, by = {}, {}
for line in io.lines(tput) do
  local name, events, us, rss = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if name then
    local r = by[name]
    if not r then
      r = { name = name, rates = {} }
      rows[#rows + 1] = r
      by[name] = r
    end
    events, us, rss = tonumber(events), tonumber(us), tonumber(rss)
    r.events = events or r.events
    if rss then r.rss = math.max(r.rss or 0, rss) end
    if events and us and us > 0 then r.rates[#r.rates + 1] = events / (us / 1e6) end
  end
end
for _, r in ipairs(rows) do
  table.sort(r.rates)
  local k = #r.rates
  if k > 0 then
    r.rate = k % 2 == 1 and r.rates[(k + 1) // 2] or (r.rates[k // 2] + r.rates[k // 2 + 1]) / 2
    r.range = ("%.0f–%.0f"):format(r.rates[1], r.rates[k])
  end
end
local function fmt_rate(r) return r and r.rate and ("%.0f"):format(r.rate) or "-" end
local out = {}
local function p(s) out[#out + 1] = s end
p(("### Event throughput: %d recorded Docker events, replayed by the fake engine"):format(n))
p("")
p(("Each tool ran %d times, in turn; events/s is its median run."):format(#(rows[1] and rows[1].rates or {})))
p("")
p("| tool | events/s | runs (min–max) | × moonpod | peak RSS (MB) |")
p("|---|---:|---:|---:|---:|")
local m = by.moonpod
for _, r in ipairs(rows) do
  local ratio = (m and m.rate and r.rate) and ("%.2f"):format(r.rate / m.rate) or "-"
  p(("| %s | %s | %s | %s | %s |"):format(r.name, fmt_rate(r), r.range or "-", ratio,
    r.rss and ("%.1f"):format(r.rss / 1024) or "-"))
end
p("")
local function verdict(ok) return ok and "met" or "**not met**" end
if m and m.rate then
  local peers_ok = true
  for _, peer in ipairs { "docker-py", "dockerode" } do
    if by[peer] and by[peer].rate and by[peer].rate >= m.rate then peers_ok = false end
  end
  p(("Target ≥ 400,000 events/s, ahead of docker-py and dockerode: %s (%s/s)."):format(
    verdict(m.rate >= 400000 and peers_ok), fmt_rate(m)))
  local f = by["moonpod-filtered"]
  if f and f.rate then
    p(("With a C filter keeping 1 event in 100, ≥ 3× that rate: %s (%.1f×)."):format(verdict(f.rate >= 3 * m.rate), f.rate / m.rate))
  end
  local t = by["moonpod-tenth"]
  if t and t.rss and m.rss then
    p(("Flat memory: peak RSS %.1f MB for %d events, %.1f MB for %d."):format(t.rss / 1024, t.events or 0, m.rss / 1024, m.events))
  end
end
p("")
p("### Event latency: engine timestamp → handler, moonpod")
p("")
p("| engine | starts | p50 (ms) | p99 (ms) | max (ms) |")
p("|---|---:|---:|---:|---:|")
local worst = 0
for line in io.lines(lat) do
  local e, starts, p50, p99, mx = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if e then
    p(("| %s | %s | %.2f | %.2f | %.2f |"):format(e, starts, p50 / 1000, p99 / 1000, mx / 1000))
    worst = math.max(worst, tonumber(p99))
  end
end
p("")
p(("Target p99 under 5 ms: %s."):format(verdict(worst > 0 and worst < 5000)))
print(table.concat(out, "\n"))
LUA
}

build_floor
record
start_fake
throughput
latency
report | tee "$OUT/../events.md"
