#!/usr/bin/env bash
# The whole suite, as `make test` runs it once the builds are done: starts the
# private engines, runs the C unit tests and the busted specs — core specs
# once, engine specs once per engine; release, ASan/UBSan and valgrind —
# stops the engines, and ends with one line "N passed, N failed".
# Exit status 0 only when nothing failed. The engines are rootful, and the
# specs drive them (and Podman's CLI on their storage): run by a user who is
# not root, the script runs itself again through sudo (scripts/dev/root.sh)
# and gives the user back build/test-results and build/tmp.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
# shellcheck source=scripts/dev/root.sh
source scripts/dev/root.sh

summary_re='^[0-9]+ passed, [0-9]+ failed$'
if [ "$(id -u)" -ne 0 ]; then
    # The summary line comes from the run as root; a sudo that refuses (or
    # is missing) leaves none, and the run still ends with one.
    out=$(mktemp)
    run_as_root "$repo/scripts/dev/test.sh" "$@" | tee "$out"
    status=${PIPESTATUS[0]}
    if ! tail -n 1 "$out" | grep -Eq "$summary_re"; then
        echo "0 passed, 1 failed"
        [ "$status" -ne 0 ] || status=1
    fi
    rm -f "$out"
    exit "$status"
fi

results=build/test-results
state=${MOONPOD_ENGINES_DIR:-$repo/build/engines}
rm -rf "$results"
mkdir -p "$results" build/tmp
export MOONPOD_TEST_TMP=$repo/build/tmp

log() { printf 'test.sh: %s\n' "$*" >&2; }

# Engines that were already up (a developer's, kept between runs) are left
# running afterwards; the ones this run starts, it stops.
stop_engines=0
on_exit() {
    if [ "$stop_engines" = 1 ]; then
        scripts/dev/engines.sh stop all >/dev/null 2>&1 || true
    fi
    hand_back "$results" build/tmp
}
trap on_exit EXIT
if ! scripts/dev/engines.sh status all >/dev/null 2>&1; then
    stop_engines=1
fi
if ! scripts/dev/engines.sh start all; then
    log "the private engines did not start"
    echo "0 passed, 1 failed"
    exit 1
fi
# shellcheck source=/dev/null
source "$state/env.sh"

busted=$(command -v busted)

# Runs one TAP-producing command; a run that dies without a plan line, hangs
# (a spec that leaves a task alive keeps the script running), or whose status
# disagrees with its results, counts as one more failure.
run_tap() {
    local name=$1
    shift
    local out=$results/$name.tap err=$results/$name.err status
    local t0=$SECONDS
    timeout --kill-after=10 "${MOONPOD_TEST_TIMEOUT:-300}" "$@" >"$out" 2>"$err"
    status=$?
    local ok notok
    ok=$(grep -c '^ok ' "$out")
    notok=$(grep -c '^not ok ' "$out")
    if ! grep -q '^1\.\.[0-9]' "$out" || { [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; }; then
        echo "not ok - $name ended badly (status $status); stderr in $err" >>"$out"
        notok=$((notok + 1))
    fi
    printf '%-28s %4d passed %4d failed  (%ds)\n' "$name" "$ok" "$notok" $((SECONDS - t0))
    if [ "$notok" -gt 0 ]; then
        grep -A12 '^not ok' "$out" | sed 's/^/    /' | head -60
    fi
}

for flavour in release asan; do
    for t in build/$flavour/unit/*; do
        [ -x "$t" ] || continue
        run_tap "unit-$flavour-$(basename "$t")" "$t"
    done
done

# Each spec set runs three ways: the release binary, the ASan/UBSan one,
# and the release binary under valgrind (errors and definite leaks fail).
# Specs tagged #children do their work in child processes (moonpod serve,
# the example scripts), which run the plain release binary in the valgrind
# pass: there they would only add minutes, so that pass leaves them out
# (the ASan pass runs them with ASan children).
valgrind=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
          --errors-for-leak-kinds=definite,indirect)
for flavour in release asan valgrind; do
    build=$flavour
    prefix=()
    tags=()
    if [ "$flavour" = valgrind ]; then build=release; prefix=("${valgrind[@]}"); tags=(--exclude-tags=children); fi
    bin=$repo/build/$build/moonpod
    export MOONPOD_BIN=$bin MOONPOD_FAKE_ENGINE=$repo/build/$build/fake-engine
    run_tap "core-$flavour" "${prefix[@]}" "$bin" "$busted" -o TAP tests/spec/core
    # The engine specs touch only the engine under test, and spend most of
    # their time waiting on it: the two engines' runs go side by side, and
    # their lines are printed in order once both have ended.
    pids=()
    for engine in podman docker; do
        if [ "$engine" = podman ]; then sock=$MOONPOD_TEST_PODMAN_SOCK; else sock=$MOONPOD_TEST_DOCKER_SOCK; fi
        MOONPOD_TEST_ENGINE=$engine CONTAINER_HOST=unix://$sock \
            run_tap "$engine-$flavour" "${prefix[@]}" "$bin" "$busted" "${tags[@]}" -o TAP tests/spec/engine \
            >"$results/$engine-$flavour.summary" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$results/podman-$flavour.summary" "$results/docker-$flavour.summary"
    run_tap "both-$flavour" "${prefix[@]}" "$bin" "$busted" "${tags[@]}" -o TAP tests/spec/both
done

# `make demo` once, against Docker as a local engine: it runs for half a minute.
export MOONPOD_BIN=$repo/build/release/moonpod MOONPOD_FAKE_ENGINE=$repo/build/release/fake-engine
run_tap "demo-release" "$MOONPOD_BIN" "$busted" -o TAP tests/spec/demo

passed=$(cat "$results"/*.tap | grep -c '^ok ')
failed=$(cat "$results"/*.tap | grep -c '^not ok ')
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
