#!/usr/bin/env bash
# Build and run every test: a normal build, then the suite again under
# AddressSanitizer + UBSan. Prints "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
count() { # builddir [logname]
    local log="$1/meson-logs/${2:-testlog}.json"
    [ -f "$log" ] || return 0
    local p f s
    read -r p f s < <(/usr/bin/python3 -c '
import json, sys
r = [json.loads(l)["result"] for l in open(sys.argv[1])]
ok = sum(x in ("OK", "EXPECTEDFAIL") for x in r)
sk = sum(x == "SKIP" for x in r)
print(ok, len(r) - ok - sk, sk)' "$log")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
leg() { # name builddir meson-args...
    local name="$1" dir="$2"; shift 2
    echo "=== $name ==="
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
        tail -50 "$dir.build.log"; failed=$((failed + 1)); return
    fi
    rm -f "$dir/meson-logs/testlog.json"
    meson test -C "$dir" --print-errorlogs --num-processes 2 || true
    count "$dir"
}
leg "release build" build
# The unit tests again under valgrind (reusing the release build): any leak
# or memory error fails a test.
if [ -f build/build.ninja ] && command -v valgrind >/dev/null; then
    echo "=== valgrind (unit tests) ==="
    rm -f build/meson-logs/testlog-valgrind.json
    meson test -C build --setup valgrind --suite unit --print-errorlogs --num-processes 2 || true
    count build testlog-valgrind
fi
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    leg "ASan+UBSan build" build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
# A skipped test is reported as such, never counted as passed.
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
