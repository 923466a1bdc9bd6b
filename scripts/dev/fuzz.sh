#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ and runs each for N seconds.
#
#   scripts/dev/fuzz.sh [SECONDS] [TARGET...]     default: 30 s, every target
#
# Corpora persist under build/fuzz/corpus/<target>/ (seeded on first use),
# crash reproducers land in build/fuzz/artifacts/. Exits non-zero on the
# first target that finds a problem; rerun a reproducer with
#   build/fuzz/fuzz_<target> build/fuzz/artifacts/<file>
set -euo pipefail

readonly PROG="fuzz.sh"
readonly ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
readonly OUT="$ROOT/build/fuzz"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }

secs="${1:-30}"
[[ "$secs" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, got '$secs'"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(framing json event_scan)

command -v clang >/dev/null || die "clang is needed (make deps installs it)"
pkg-config --exists lua5.4 libcjson || die "missing build dependencies: run 'make deps'"

# Same warnings as the Makefile, so fuzz targets stay as clean as the rest.
readonly CFLAGS=(-std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
    -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
    -g -O1 -fno-omit-frame-pointer
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
    -I"$ROOT/src")
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags lua5.4 libcjson)"
read -r -a PKG_LIBS <<<"$(pkg-config --libs lua5.4 libcjson)"

build() {
    local target="$1" src
    case "$target" in
    framing) src=("$ROOT/src/framing.c") ;;
    json) src=("$ROOT/src/json.c") ;;
    event_scan) src=("$ROOT/src/event_scan.c") ;;
    *) die "unknown target '$target' (framing, json, event_scan)" ;;
    esac
    log "building fuzz_$target"
    clang "${CFLAGS[@]}" "${PKG_CFLAGS[@]}" "$ROOT/tests/fuzz/fuzz_$target.c" "${src[@]}" \
        -o "$OUT/fuzz_$target" "${PKG_LIBS[@]}" -lm
}

# A few valid inputs give the fuzzer structure to mutate from.
seed() {
    local target="$1" dir="$OUT/corpus/$1"
    mkdir -p "$dir"
    [[ -z "$(ls -A "$dir")" ]] || return 0
    case "$target" in
    framing)
        # [mode][bound][seed] then the stream
        printf '\000\377\007{"Type":"container","Action":"start"}\n{"a":[1,{"b":"}"}]}\r\n[1]' >"$dir/events"
        printf '\000\020\003\001\000\000\000\000\000\000\006hello\n\002\000\000\000\000\000\000\003er' >"$dir/mux"
        printf '\000\004\011line one\r\nline two is long\n\r\ntail' >"$dir/lines"
        printf '\000\010\001xx {"s":"a\\"b{["} yy [[[]]] {"big":"0123456789abcdef"}' >"$dir/garbage"
        ;;
    json)
        printf '{"a":[1,2.5,-3e2,null,true,false,"x\\u00e9\\ud83d\\ude00"],"b":{"c":{}},"d":[]}' >"$dir/mixed"
        printf '[9007199254740993,9223372036854775807,-9223372036854775808,1e400,0.1]' >"$dir/numbers"
        printf '{"Actor":{"ID":"abc","Attributes":{"name":"web"}},"timeNano":1700000000123456789}' >"$dir/event"
        printf '\377\003\003\002\001k\000\005\004\006\007\000\004' >"$dir/builder"
        ;;
    event_scan)
        printf '{"status":"died","id":"f8","Type":"container","Action":"died","Actor":{"ID":"f8","Attributes":{"containerExitCode":"3","name":"ev1"}},"time":1795880423,"timeNano":1795880423799084896}' >"$dir/podman"
        printf '{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"b","Attributes":{"name":"h\\u00e9\\"q"}},"x":[1,{"y":null}]}' >"$dir/docker"
        ;;
    esac
}

write_dict() {
    cat >"$OUT/json.dict" <<'EOF'
"{"
"}"
"["
"]"
"\""
"\\\""
"\\\\"
"\\u0000"
"\\ud83d\\ude00"
":"
","
"null"
"true"
"false"
"1e400"
"-0"
"9007199254740993"
"\x0d\x0a"
"\x01\x00\x00\x00"
"\x02\x00\x00\x00"
EOF
}

mkdir -p "$OUT/artifacts"
write_dict
for target in "${targets[@]}"; do
    build "$target"
    seed "$target"
    log "running fuzz_$target for ${secs}s"
    "$OUT/fuzz_$target" "$OUT/corpus/$target" \
        -dict="$OUT/json.dict" \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$OUT/artifacts/fuzz_$target-" \
        || die "fuzz_$target found a problem: see $OUT/artifacts/"
done
log "all targets ran ${secs}s without a finding"
