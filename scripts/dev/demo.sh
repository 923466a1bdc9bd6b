#!/usr/bin/env bash
# The README's first command: runs an example against the local engine, or,
# when none answers, against a private Podman service started for the demo
# (with two containers to look at) and stopped afterwards.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
example=${1:-scripts/examples/basic_operations.lua}

log() { printf 'demo: %s\n' "$*" >&2; }

# an engine's API, not moonpod's own fallbacks (a service on your storage, the CLI)
if ./moonpod -e 'require("moonpod").connect { start_service = false, use_cli_fallback = false }' 2>/dev/null; then
    log "using the local engine"
    exec ./moonpod "$example"
fi

log "no engine answers here: starting a private Podman service"
export MOONPOD_ENGINES_DIR=$repo/build/demo-engines
scripts/dev/engines.sh start podman
trap 'scripts/dev/engines.sh stop podman >/dev/null 2>&1 || true' EXIT
# shellcheck source=/dev/null
source "$MOONPOD_ENGINES_DIR/env.sh"
read -r -a podman_args <<<"$MOONPOD_TEST_PODMAN_ARGS"
for name in demo-web demo-worker; do
    podman "${podman_args[@]}" rm -f "$name" >/dev/null 2>&1 || true
    podman "${podman_args[@]}" run -d --network none --name "$name" --label "demo=$name" \
        "$MOONPOD_TEST_PODMAN_IMAGE" sh -c 'while true; do sleep 1; done' >/dev/null
done
podman "${podman_args[@]}" stop -t 0 demo-worker >/dev/null
CONTAINER_HOST=unix://$MOONPOD_TEST_PODMAN_SOCK ./moonpod "$example"
