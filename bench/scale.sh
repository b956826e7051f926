#!/usr/bin/env bash
# bench/scale.sh: tether's drain and reload at 9,000 wss:// sessions
# (bench/scale.py says what is measured and the limits). Builds tether,
# demo_backend and tether_loadgen in Release into $BUILD (default
# build-bench) unless SKIP_BUILD=1, raises the descriptor limit, runs both
# with tether_loadgen as the client of all but the probe sessions, and leaves
# the JSON summary in $OUT (default /tmp/tether-scale.json) for
# bench/RESULTS.md.
#
#   bench/scale.sh                         9,000 sessions, drain_timeout 10s
#   SESSIONS=300 DRAIN=2 bench/scale.sh    the size CI runs (ctest -R scale)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
sessions=${SESSIONS:-9000}
drain=${DRAIN:-10}
out=${OUT:-/tmp/tether-scale.json}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF -DTETHER_BENCH=ON >/dev/null
  nice -n 5 ninja -C "$build" -j2 tether demo_backend tether_loadgen >&2
fi
[[ -f $root/certs/dev/ca.crt ]] || bash "$root/certs/make-certs.sh" >/dev/null
ulimit -n "$(ulimit -Hn)"
/usr/bin/python3 "$root/bench/scale.py" --tether "$build/tether" --backend "$build/demo/demo_backend" \
  --loadgen "$build/bench/tether_loadgen" --certs "$root/certs/dev" --sessions "$sessions" \
  --drain-timeout "$drain" --check "$@" | tee "$out"
