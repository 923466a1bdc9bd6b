#!/usr/bin/env bash
# `make demo`, the README's first command: moonpod's main job on this
# machine. Uses the local engine, or starts a private Podman service when
# none answers (or the local one lacks the demo's image); starts a few
# containers in trouble (scripts/dev/demo_containers.lua); runs
# `moonpod serve` with the ready-made policies (scripts/policies) for about
# a minute, each remediation logged as it happens; then removes what it
# made. Knobs: MOONPOD_DEMO_SECONDS (60), MOONPOD_DEMO_IMAGE (busybox:latest,
# on a local engine), MOONPOD_DEMO_PRIVATE_PODMAN=1 (the private service
# straight away). The private service is rootful: a user who is not root
# runs the demo with it through sudo (scripts/dev/root.sh), and gets
# build/demo back.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
# shellcheck source=scripts/dev/root.sh
source scripts/dev/root.sh
seconds=${MOONPOD_DEMO_SECONDS:-60}
work=$repo/build/demo
log() { printf '\ndemo: %s\n' "$*" >&2; }

serve_pid="" checker_pid="" private=0
cleanup() {
    [[ -n "$checker_pid" ]] && kill "$checker_pid" 2>/dev/null
    [[ -n "$serve_pid" ]] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    ./moonpod scripts/dev/demo_containers.lua down 2>/dev/null || true
    if [[ "$private" == 1 ]]; then scripts/dev/engines.sh stop podman >/dev/null 2>&1 || true; fi
    hand_back "$work"
    return 0
}
trap cleanup EXIT

start_private_podman() {
    if [[ "$(id -u)" -ne 0 ]]; then
        # The rest of the demo runs as root, from the start, with the
        # private service; what this run made on the local engine goes first.
        cleanup
        trap - EXIT
        export MOONPOD_DEMO_PRIVATE_PODMAN=1
        local rc=0
        run_as_root "$repo/scripts/dev/demo.sh" || rc=$?
        exit "$rc"
    fi
    log "starting a private Podman service for the demo"
    export MOONPOD_ENGINES_DIR=$repo/build/demo-engines
    scripts/dev/engines.sh start podman
    private=1
    # shellcheck source=/dev/null
    source "$MOONPOD_ENGINES_DIR/env.sh"
    export CONTAINER_HOST=unix://$MOONPOD_TEST_PODMAN_SOCK
    unset DOCKER_HOST
    image=$MOONPOD_TEST_PODMAN_IMAGE
}

# an engine's API, not moonpod's own fallbacks (a service on your storage, the CLI)
image=${MOONPOD_DEMO_IMAGE:-busybox:latest}
if [[ -z "${MOONPOD_DEMO_PRIVATE_PODMAN:-}" ]] &&
    ./moonpod -e 'require("moonpod").connect { start_service = false, use_cli_fallback = false }' 2>/dev/null; then
    log "using the local engine; the demo's containers are labelled moonpod.demo=true"
else
    start_private_podman
fi

log "starting the containers in trouble"
rc=0
./moonpod scripts/dev/demo_containers.lua up "$image" || rc=$?
if [[ "$rc" == 3 && "$private" == 0 ]]; then
    log "the local engine has no $image (set MOONPOD_DEMO_IMAGE to one with /bin/sh)"
    start_private_podman
    ./moonpod scripts/dev/demo_containers.lua up "$image"
elif [[ "$rc" != 0 ]]; then
    exit "$rc"
fi

# The ready-made policies, set for a one-minute show: each wrapper sets a
# policy's settings, then runs the policy's own file unchanged. Only the
# demo's containers are touched (opt-in labels, all = false).
mkdir -p "$work/policies"
rm -f "$work"/policies/*.lua
wrapper() {
    printf 'require("moonpod.policykit").override("%s", %s)\nreturn dofile("%s")\n' \
        "$1" "$2" "$repo/scripts/policies/$1.lua" >"$work/policies/$1.lua"
}
wrapper autoheal '{ grace = 0, alert_each = true }'
wrapper restart-loop '{ all = false, max_deaths = 3, window = 30 }'
wrapper resource-guard '{ cpu = 50, cycles = 3, interval = 2, action = "restart" }'
wrapper janitor '{ all = false, older_than = 5, interval = 10 }'

runtime=$(./moonpod -e 'print(require("moonpod").connect().runtime)')
if [[ "$runtime" == podman ]] && { [[ "$private" == 1 ]] || [[ ! -d /run/systemd/system ]]; }; then
    # Podman without systemd runs a container's health check only when asked:
    # this stands in for the timer systemd would run.
    log "Podman without systemd: the demo runs demo-unhealthy's health check every 2 s"
    read -r -a podman_args <<<"${MOONPOD_TEST_PODMAN_ARGS:-}"
    ( while sleep 2; do env -u CONTAINER_HOST podman "${podman_args[@]}" healthcheck run demo-unhealthy >/dev/null 2>&1 || true; done ) &
    checker_pid=$!
fi

log "moonpod serve with autoheal, restart-loop, resource-guard and janitor, for $seconds s"
./moonpod serve --listen 127.0.0.1:0 "$work/policies" &
serve_pid=$!
sleep "$seconds"
log "time is up: SIGTERM (serve drains and exits 0)"
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=""
log "serve exited with status $status; where the containers ended up:"
./moonpod scripts/dev/demo_containers.lua status
log "removing the demo's containers"
