#!/usr/bin/env bash
# Builds tether and the demo backend, makes development certificates and runs
# the demo: tether on https://localhost:8443/ in front of the demo backend on
# 127.0.0.1:8080, admin on http://127.0.0.1:9901/. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF >/dev/null
cmake --build build --target tether demo_backend
bash certs/make-certs.sh

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

build/demo/demo_backend --port 8080 &
pids+=($!)
build/tether -c config/demo.yaml &
pids+=($!)
sleep 1
cat <<MSG

  tether is running: open https://localhost:8443/ in a browser
  (the certificate comes from certs/dev/ca.crt, a development CA: accept it or import it).
  Metrics: curl http://127.0.0.1:9901/metrics    Stop: Ctrl-C

MSG
wait -n "${pids[@]}"
