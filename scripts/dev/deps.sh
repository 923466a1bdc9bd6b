#!/usr/bin/env bash
# Installs every Debian package the build, tests, demo and benchmarks need.
# Idempotent and cheap when everything is present: one dpkg-query, no apt.
set -euo pipefail

readonly PROG="deps.sh"

readonly PACKAGES=(
    # build
    build-essential pkg-config liblua5.4-dev lua5.4 libcurl4-openssl-dev
    libcjson-dev libuv1-dev libedit-dev
    # tests
    lua-busted valgrind clang tmux procps iproute2 time curl socat
    # engines (see scripts/dev/engines.sh)
    podman runc crun catatonit busybox-static docker.io
    # remote transports in front of them (scripts/dev/transports.sh)
    openssl openssh-client openssh-server nginx
    # stats monitor: its history store (the sqlite3 CLI holds a lock in a test), Prometheus to check /metrics
    libsqlite3-dev sqlite3 prometheus
    # benchmarks and peers
    hyperfine python3-docker
)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the packages from "$@" that are not fully installed.
missing_packages() {
    local pkg status
    local -A installed=()
    # dpkg-query exits 1 when some name is unknown to dpkg; that just means
    # "missing", so its status is ignored and only its output is trusted.
    while IFS=' ' read -r pkg status; do
        if [[ "$status" == "ii" ]]; then
            installed["$pkg"]=1
        fi
    done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true)
    for pkg in "$@"; do
        if [[ -z "${installed[$pkg]:-}" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# as_root: shared with the scripts that run the private engines
# shellcheck source=scripts/dev/root.sh
source "$(dirname "${BASH_SOURCE[0]}")/root.sh"

# Packages whose maintainer scripts start a system daemon (sshd on :22,
# nginx on :80). The harness runs private ones on its own ports and needs
# neither; a fresh machine must not be left with them listening.
readonly DAEMON_PACKAGES=(openssh-server nginx)
readonly POLICY_RC=/usr/sbin/policy-rc.d

# Runs "$@" with invoke-rc.d (and deb-systemd-invoke) refusing to start
# services, unless the machine already has a policy of its own.
with_services_held() {
    if [[ -e "$POLICY_RC" ]]; then
        "$@"
        return
    fi
    as_root sh -c "printf '#!/bin/sh\n# deps.sh: no service starts during install\nexit 101\n' >$POLICY_RC && chmod 0755 $POLICY_RC"
    trap 'as_root rm -f "$POLICY_RC"' EXIT
    local rc=0
    "$@" || rc=$?
    as_root rm -f "$POLICY_RC"
    trap - EXIT
    return "$rc"
}

# Daemons newly installed here stay off on systemd machines too (the policy
# stops their start, not their enablement at the next boot).
disable_new_daemons() {
    local pkg units=()
    for pkg in "$@"; do
        case "$pkg" in
            openssh-server) units+=(ssh.service ssh.socket) ;;
            nginx) units+=(nginx.service) ;;
        esac
    done
    if (( ${#units[@]} )) && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
    fi
}

apt_install() {
    log "installing: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # Recommends stay on: podman's (netavark, fuse-overlayfs, slirp4netns) and
    # docker.io's are what the engine setup in shared/ENGINES.md was verified with.
    local pkg daemons=()
    for pkg in "$@"; do
        [[ " ${DAEMON_PACKAGES[*]} " == *" $pkg "* ]] && daemons+=("$pkg")
    done
    if (( ${#daemons[@]} )); then
        with_services_held as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
        disable_new_daemons "${daemons[@]}"
    else
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
    fi
}

main() {
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script needs Debian or a derivative"

    local -a wanted=("${PACKAGES[@]}")
    # Machines may carry a third-party nodejs that already bundles npm; Debian's
    # npm would conflict with it, so Node is only added when npm is absent.
    if ! command -v npm >/dev/null 2>&1; then
        wanted+=(nodejs npm)
    fi

    local -a todo=()
    mapfile -t todo < <(missing_packages "${wanted[@]}")
    if [[ "${#todo[@]}" -eq 0 ]]; then
        return 0
    fi
    apt_install "${todo[@]}"

    mapfile -t todo < <(missing_packages "${wanted[@]}")
    if [[ "${#todo[@]}" -ne 0 ]]; then
        die "still missing after install: ${todo[*]}"
    fi
    log "all packages installed"
}

main "$@"
