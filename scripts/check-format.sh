#!/usr/bin/env bash
# Check (or with --fix, apply) .clang-format on every tracked C file (STYLE 1).
# Exits 1 listing the files that differ.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed (see .ci/debian-packages.txt)"; exit 77; }
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find daemon state tasks tests -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
bad=0
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run scripts/check-format.sh --fix)"
        bad=1
    fi
done
exit $bad
