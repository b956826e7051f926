# bench/lib.sh: what bench/run.sh and bench/heartbeat_cpu.sh share. Sourced
# by them (not run), after they set `root`, `build`, `loadgen` and `log`/`die`.

# build_bench WANT: with WANT=1, builds tether, echo_backend, tether_loadgen
# and heartbeat_floor in Release into $build; then checks that they exist.
build_bench() {
  if [[ $1 == 1 ]]; then
    log "building tether, echo_backend, tether_loadgen, heartbeat_floor (Release) in $build"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF -DTETHER_BENCH=ON >/dev/null
    ninja -C "$build" tether echo_backend tether_loadgen heartbeat_floor >&2
  fi
  local b
  for b in "$build/tether" "$build/bench/echo_backend" "$loadgen" "$build/bench/heartbeat_floor"; do
    [[ -x $b ]] || die "$b not built (SKIP_BUILD=0 builds it)"
  done
}

# Raises the descriptor limit to the hard limit and sets fd_limit to it.
raise_fd_limit() {
  ulimit -n "$(ulimit -Hn)"
  fd_limit=$(ulimit -n)
}

# ports_free PORT...: dies if any of them has a listener.
ports_free() {
  local p
  for p in "$@"; do
    [[ -z $(ss -Hltn "sport = :$p") ]] || die "port $p is in use"
  done
}

# Every process a script starts goes into pid[NAME]; all are stopped on exit.
declare -A pid=()
stop_all() {
  local name
  for name in "${!pid[@]}"; do
    kill "${pid[$name]}" 2>/dev/null || true
  done
  for name in "${!pid[@]}"; do
    wait "${pid[$name]}" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# wait_port PORT NAME: waits up to 10 s for a listener on PORT.
wait_port() {
  local i
  for ((i = 0; i < 200; ++i)); do
    [[ -n $(ss -Hltn "sport = :$1") ]] && return 0
    sleep 0.05
  done
  die "$2 did not listen on port $1 (see the work directory)"
}

# write_tether_config FILE TETHER_PORT BACKEND_PORT CERTS_DIR: tether as a
# wss:// proxy (TLS 1.3) to the backend. Route "/hb1" pings both legs after
# 1 s of silence, "/hbc" only the client leg; "/zoff" negotiates no
# permessage-deflate on either leg (compression is on by default everywhere
# else); every other path ("/") has no heartbeats.
write_tether_config() {
  cat >"$1" <<EOF
listeners:
  - name: bench
    bind: "127.0.0.1:$2"
    max_connections: 20000
    tls:
      cert: $4/server-chain.crt
      key: $4/server.key
      min_version: "1.3"
log:
  level: warn
  format: text
  access: false
shutdown:
  drain_timeout: 1s
defaults:
  heartbeat:
    client: {ping_interval: 0s}
    upstream: {ping_interval: 0s}
routes:
  - name: hb1
    match: {path: /hb1}
    upstream: {url: "ws://127.0.0.1:$3"}
    heartbeat:
      client: {ping_interval: 1s, pong_timeout: 10s}
      upstream: {ping_interval: 1s, pong_timeout: 10s}
  - name: hbc
    match: {path: /hbc}
    upstream: {url: "ws://127.0.0.1:$3"}
    heartbeat:
      client: {ping_interval: 1s, pong_timeout: 10s}
  - name: zoff
    match: {path: /zoff}
    upstream: {url: "ws://127.0.0.1:$3"}
    compression: {client: false, upstream: false}
  - name: bench
    match: {path: /}
    upstream: {url: "ws://127.0.0.1:$3"}
EOF
}
