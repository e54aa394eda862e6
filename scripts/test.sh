#!/usr/bin/env bash
# Build and run every test: a normal build, then the suite again under
# AddressSanitizer + UBSan. Prints "N passed, N failed" last.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
count() { # builddir [logname]
    local log="$1/meson-logs/${2:-testlog}.json"
    [ -f "$log" ] || return 0
    local p f
    p=$(/usr/bin/python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(sum(1 for x in r if x["result"] in ("OK","EXPECTEDFAIL","SKIP")))' "$log")
    f=$(/usr/bin/python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(sum(1 for x in r if x["result"] not in ("OK","EXPECTEDFAIL","SKIP")))' "$log")
    passed=$((passed + p)); failed=$((failed + f))
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
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
