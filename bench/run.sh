#!/usr/bin/env bash
# bench/run.sh: tether against nginx and HAProxy as wss:// WebSocket proxies in
# front of the same echo backend, on this machine. One command, from anywhere:
#
#   bench/run.sh                  # full run: 3 rounds, 5 s cells (about 28 minutes + build)
#   QUICK=1 bench/run.sh          # 1 round, 2 s cells, 5 s idle CPU (about 6 minutes)
#   ROUNDS=5 DURATION=10 bench/run.sh
#   QUICK=1 PHASES=deflate bench/run.sh   # the compressed cells only (about 2 minutes)
#
# It installs nginx and haproxy from Debian if they are missing (needs root),
# builds tether, echo_backend and tether_loadgen in Release into build-bench/,
# makes the development certificates, and prints one markdown report that it
# also writes to bench/RESULTS.md (raw JSON lines: bench/results-raw.jsonl).
#
# Set-up, the same for every proxy:
#   - backend: echo_backend (bench/echo_backend.cpp), ws:// on 127.0.0.1:18080:
#     echoes every frame, and every frame of one read in one write.
#   - proxies on 127.0.0.1: tether 18443, nginx 18444, HAProxy 18445; all
#     terminate wss:// with certs/dev/server-chain.crt + server.key, TLS 1.3 only,
#     and forward ws:// to the backend. The cipher is chosen by the client: the
#     load generator offers TLS_AES_128_GCM_SHA256 only.
#   - one core each side: every proxy runs under `taskset -c 1` with one worker
#     (tether --threads 1, nginx worker_processes 1, HAProxy nbthread 1); the
#     load generator and the backend share `taskset -c 0`.
#   - tether: heartbeats off on route "/" (throughput and rate cells); route
#     "/hb1" pings both legs after 1 s of silence (idle cells).
#   - "direct" is the load generator talking ws:// to the backend, no proxy,
#     no TLS: the ceiling of this client + backend pair.
#
# Cells (each target in turn within a cell, the order rotated every round):
#   run    100 sessions x {64 B, 1 KiB, 64 KiB} x {1, 16 messages in flight}:
#          round trips per second, latency, and the proxy's CPU time (utime +
#          stime from /proc/PID/stat) per round trip over the measured window
#   lat    latency at lighter loads than in the run cells, for the added p99
#          (the proxy's p99 minus direct's), after the run cells of the round:
#          lat64_s1    64 B, one session, 1 in flight, closed loop
#          lat64_half  64 B, 100 sessions, 1 in flight each, paced (loadgen
#                      --rate) to half of nginx's msg64_p1 round trips per
#                      second in the same round (its peak one message at a
#                      time: the 16-deep peak cannot be offered one message at
#                      a time by a load generator that shares a core with the
#                      backend). No nginx result: half of the best proxy's;
#                      none at all: the cell is skipped. The rate is in the
#                      raw result ("rate", "rate_from")
#   rate   new sessions per second (TCP + TLS + upgrade + close handshake),
#          RATE_CONCURRENCY connectors
#   idle   fresh proxy; RSS (VmRSS) before, after 1,000 and after 9,000 idle
#          wss sessions; then the proxy's CPU over IDLE_CPU_SECONDS with those
#          9,000 sessions (tether: 1 s heartbeats on both legs; nginx and
#          HAProxy have no heartbeats: just idle)
#   deflate  permessage-deflate (RFC 7692), issue #20. The backend is restarted
#          with `--deflate 1` (it accepts offers with no context takeover either
#          way and echoes compressed frames as they are; outside this phase it
#          ignores offers, so the other cells are unchanged), and the load
#          generator runs with --deflate: JSON-like text messages, each deflated
#          on its own (level 6) when the server accepted the extension.
#          z200_p1, z200_p16, z4k_p1, z4k_p16: 100 sessions x {200 B, 4 KiB}
#            x {1, 16} in flight, against every target, plus "tether-off":
#            the same tether on route /zoff, `compression: {client: false,
#            upstream: false}` (clear on both legs). nginx and HAProxy pass
#            the compressed frames through; tether inflates each message
#            and passes its compressed bytes on (both legs' parameters allow
#            it here). Per cell: round trips/s, the proxy's CPU per round
#            trip, p99, and the bytes on the client leg per round trip
#            (TCP payload each way, TLS included, and the echo's WebSocket
#            payload; from the load generator's socket counts)
#          zcost_200, zcost_4k: no network; tether_loadgen zcost on core 1:
#            the CPU of one deflate and one inflate of those messages
#          idle_z: tether only, like idle but every client offers
#            permessage-deflate and the backend accepts it: compression
#            negotiated on both legs of every idle session
#
# Environment:
#   ROUNDS (3)  DURATION (5 s per cell)  WARMUP (1 s)  QUICK (1: ROUNDS=1,
#   DURATION=2, IDLE_CPU_SECONDS=5)  IDLE_CPU_SECONDS (20)  IDLE_SESSIONS (9000)
#   RATE_CONCURRENCY (16)  TARGETS ("direct tether nginx haproxy")
#   PHASES ("run rate idle deflate": which kinds of cells; "run" includes the
#   lat cells)  SKIP_IDLE (1: no idle cells)
#   RESULTS_DIR (bench: where RESULTS.md and results-raw.jsonl are written;
#   RESULTS.md's keep blocks are carried over from the file there)
#   SKIP_BUILD (1: use what is in build-bench)
#   SKIP_INSTALL (1: never apt-get)
#
# Not a test: CI never runs it. Results on a shared 2-core VM are noisy (see
# /work/shared/PERF-NOTES.md); compare within one run, and read the proxy CPU
# time per message next to the throughput.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command_args="$*"
env_line=""
for v in QUICK ROUNDS DURATION WARMUP IDLE_CPU_SECONDS IDLE_SESSIONS RATE_CONCURRENCY TARGETS PHASES SKIP_BUILD \
  SKIP_IDLE RESULTS_DIR; do
  if [[ -n "${!v:-}" ]]; then
    if [[ ${!v} == *" "* ]]; then env_line+="$v=\"${!v}\" "; else env_line+="$v=${!v} "; fi
  fi
done

if [[ "${QUICK:-0}" == 1 ]]; then
  ROUNDS=${ROUNDS:-1}
  DURATION=${DURATION:-2}
  IDLE_CPU_SECONDS=${IDLE_CPU_SECONDS:-5}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CPU_SECONDS=${IDLE_CPU_SECONDS:-20}
IDLE_SESSIONS=${IDLE_SESSIONS:-9000}
IDLE_FIRST=1000
RATE_CONCURRENCY=${RATE_CONCURRENCY:-16}
TARGETS=${TARGETS:-"direct tether nginx haproxy"}
PHASES=${PHASES:-"run rate idle deflate"}
RESULTS_DIR=${RESULTS_DIR:-$root/bench}
mkdir -p "$RESULTS_DIR"
[[ "${SKIP_IDLE:-0}" == 1 ]] && PHASES=${PHASES/idle/}
SESSIONS=100

build=$root/build-bench
loadgen=$build/bench/tether_loadgen
python=/usr/bin/python3
[[ -x $python ]] || python=python3

port_backend=18080
port_tether=18443
port_nginx=18444
port_haproxy=18445

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

# ------------------------------------------------------------ set-up ----

install_peers() {
  local missing=()
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  ((${#missing[@]} == 0)) && return 0
  [[ "${SKIP_INSTALL:-0}" == 1 ]] && die "missing ${missing[*]} and SKIP_INSTALL=1"
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root, or install them"
  log "installing ${missing[*]} from Debian"
  apt-get update -qq
  # The packages would start system services on ports 80/443: keep them off.
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx haproxy >&2
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  return 0
}

export PATH=$PATH:/usr/sbin:/sbin
install_peers
command -v nginx >/dev/null || die "nginx not found"
command -v haproxy >/dev/null || die "haproxy not found"
command -v taskset >/dev/null || die "taskset not found (util-linux)"

build_bench "$([[ ${SKIP_BUILD:-0} == 1 ]] && echo 0 || echo 1)"
bash certs/make-certs.sh >/dev/null
certs=$root/certs/dev

# Sessions need descriptors: the proxy two each, the backend and the load
# generator one each.
raise_fd_limit
if ((fd_limit < 2 * IDLE_SESSIONS + 200)); then
  IDLE_SESSIONS=$(((fd_limit - 200) / 2))
  log "fd limit $fd_limit: idle cells use $IDLE_SESSIONS sessions"
fi

ports_free $port_backend $port_tether $port_nginx $port_haproxy

run=$(mktemp -d /tmp/tether-bench.XXXXXX)
raw=$run/results.jsonl
: >"$raw"
log "work directory $run"

# --------------------------------------------------------- processes ----

declare -A measure=()   # name -> pid whose CPU and RSS we read (pid[]: bench/lib.sh)
backend_deflate=0       # 1: the backend accepts permessage-deflate (deflate phase)

stop() {  # NAME
  local p=${pid[$1]:-}
  [[ -z $p ]] && return 0
  kill "$p" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; ++i)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$1]" "measure[$1]"
}

write_configs() {
  write_tether_config "$run/tether.yaml" $port_tether $port_backend "$certs"

  mkdir -p "$run/nginx"
  cat >"$run/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $fd_limit;
daemon off;
pid $run/nginx/nginx.pid;
error_log $run/nginx.log warn;
events {
  worker_connections $((fd_limit - 100));
}
http {
  access_log off;
  client_body_temp_path $run/nginx/client_body;
  proxy_temp_path $run/nginx/proxy;
  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ''      close;
  }
  server {
    listen 127.0.0.1:$port_nginx ssl;
    ssl_certificate $certs/server-chain.crt;
    ssl_certificate_key $certs/server.key;
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://127.0.0.1:$port_backend;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      # Idle WebSockets must outlive the idle cells (default 60 s).
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
EOF

  cat "$certs/server-chain.crt" "$certs/server.key" >"$run/haproxy.pem"
  local maxconn=$(((fd_limit - 200) / 2))
  cat >"$run/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $maxconn
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode http
  maxconn $maxconn
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout http-request 10s
frontend fe
  bind 127.0.0.1:$port_haproxy ssl crt $run/haproxy.pem
  default_backend be
backend be
  server backend 127.0.0.1:$port_backend
EOF
}

start() {  # NAME
  case $1 in
    backend)
      taskset -c 0 "$build/bench/echo_backend" --port $port_backend --deflate $backend_deflate \
        >>"$run/backend.log" 2>&1 &
      pid[backend]=$!
      measure[backend]=$!
      wait_port $port_backend backend
      ;;
    tether)
      taskset -c 1 "$build/tether" -c "$run/tether.yaml" --threads 1 >>"$run/tether.log" 2>&1 &
      pid[tether]=$!
      measure[tether]=$!
      wait_port $port_tether tether
      ;;
    nginx)
      taskset -c 1 nginx -p "$run/nginx" -c "$run/nginx.conf" >>"$run/nginx.out" 2>&1 &
      pid[nginx]=$!
      wait_port $port_nginx nginx
      local worker="" i
      for ((i = 0; i < 100; ++i)); do
        worker=$(pgrep -P "${pid[nginx]}" | head -1 || true)
        [[ -n $worker ]] && break
        sleep 0.05
      done
      [[ -n $worker ]] || die "no nginx worker process"
      measure[nginx]=$worker  # the master only supervises
      ;;
    haproxy)
      taskset -c 1 haproxy -f "$run/haproxy.cfg" -db >>"$run/haproxy.log" 2>&1 &
      pid[haproxy]=$!
      measure[haproxy]=$!
      wait_port $port_haproxy haproxy
      ;;
    direct) ;;
    *) die "unknown target $1" ;;
  esac
}

url_of() {  # TARGET [PATH]
  case $1 in
    direct) echo "ws://127.0.0.1:$port_backend${2:-/}" ;;
    tether-off) echo "wss://127.0.0.1:$port_tether${2:-/zoff}" ;;
    tether) echo "wss://127.0.0.1:$port_tether${2:-/}" ;;
    nginx) echo "wss://127.0.0.1:$port_nginx${2:-/}" ;;
    haproxy) echo "wss://127.0.0.1:$port_haproxy${2:-/}" ;;
  esac
}

# record TARGET CELL ROUND JSON: one line of raw results.
record() {
  printf '{"target":"%s","cell":"%s","round":%d,"result":%s}\n' "$1" "$2" "$3" "$4" >>"$raw"
}

rotate() {  # N WORDS...: the words rotated left by N
  local n=$1
  shift
  local a=("$@") k=${#a[@]} i
  for ((i = 0; i < k; ++i)); do
    printf '%s ' "${a[$(((i + n) % k))]}"
  done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# --------------------------------------------------------------- cells ----

# "NAME SIZE INFLIGHT [SESSIONS [RATE_RULE]]", run in this order within a
# round. SESSIONS defaults to $SESSIONS. RATE_RULE paces the cell (loadgen
# --rate), the same rate for every target of the round:
#   half-nginx  half of nginx's msg64_p1 msgs_per_s in this round (see
#               half_nginx_rate), so msg64_p1 must come before such a cell
cells=(
  "msg64_p1 64 1"
  "msg64_p16 64 16"
  "msg1k_p1 1024 1"
  "msg1k_p16 1024 16"
  "msg64k_p1 65536 1"
  "msg64k_p16 65536 16"
  "lat64_s1 64 1 1"
  "lat64_half 64 1 100 half-nginx"
)

# The deflate phase's cells, "NAME SIZE INFLIGHT", and its zlib reference.
deflate_cells=(
  "z200_p1 200 1"
  "z200_p16 200 16"
  "z4k_p1 4096 1"
  "z4k_p16 4096 16"
)

# restart_backend DEFLATE: the backend again, accepting permessage-deflate or not.
restart_backend() {
  stop backend
  backend_deflate=$1
  start backend
}

zcost_cell() {  # NAME SIZE ROUND: zlib alone on the proxies' core
  local out
  if ! out=$(taskset -c 1 "$loadgen" zcost --size "$2" --duration "$DURATION" 2>>"$run/loadgen.log"); then
    out='{"failed":true}'
  fi
  log "$1 zlib: $out"
  record zlib "$1" "$3" "$out"
}

deflate_phase() {  # ROUND ORDER...
  local round=$1 c cell size inflight t
  shift
  local targets=()
  for t in "$@"; do
    targets+=("$t")
    [[ $t == tether ]] && targets+=(tether-off)
  done
  restart_backend 1
  loadgen_extra=(--deflate)
  for c in "${deflate_cells[@]}"; do
    read -r cell size inflight <<<"$c"
    for t in "${targets[@]}"; do
      run_cell "$t" "$cell" "$size" "$inflight" "$round"
    done
  done
  zcost_cell zcost_200 200 "$round"
  zcost_cell zcost_4k 4096 "$round"
  if [[ " $* " == *" tether "* ]]; then
    idle_cell tether "$round" idle_z
  fi
  loadgen_extra=()
  restart_backend 0
}

# half_nginx_rate ROUND: prints "RATE SOURCE", half of nginx's msg64_p1
# round trips per second in ROUND; without an nginx result, half of the best
# msg64_p1 among the other proxies (SOURCE names it); nothing if none has one.
half_nginx_rate() {
  $python - "$raw" "$1" <<'EOF'
import json, sys
peak = {}
with open(sys.argv[1]) as f:
    for line in f:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("cell") != "msg64_p1" or row.get("round") != int(sys.argv[2]) or row.get("target") == "direct":
            continue
        v = row.get("result", {}).get("msgs_per_s")
        if isinstance(v, (int, float)) and v > 0:
            peak[row["target"]] = v
source = "nginx" if "nginx" in peak else max(peak, key=peak.get, default=None)
if source:
    print(f"{peak[source] / 2:.1f} {source}")
EOF
}

# ensure_alive TARGET CELL ROUND: starts a proxy that is not running, and
# restarts one that died, saying so in the log and the raw results.
ensure_alive() {
  local p=${pid[$1]:-} rc=0
  [[ $1 == direct ]] && return 0
  if [[ -z $p ]]; then
    # Stopped on purpose (idle cells leave no proxy behind): start afresh.
    [[ $2 != end ]] && start "$1"
    return 0
  fi
  kill -0 "$p" 2>/dev/null && return 0
  wait "$p" 2>/dev/null || rc=$?
  log "$1 DIED during or before cell $2 (exit status $rc); restarting it"
  record "$1" crash "$3" "{\"before_cell\":\"$2\",\"exit_status\":$rc}"
  unset "pid[$1]" "measure[$1]"
  start "$1"
}

# run_cell TARGET CELL SIZE INFLIGHT ROUND [SESSIONS [RATE RATE_FROM]]; with
# loadgen_extra=(...) set, those arguments go to the load generator too.
# "tether-off" is tether's process on route /zoff.
loadgen_extra=()
run_cell() {
  local target=$1 cell=$2 size=$3 inflight=$4 round=$5 sessions=${6:-$SESSIONS} rate=${7:-} rate_from=${8:-} out
  local proc=$target
  [[ $target == tether-off ]] && proc=tether
  ensure_alive "$proc" "$cell" "$round"
  local args=(run --url "$(url_of "$target")" --ca "$certs/ca.crt" --sessions "$sessions" --size "$size"
    --inflight "$inflight" --duration "$DURATION" --warmup "$WARMUP" --backend-pid "${measure[backend]}")
  [[ $target != direct ]] && args+=(--proxy-pid "${measure[$proc]}")
  [[ -n $rate ]] && args+=(--rate "$rate")
  args+=("${loadgen_extra[@]}")
  if ! out=$(taskset -c 0 "$loadgen" "${args[@]}" 2>>"$run/loadgen.log"); then
    log "$cell $target: load generator failed"
    out='{"failed":true}'
  fi
  if [[ -n $rate ]]; then
    # Where the rate came from; and the rate itself if the load generator failed.
    [[ $out == *'"rate":'* ]] || out="${out%\}},\"rate\":$rate}"
    out="${out%\}},\"rate_from\":\"$rate_from\"}"
  fi
  log "$cell $target: $out"
  record "$target" "$cell" "$round" "$out"
}

rate_cell() {  # TARGET ROUND
  local target=$1 round=$2 out
  ensure_alive "$target" rate "$round"
  local args=(rate --url "$(url_of "$target")" --ca "$certs/ca.crt" --concurrency "$RATE_CONCURRENCY"
    --duration "$DURATION" --warmup "$WARMUP" --backend-pid "${measure[backend]}")
  [[ $target != direct ]] && args+=(--proxy-pid "${measure[$target]}")
  if ! out=$(taskset -c 0 "$loadgen" "${args[@]}" 2>>"$run/loadgen.log"); then
    log "rate $target: load generator failed"
    out='{"failed":true}'
  fi
  log "rate $target: $out"
  record "$target" rate "$round" "$out"
}

# idle_open NAME URL COUNT: starts an idle load generator in the background
# (pid[NAME]) and waits until its "open" line is in $run/NAME.out.
idle_open() {
  local name=$1 url=$2 count=$3 i
  # Emptied here, not by the child's redirection: an old "open" line must not
  # be found before the child has started.
  : >"$run/$name.out"
  taskset -c 0 "$loadgen" idle --url "$url" --ca "$certs/ca.crt" --sessions "$count" --connect-rate 1500 \
    --concurrency 64 --hold 600 "${loadgen_extra[@]}" >>"$run/$name.out" 2>>"$run/loadgen.log" &
  pid[$name]=$!
  for ((i = 0; i < 2400; ++i)); do
    grep -q '"event":"open"' "$run/$name.out" 2>/dev/null && break
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q '"event":"open"' "$run/$name.out"; then
    local rc=0
    kill -0 "${pid[$name]}" 2>/dev/null || { wait "${pid[$name]}" || rc=$?; }
    die "$name ($url) did not open its sessions (exit status $rc; see $run)"
  fi
}

idle_close() {  # NAME: stops an idle load generator; its last line is in $run/NAME.out
  local p=${pid[$1]:-}
  [[ -z $p ]] && return 0
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$1]"
}

json_line() {  # FILE PATTERN: the first line of FILE containing PATTERN, or {}
  grep -m1 -F "$2" "$1" 2>/dev/null || echo '{}'
}

idle_cell() {  # TARGET ROUND [CELL]: CELL (default idle) names the raw result
  local target=$1 round=$2 cell=${3:-idle} path=/
  [[ $target == tether ]] && path=/hb1
  local url
  url=$(url_of "$target" "$path")
  stop "$target"
  start "$target"
  sleep 1
  local p=${measure[$target]}
  local rss0 rss1 rss2 anon0 anon1 anon2 t0 t1 c0 c1
  rss0=$(rss_kib "$p")
  anon0=$(anon_kib "$p")
  idle_open idle_a "$url" "$IDLE_FIRST"
  sleep 2
  rss1=$(rss_kib "$p")
  anon1=$(anon_kib "$p")
  idle_open idle_b "$url" $((IDLE_SESSIONS - IDLE_FIRST))
  sleep 2
  rss2=$(rss_kib "$p")
  anon2=$(anon_kib "$p")
  c0=$(cpu_ticks "$p")
  t0=$(date +%s.%N)
  sleep "$IDLE_CPU_SECONDS"
  c1=$(cpu_ticks "$p")
  t1=$(date +%s.%N)
  idle_close idle_a
  idle_close idle_b
  local result
  result=$($python - "$rss0" "$rss1" "$rss2" "$c0" "$c1" "$t0" "$t1" "$IDLE_FIRST" "$IDLE_SESSIONS" \
    "$(getconf CLK_TCK)" "$(json_line "$run/idle_a.out" '"event":"open"')" \
    "$(json_line "$run/idle_b.out" '"event":"open"')" "$(json_line "$run/idle_a.out" '"mode":"idle"')" \
    "$(json_line "$run/idle_b.out" '"mode":"idle"')" "$anon0" "$anon1" "$anon2" <<'EOF'
import json, sys
a = sys.argv[1:]
rss0, rss1, rss2 = (int(x) for x in a[0:3])
c0, c1 = int(a[3]), int(a[4])
t0, t1 = float(a[5]), float(a[6])
first, total, hz = int(a[7]), int(a[8]), int(a[9])
opens = [json.loads(x) for x in a[10:12]]
finals = [json.loads(x) for x in a[12:14]]
anon0, anon1, anon2 = (int(x) for x in a[14:17])
opened = sum(o.get("sessions", 0) for o in opens)
failed = sum(o.get("failed", 0) for o in opens)
cpu = (c1 - c0) / hz
print(json.dumps({
    "sessions": opened, "failed": failed,
    "deflate_sessions": sum(f.get("deflate_sessions", 0) for f in finals),
    "dropped": sum(f.get("dropped", 0) for f in finals),
    "rss0_kib": rss0, "rss1k_kib": rss1, "rss_all_kib": rss2,
    "kib_per_session_1k": round((rss1 - rss0) / first, 2),
    "kib_per_session_all": round((rss2 - rss0) / max(opened, 1), 2),
    "anon_kib_per_session_1k": round((anon1 - anon0) / first, 2),
    "anon_kib_per_session_all": round((anon2 - anon0) / max(opened, 1), 2),
    "idle_cpu_s": round(cpu, 3), "idle_window_s": round(t1 - t0, 3),
    "idle_cpu_pct": round(100 * cpu / (t1 - t0), 2),
    "pings_per_s_to_clients": round(sum(f.get("pings_received", 0) / max(f.get("held_s", 0), 0.1)
                                        for f in finals if f), 1),
}))
EOF
  )
  log "$cell $target: $result"
  record "$target" "$cell" "$round" "$result"
  stop "$target"
}

# ---------------------------------------------------------------- main ----

write_configs
start backend
for t in $TARGETS; do
  start "$t"
done
started_at=$(date +%s)
log "targets: $TARGETS; rounds $ROUNDS, cells of $DURATION s after $WARMUP s warm-up"

for ((round = 1; round <= ROUNDS; ++round)); do
  order=$(rotate $((round - 1)) $TARGETS)
  log "round $round of $ROUNDS (order: $order)"
  if [[ " $PHASES " == *" run "* ]]; then
    for c in "${cells[@]}"; do
      read -r cell size inflight sessions rule <<<"$c"
      rate="" rate_from=""
      case $rule in
        "") ;;
        half-nginx)
          read -r rate rate_from <<<"$(half_nginx_rate "$round")" || true
          if [[ -z $rate ]]; then
            log "$cell: no proxy has a msg64_p1 result in round $round, so no rate to pace at: cell skipped"
            continue
          fi
          log "$cell: paced to $rate round trips/s in all (half of $rate_from's msg64_p1 in round $round)"
          ;;
        *) die "cell $cell: unknown rate rule '$rule'" ;;
      esac
      for t in $order; do
        run_cell "$t" "$cell" "$size" "$inflight" "$round" "${sessions:-$SESSIONS}" "$rate" "$rate_from"
      done
    done
  fi
  if [[ " $PHASES " == *" rate "* ]]; then
    for t in $order; do
      rate_cell "$t" "$round"
    done
  fi
  if [[ " $PHASES " == *" idle "* ]]; then
    for t in $order; do
      [[ $t == direct ]] && continue
      idle_cell "$t" "$round"
    done
  fi
  if [[ " $PHASES " == *" deflate "* ]]; then
    # shellcheck disable=SC2086
    deflate_phase "$round" $order
  fi
done
for t in $TARGETS; do
  ensure_alive "$t" end "$ROUNDS"
done
log "done in $(($(date +%s) - started_at)) s"

cp "$raw" "$RESULTS_DIR/results-raw.jsonl"
$python "$root/bench/report.py" --raw "$raw" --results "$RESULTS_DIR/RESULTS.md" \
  --command "${env_line}bench/run.sh${command_args:+ $command_args}" --rounds "$ROUNDS" --duration "$DURATION" \
  --warmup "$WARMUP" --idle-cpu-seconds "$IDLE_CPU_SECONDS" --sessions "$SESSIONS" \
  --rate-concurrency "$RATE_CONCURRENCY"
