#!/usr/bin/env bash
# bench/heartbeat_cpu.sh: what tether's heartbeats cost at scale. One command:
#
#   bench/heartbeat_cpu.sh                     # 9,000 sessions, 30 s window
#   SESSIONS=5000 SECONDS_MEASURED=60 bench/heartbeat_cpu.sh
#
# Opens SESSIONS idle wss:// sessions (two load generator processes, half
# each) through tether (`--threads 2`) to the demo backend, with
#   heartbeat: {client:   {ping_interval: 1s, pong_timeout: 10s},
#               upstream: {ping_interval: 1s, pong_timeout: 10s}}
# so that tether pings both legs of every session once a second (the clients
# and the backend answer with pongs), waits for the heartbeats to settle, and
# measures tether's CPU time (utime+stime, /proc/PID/stat) over
# SECONDS_MEASURED (30). Then, unless CLIENT_ONLY=0, the same with pings on
# the client leg only (the leg a load balancer or NAT cuts; a sidecar's
# upstream leg is loopback). Then, unless BASELINE=0, the same with heartbeats
# off, to separate the heartbeats from the cost of merely holding the sessions.
# Then, unless FLOOR=0, bench/heartbeat_floor with as many pings a second
# between two bare processes, for both legs and for one: the kernel's share,
# which no proxy avoids.
# Prints percent of one core and writes it into bench/RESULTS.md (its own
# section, which bench/run.sh keeps).
#
# Why 9,000 and not 10,000: the hard descriptor limit here is 20,000 per
# process and tether holds two per session (client and upstream legs) plus
# its listeners, so 10,000 sessions do not fit in one tether process.
#
# Nothing is pinned: tether has both cores for its two threads, and shares
# them with the load generators and the backend (which are busy answering
# about SESSIONS pings per second each). Requires build-bench (bench/run.sh
# builds it; or SKIP_BUILD=0 here).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command_args="$*"
env_line=""
for v in SESSIONS SECONDS_MEASURED CLIENT_ONLY BASELINE FLOOR SKIP_BUILD; do
  if [[ -n "${!v:-}" ]]; then
    if [[ ${!v} == *" "* ]]; then env_line+="$v=\"${!v}\" "; else env_line+="$v=${!v} "; fi
  fi
done

SESSIONS=${SESSIONS:-9000}
SECONDS_MEASURED=${SECONDS_MEASURED:-30}
SETTLE=${SETTLE:-5}
BASELINE=${BASELINE:-1}
build=$root/build-bench
loadgen=$build/bench/tether_loadgen
python=/usr/bin/python3
[[ -x $python ]] || python=python3
port_backend=18081
port_tether=18446

log() { printf '[heartbeat %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

build_bench "$([[ ${SKIP_BUILD:-1} == 1 ]] && echo 0 || echo 1)"
bash certs/make-certs.sh >/dev/null
certs=$root/certs/dev

raise_fd_limit
if ((2 * SESSIONS + 100 > fd_limit)); then
  SESSIONS=$(((fd_limit - 100) / 2))
  log "fd limit $fd_limit: tether can hold $SESSIONS sessions"
fi
ports_free $port_backend $port_tether

run=$(mktemp -d /tmp/tether-heartbeat.XXXXXX)
log "work directory $run"

write_tether_config "$run/tether.yaml" $port_tether $port_backend "$certs"

"$build/bench/echo_backend" --port $port_backend >"$run/backend.log" 2>&1 &
pid[backend]=$!
wait_port $port_backend backend

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure PATH LABEL: prints one JSON line for that route.
measure() {
  local path=$1 label=$2
  "$build/tether" -c "$run/tether.yaml" --threads 2 >>"$run/tether.log" 2>&1 &
  pid[tether]=$!
  wait_port $port_tether tether
  sleep 1
  local t=${pid[tether]} rss0 rss1 c0 c1 t0 t1 half=$((SESSIONS / 2)) name i
  rss0=$(rss_kib "$t")
  for name in a b; do
    local n=$half
    [[ $name == b ]] && n=$((SESSIONS - half))
    : >"$run/$label-$name.out"
    "$loadgen" idle --url "wss://127.0.0.1:$port_tether$path" --ca "$certs/ca.crt" --sessions "$n" \
      --connect-rate 1500 --concurrency 64 --hold 900 >>"$run/$label-$name.out" 2>>"$run/loadgen.log" &
    pid[lg_$name]=$!
  done
  for name in a b; do
    for ((i = 0; i < 2400; ++i)); do
      grep -q '"event":"open"' "$run/$label-$name.out" 2>/dev/null && break
      kill -0 "${pid[lg_$name]}" 2>/dev/null || break
      sleep 0.05
    done
    grep -q '"event":"open"' "$run/$label-$name.out" || die "load generator $name did not open its sessions"
  done
  log "$label: $(cat "$run/$label-a.out" "$run/$label-b.out" | tr '\n' ' ')"
  sleep "$SETTLE"
  rss1=$(rss_kib "$t")
  c0=$(cpu_ticks "$t")
  t0=$(date +%s.%N)
  sleep "$SECONDS_MEASURED"
  c1=$(cpu_ticks "$t")
  t1=$(date +%s.%N)
  for name in a b; do
    kill -TERM "${pid[lg_$name]}" 2>/dev/null || true
    wait "${pid[lg_$name]}" 2>/dev/null || true
    unset "pid[lg_$name]"
  done
  kill -0 "$t" 2>/dev/null || die "tether died (see $run/tether.log)"
  kill "$t"
  wait "$t" 2>/dev/null || true
  unset "pid[tether]"
  $python - "$label" "$c0" "$c1" "$t0" "$t1" "$(getconf CLK_TCK)" "$rss0" "$rss1" \
    "$run/$label-a.out" "$run/$label-b.out" <<'EOF'
import json, sys
label, c0, c1, t0, t1, hz, rss0, rss1 = sys.argv[1:9]
lines = []
for path in sys.argv[9:11]:
    for line in open(path):
        if '"mode":"idle"' in line:
            lines.append(json.loads(line))
sessions = sum(l["sessions"] for l in lines)
cpu = (int(c1) - int(c0)) / int(hz)
window = float(t1) - float(t0)
print(json.dumps({
    "label": label, "sessions": sessions,
    "failed": sum(l["failed"] for l in lines), "dropped": sum(l["dropped"] for l in lines),
    "cpu_s": round(cpu, 2), "window_s": round(window, 1),
    "cpu_pct_of_one_core": round(100 * cpu / window, 1),
    "rss_kib_per_session": round((int(rss1) - int(rss0)) / max(sessions, 1), 1),
    "pings_per_s_to_clients": round(sum(l["pings_received"] / max(l["held_s"], 0.1) for l in lines), 0),
}))
EOF
}

log "$SESSIONS sessions, tether --threads 2, ${SECONDS_MEASURED} s window"
hb=$(measure /hb1 heartbeat_1s)
log "heartbeats 1 s: $hb"
hbc='{}'
if [[ ${CLIENT_ONLY:-1} == 1 ]]; then
  hbc=$(measure /hbc heartbeat_client)
  log "heartbeats 1 s, client leg only: $hbc"
fi
off='{}'
if [[ $BASELINE == 1 ]]; then
  off=$(measure / heartbeat_off)
  log "heartbeats off: $off"
fi
# The same number of pings and pongs a second between two bare processes:
# what the kernel alone charges the sender here (bench/heartbeat_floor.cpp).
floor='{}'
floor1='{}'
if [[ ${FLOOR:-1} == 1 ]]; then
  floor=$("$build/bench/heartbeat_floor" --pairs $((2 * SESSIONS)) --seconds "$SECONDS_MEASURED")
  log "kernel floor: $floor"
  if [[ $hbc != '{}' ]]; then
    floor1=$("$build/bench/heartbeat_floor" --pairs "$SESSIONS" --seconds "$SECONDS_MEASURED")
    log "kernel floor, one leg: $floor1"
  fi
fi

$python - "$root/bench/RESULTS.md" "$hb" "$hbc" "$off" "$floor" "$floor1" \
  "${env_line}bench/heartbeat_cpu.sh${command_args:+ $command_args}" <<'EOF'
import datetime, json, os, re, sys
path = sys.argv[1]
hb, hbc, off, floor, floor1 = (json.loads(a) for a in sys.argv[2:7])
command = sys.argv[7]
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = " ".join(open("/proc/loadavg").read().split()[:3])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
rows = [("1 s on both legs", hb)] + ([("1 s on the client leg only", hbc)] if hbc else []) + \
    ([("off", off)] if off else [])
text = [
    "<!-- BEGIN keep:heartbeat -->",
    "## Heartbeats at scale (bench/heartbeat_cpu.sh)",
    "",
    f"- date: {now}; command: `{command}`",
    f"- machine: {os.cpu_count()} CPUs ({cpu_model}), kernel {os.uname().release}, load average at the end {load}",
    f"- {hb['sessions']} idle wss sessions through tether `--threads 2` (not pinned), two load generator "
    "processes; 9,000 rather than 10,000 because tether holds two descriptors per session and the hard "
    "limit here is 20,000 per process",
    "",
    "| heartbeats | sessions | tether CPU, % of one core | pings/s seen by clients | RSS per session, KiB | dropped |",
    "|---|---:|---:|---:|---:|---:|",
]
for name, r in rows:
    text.append(f"| {name} | {r['sessions']} | {r['cpu_pct_of_one_core']} | {r['pings_per_s_to_clients']:.0f} | "
                f"{r['rss_kib_per_session']} | {r['dropped'] + r['failed']} |")
text += ["", f"tether's CPU over a {hb['window_s']} s window (utime+stime of the whole process)."]
if floor:
    text += ["", f"Kernel floor (bench/heartbeat_floor): one bare process sending {floor['pings_per_s']:.0f} "
             f"6-byte frames a second over {floor['pairs']} loopback TCP connections, in the same ten bursts "
             "a second, and reading each echo from a second process, uses "
             f"**{floor['pinger_cpu_pct']}%** of one core ({floor['us_per_ping_pong']} µs per ping and pong), "
             "with no TLS, no WebSocket and no timers. On loopback the sender's `sendto` also runs the "
             "receiver's TCP input and wakes it; a remote peer does that work on its own machine."]
    if floor1:
        text += ["", f"The same with {floor1['pairs']} connections (one leg a session): "
                 f"**{floor1['pinger_cpu_pct']}%** ({floor1['us_per_ping_pong']} µs per ping and pong)."]
text += ["<!-- END keep:heartbeat -->"]
block = "\n".join(text)
old = open(path).read() if os.path.exists(path) else "# tether benchmark results\n"
pattern = re.compile(r"<!-- BEGIN keep:heartbeat -->.*?<!-- END keep:heartbeat -->", re.S)
new = pattern.sub(lambda m: block, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(new)
print(block)
EOF
