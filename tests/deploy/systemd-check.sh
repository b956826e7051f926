#!/usr/bin/env bash
# systemd-analyze verify and security on deploy/systemd/tether.service
# (ctest -R deploy.systemd). verify needs ExecStart's binary to exist, so a
# copy of the unit points at TETHER_BINARY instead of /usr/local/bin/tether.
# Fails when the exposure score rises above MAX_EXPOSURE.
# Usage: tests/deploy/systemd-check.sh TETHER_BINARY
set -euo pipefail
max_exposure=2.0
tether=$(realpath "$1")
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/local/bin/tether|$tether|g" deploy/systemd/tether.service > "$dir/tether.service"
# verify only warns about a setting it cannot parse ("ignoring"): any output fails.
out=$(systemd-analyze verify "$dir/tether.service" 2>&1)
if [[ -n $out ]]; then echo "$out"; echo "FAIL: systemd-analyze verify complained"; exit 1; fi
echo "verify: ok"
score=$(systemd-analyze security --offline=yes "$dir/tether.service" | sed -n 's/.*Overall exposure level for tether.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $score (fails above $max_exposure)"
awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s != "" && s <= m) }'
