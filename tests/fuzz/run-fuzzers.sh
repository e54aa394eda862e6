#!/usr/bin/env bash
# Build every libFuzzer target with clang (-Dfuzzers=true, ASan+UBSan, the
# whole tree instrumented for coverage) and run each for SECONDS seconds.
#
#   tests/fuzz/run-fuzzers.sh [SECONDS] [TARGET...]
#
# Targets are the executables named fuzz_* in tests/fuzz (not the *_replay
# corpus players). Each starts from tests/fuzz/corpus/<name without fuzz_>
# (read-only); new inputs go to build-fuzz/fuzz-corpus/<name>, crashes to
# build-fuzz/fuzz-artifacts/. Add a crash input to the corpus once fixed, so
# the replay test keeps it fixed. Exit status: 0 if no target crashed.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
shift || true
dir=build-fuzz

mkdir -p "$dir"
if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dwerror=false --buildtype=debugoptimized -Dc_args=-fsanitize=fuzzer-no-link \
        >"$dir/setup.log" 2>&1 || { cat "$dir/setup.log"; exit 2; }
fi
ninja -C "$dir" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log"; exit 2; }

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(meson introspect "$dir" --targets | /usr/bin/python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    name = t["name"]
    if t["type"] == "executable" and name.startswith("fuzz_") and not name.endswith("_replay"):
        print(name)' | sort -u)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets found"; exit 2
fi

mkdir -p "$dir/fuzz-artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
bad=0
for t in "${targets[@]}"; do
    exe=$(find "$dir/tests/fuzz" -maxdepth 1 -type f -name "$t" | head -1)
    [ -n "$exe" ] || { echo "$t: not built"; bad=$((bad + 1)); continue; }
    name="${t#fuzz_}"
    seed="tests/fuzz/corpus/$name"
    work="$dir/fuzz-corpus/$name"
    mkdir -p "$work"
    args=("$work")
    [ -d "$seed" ] && args+=("$seed")
    dict="tests/fuzz/$name.dict"
    [ -f "$dict" ] && args+=("-dict=$dict")
    echo "=== $t: ${secs}s"
    if "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/fuzz-artifacts/$name-" "${args[@]}" >"$dir/fuzz-$name.log" 2>&1; then
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$dir/fuzz-$name.log" \
            | tr '\n' ' '; echo
        echo "$t: ok"
    else
        tail -30 "$dir/fuzz-$name.log"
        echo "$t: FAILED (log: $dir/fuzz-$name.log)"
        bad=$((bad + 1))
    fi
done
echo "${#targets[@]} fuzz targets, $bad failed"
[ "$bad" -eq 0 ]
