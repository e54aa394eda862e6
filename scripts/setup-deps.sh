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
