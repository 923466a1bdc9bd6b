# shellcheck shell=bash
# Root for the dev scripts that need it, through sudo when the user is not
# root. Sourced by scripts/dev/deps.sh (packages) and by the scripts that
# run the private engines (scripts/dev/test.sh, scripts/dev/demo.sh,
# tests/bench/run.sh). The engines are rootful, and so is everything that
# talks to them: their sockets are root's alone, and the specs, the demo
# and the bench's peers drive Podman's CLI on the engines' own storage.
# Such a script therefore runs as a whole as root (rerun_as_root), and gives
# back to the user what it wrote in their tree (hand_back).

root_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# Runs "$@" as root.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        root_log "error: not root and no sudo: cannot run: $*"
        return 1
    fi
}

# Runs "$@" (a script and its arguments) as root through sudo, passing on
# the MOONPOD_* and BENCH_* variables (the scripts' knobs), which sudo would
# drop. Returns the script's status; the caller goes on only as root.
run_as_root() {
    local name vars=()
    if [[ -n "${MOONPOD_RERUN_AS_ROOT:-}" ]]; then
        # sudo ran us, and still not as root: don't go round again
        root_log "error: still not root after sudo (uid $(id -u))"
        return 1
    fi
    for name in $(compgen -e); do
        case "$name" in
            MOONPOD_*|BENCH_*) vars+=("$name=${!name}") ;;
        esac
    done
    root_log "not root: running $1 through sudo (the private engines are rootful)"
    as_root env "${vars[@]}" MOONPOD_RERUN_AS_ROOT=1 "$@"
}

# Gives the user who ran sudo back what a run as root wrote under "$@"
# (results, scratch files): theirs to read and delete. Nothing without sudo.
hand_back() {
    [[ "$(id -u)" -eq 0 && -n "${SUDO_UID:-}" && -n "${MOONPOD_RERUN_AS_ROOT:-}" ]] || return 0
    local path
    for path in "$@"; do
        [[ -e "$path" ]] || continue
        chown -R -- "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$path" 2>/dev/null ||
            root_log "warning: could not give $path back to uid $SUDO_UID"
    done
    return 0
}
