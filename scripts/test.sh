#!/usr/bin/env bash
# Build and run every test: a normal build, then the suite again under
# AddressSanitizer + UBSan with leak checks, and the unit tests under valgrind. Prints "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
count() { # builddir [logname]
    local log="$1/meson-logs/${2:-testlog}.json"
    # No log means meson test never ran its tests: that is a failure, not zero tests.
    [ -f "$log" ] || { echo "no test log $log"; failed=$((failed + 1)); return 0; }
    local p f s
    read -r p f s < <(/usr/bin/python3 -c '
import json, sys
r = [json.loads(l)["result"] for l in open(sys.argv[1])]
ok = sum(x in ("OK", "EXPECTEDFAIL") for x in r)
sk = sum(x == "SKIP" for x in r)
print(ok, len(r) - ok - sk, sk)' "$log")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
build_leg() { # name builddir meson-args...; fails (and counts a failure) if it does not build
    local name="$1" dir="$2"; shift 2
    echo "=== $name ==="
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return 1; }
    fi
    if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
        tail -50 "$dir.build.log"; failed=$((failed + 1)); return 1
    fi
}
run_suites() { # builddir logbase [--setup NAME] [meson test args...]
    local dir="$1" logbase="$2"; shift 2
    local log="$logbase"
    # meson names the log LOGBASE-SETUP.json when a test setup is used.
    [ "${1:-}" = "--setup" ] && log="$logbase-$2"
    rm -f "$dir/meson-logs/$log.json"
    meson test -C "$dir" --logbase "$logbase" --print-errorlogs --num-processes 2 "$@" || true
    count "$dir" "$log"
}
if build_leg "release build" build --werror; then
    run_suites build testlog
    # The unit tests again under valgrind: any leak or memory error fails a test.
    if command -v valgrind >/dev/null; then
        echo "=== valgrind (unit tests) ==="
        run_suites build testlog --setup valgrind --suite unit
    fi
fi
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# A packager's build (-O3, where gcc warns about more): it must build warning-free.
if build_leg "buildtype=release build" build-release --buildtype=release --werror; then
    passed=$((passed + 1))
fi
if build_leg "ASan+UBSan build" build-asan --werror -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug; then
    # Unit tests and fuzz corpora: every leak fails a test. (The style
    # suite reads sources only: the release leg ran it.)
    ASAN_OPTIONS=detect_leaks=1 run_suites build-asan testlog-asan --suite unit --suite fuzz
    # Integration tests, every dagd, dagctl, worker and plugin process
    # sanitized. (LeakSanitizer's exit-time tracer used to crash in workers
    # that had dlclose()d a plugin using thread-local storage; plugin_host.c
    # keeps plugins loaded under ASan since 401b7fa.)
    echo "=== ASan+UBSan integration ==="
    # Not the 'release-only' suite: see tests/integration/meson.build.
    ASAN_OPTIONS=detect_leaks=1 run_suites build-asan testlog-asan-integration \
        --no-suite unit --no-suite fuzz --no-suite style --no-suite release-only
fi
# A skipped test is reported as such, never counted as passed.
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
