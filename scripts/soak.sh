#!/usr/bin/env bash
# The soak (issue 18): 500 sessions through the real tether binary exchange
# sequence-numbered messages both ways through a 2 s idle cutter, heartbeats
# at 500 ms, the backend SIGKILLed and restarted every 20 s; then checks
# delivery against the reconnect guarantee, client closes, fds and RSS
# (tests/soak/soak.py). Prints the figures; non-zero exit on any violation.
#
# Usage: scripts/soak.sh [SECONDS] [soak.py options]   (default 120 s; by hand: hours)
# TETHER_BIN picks the binary (default build-test/tether, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-120}"
shift || true
tether="${TETHER_BIN:-build-test/tether}"
if [[ ! -x $tether ]]; then
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_BASEDIR="$PWD"
  cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_SANITIZE=ON \
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
  cmake --build build-test --target tether
  tether=build-test/tether
fi

work="$(mktemp -d /tmp/tether-soak.XXXXXX)"
driver=""
cleanup() {
  local rc=$?
  [[ -n $driver ]] && kill "$driver" 2>/dev/null || true
  # Whatever the driver started and could not stop itself, by PID.
  if [[ -f $work/pids ]]; then
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$work/pids"
  fi
  if ((rc == 0)); then rm -rf "$work"; else echo "soak: logs kept in $work" >&2; fi
}
trap cleanup EXIT

# 500 sessions through two cutters: about 2,500 sockets in one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# An ASan build's quarantine (256 MiB by default) fills for minutes and would
# read as RSS growth; 16 MiB fills during warm-up. Leaks still fail the exit.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:quarantine_size_mb=16"

# Bounded: the run, plus set-up, quiescing and shut-down (at most ~90 s).
timeout --signal=TERM --kill-after=20 $((${seconds%.*} + 180)) \
  /usr/bin/python3 tests/soak/soak.py --tether "$tether" --workdir "$work" --seconds "$seconds" "$@" &
driver=$!
wait "$driver"
