#!/usr/bin/env bash
# Install the Debian packages listed in .ci/debian-packages.txt (the one list
# that README.md and .ci/run share). Skips apt when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(grep -v '^\s*#' .ci/debian-packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # With recommends: that is how they were installed on the machines the
    # suite passed on (chromium's rendering was never tried without them).
    apt-get install -y -qq "${missing[@]}"
fi

# The browser tests' one npm package (puppeteer-core, tests/browser): it
# drives Debian's chromium, so no browser is ever downloaded. Skipped when
# the lock file's packages are already there.
if command -v npm >/dev/null 2>&1; then
    if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
        echo "installing tests/browser (npm ci)"
        (cd tests/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "npm not found: the browser tests will SKIP" >&2
fi
