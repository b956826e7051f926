#!/usr/bin/env python3
"""Turns bench/run.sh's raw JSON lines into markdown tables.

Prints the report and writes it to RESULTS (bench/RESULTS.md). Blocks of the
old RESULTS between "<!-- BEGIN keep:NAME -->" and "<!-- END keep:NAME -->"
(bench/heartbeat_cpu.sh's figure, hand-written notes) are carried over.
Every cell shows the median over the rounds and, with more than one round,
the min-max range; the ratio columns divide tether's median by the peer's.
The latency cells' "added" latency is a proxy's figure minus direct's in the
same round, then the median (min-max) over the rounds of that difference.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

TARGETS = ["direct", "tether", "nginx", "haproxy"]
RUN_CELLS = [
    ("msg64_p1", "64 B, 1 in flight"),
    ("msg64_p16", "64 B, 16 in flight"),
    ("msg1k_p1", "1 KiB, 1 in flight"),
    ("msg1k_p16", "1 KiB, 16 in flight"),
    ("msg64k_p1", "64 KiB, 1 in flight"),
    ("msg64k_p16", "64 KiB, 16 in flight"),
]
# Latency cells: not in the throughput tables. lat64_half's label gets the rate.
LAT_CELLS = [
    ("lat64_s1", "64 B, 1 session"),
    ("lat64_half", "64 B, 100 sessions at half of nginx's peak rate"),
]
# The deflate phase: "tether-off" is tether on its route without compression.
DEFLATE_TARGETS = ["direct", "tether", "tether-off", "nginx", "haproxy"]
DEFLATE_CELLS = [
    ("z200_p1", "200 B JSON, 1 in flight"),
    ("z200_p16", "200 B JSON, 16 in flight"),
    ("z4k_p1", "4 KiB JSON, 1 in flight"),
    ("z4k_p16", "4 KiB JSON, 16 in flight"),
]
ZCOST_CELLS = [("zcost_200", "200 B JSON"), ("zcost_4k", "4 KiB JSON")]


def sh(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return ((r.stdout or "") + (r.stderr or "")).strip().splitlines()[0]
    except Exception:
        return "?"


def git_state():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "proxy"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"commit {head}" + (" with uncommitted changes in proxy/" if dirty else ", proxy/ as committed")
    except Exception:
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt(v):
    if v is None:
        return "-"
    if float(v).is_integer():
        return f"{v:,.0f}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell_text(values):
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(values))}-{fmt(max(values))})"


def ratio(a, b):
    if not a or not b:
        return "-"
    ma, mb = statistics.median(a), statistics.median(b)
    if mb <= 0 or ma < 0:
        return "-"  # (an added latency can be negative: no meaningful ratio)
    return f"{ma / mb:.2f}"


class Data:
    def __init__(self, path):
        self.by = {}
        self.by_round = {}  # (cell, target) -> {round: result}
        self.errors = {}
        self.crashes = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                if row["cell"] == "crash":
                    self.crashes.append(row)
                    continue
                key = (row["cell"], row["target"])
                self.by.setdefault(key, []).append(row["result"])
                self.by_round.setdefault(key, {})[row.get("round")] = row["result"]
                res = row["result"]
                # run/rate: "errors"; idle: sessions that failed to open or were dropped;
                # {"failed": true}: the load generator itself failed.
                err = 1 if res.get("failed") is True else (
                    res.get("errors", 0) + res.get("failed", 0) + res.get("dropped", 0))
                self.errors[row["target"]] = self.errors.get(row["target"], 0) + err
        self.targets = [t for t in TARGETS if any(k[1] == t for k in self.by)]

    def values(self, cell, target, metric):
        return [r[metric] for r in self.by.get((cell, target), []) if isinstance(r.get(metric), (int, float))]

    def rounds(self, cell):
        return sorted({r for (c, _), rs in self.by_round.items() if c == cell for r in rs if isinstance(r, int)})

    def value_in_round(self, cell, target, metric, rnd):
        v = self.by_round.get((cell, target), {}).get(rnd, {}).get(metric)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def added(self, cell, target, metric):
        """target's metric minus direct's, per round where both have one."""
        out = []
        for rnd in self.rounds(cell):
            v = self.value_in_round(cell, target, metric, rnd)
            d = self.value_in_round(cell, "direct", metric, rnd)
            if v is not None and d is not None:
                out.append(v - d)
        return out


def table(data, rows, title, note, targets, ratios=True, values=None):
    """rows: [(cell, label, metric)]; values(cell, target, metric) -> [numbers] (default data.values)."""
    values = values or data.values
    peers = [p for p in ("nginx", "haproxy") if p in targets] if ratios else []
    head = ["", *targets] + ([f"tether/{p}" for p in peers] if "tether" in targets and peers else [])
    out = [f"### {title}", ""] + ([note, ""] if note else []) + ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for cell, label, metric in rows:
        vals = {t: values(cell, t, metric) for t in targets}
        if not any(vals.values()):
            continue
        line = [label] + [cell_text(vals[t]) for t in targets]
        if "tether" in targets and peers:
            line += [ratio(vals["tether"], vals[p]) for p in peers]
        out.append("| " + " | ".join(line) + " |")
    out.append("")
    return out


def run_rows(metric):
    return [(cell, label, metric) for cell, label in RUN_CELLS]


def lat_label(data, cell, label):
    """lat64_half: the label names where the rate came from and what it was."""
    if cell != "lat64_half":
        return label
    results = [r for rs in data.by_round.items() if rs[0][0] == cell for r in rs[1].values()]
    rates = [r["rate"] for r in results if isinstance(r.get("rate"), (int, float))]
    sources = sorted({r["rate_from"] for r in results if r.get("rate_from")})
    if sources and sources != ["nginx"]:
        label = label.replace("nginx's", "/".join(sources) + "'s")
    if rates:
        m = statistics.median(rates)
        label += f" ({'median ' if len(set(rates)) > 1 else ''}{fmt(round(m))}/s)"
    return label


def lat_rows(data, metric):
    return [(cell, lat_label(data, cell, label), metric) for cell, label in LAT_CELLS]


def paced_rate_table(data, targets):
    """Per round: the rate lat64_half was paced at, and what each target achieved."""
    cell = "lat64_half"
    rounds = data.rounds(cell)
    if not rounds:
        return []
    head = ["round", "paced at, round trips/s (half of)", *[f"{t} achieved" for t in targets]]
    out = ["### Paced rate of the half-peak cell, per round", "",
           "The rate lat64_half offered in all (100 sessions, each sending one message per "
           "100/rate seconds, at most one in flight) and the round trips per second each target "
           "completed. Achieved well below the rate: the target did not keep up, and its latency there "
           "is that of an overload.", "",
           "| " + " | ".join(head) + " |", "|" + "|".join(["---:"] * len(head)) + "|"]
    for rnd in rounds:
        res = [data.by_round.get((cell, t), {}).get(rnd, {}) for t in targets]
        rate = next((r["rate"] for r in res if isinstance(r.get("rate"), (int, float))), None)
        src = next((r["rate_from"] for r in res if r.get("rate_from")), "?")
        line = [str(rnd), f"{fmt(rate)} ({src}'s msg64_p1 / 2)" if rate is not None else "-"]
        line += [fmt(data.value_in_round(cell, t, "msgs_per_s", rnd)) for t in targets]
        out.append("| " + " | ".join(line) + " |")
    out.append("")
    return out


def deflate_section(data):
    """The deflate phase's tables (issue #20), if the raw results have them."""
    if not any(c in dict(DEFLATE_CELLS) for c, _ in data.by):
        return []
    targets = [t for t in DEFLATE_TARGETS if any(k[1] == t and k[0] in dict(DEFLATE_CELLS) for k in data.by)]
    proxies = [t for t in targets if t != "direct"]
    md = ["## permessage-deflate", "",
          "Clients offer permessage-deflate (no context takeover) and send JSON-like text, each message "
          "deflated on its own (zlib level 6) when accepted; the backend accepts and echoes compressed "
          "frames as they are. nginx and HAProxy pass the compressed frames through; tether inflates "
          "each message (UTF-8, size limit, answer rules) and passes its compressed bytes on when "
          "both legs' parameters allow, as here (2 inflates per round trip; before that change, "
          "2 inflates and 2 deflates); tether-off is the same tether on a route with `compression: {client: false, upstream: "
          "false}`, so everything travels in clear. The ratio columns divide tether by tether-off.", ""]

    def rows(metric):
        return [(c, label, metric) for c, label in DEFLATE_CELLS]

    def tbl(metric, title, note, tg):
        out = table(data, rows(metric), title, note, tg, ratios=False)
        if "tether" in tg and "tether-off" in tg:
            head_i = next(i for i, l in enumerate(out) if l.startswith("| "))
            out[head_i] = out[head_i][:-2] + " | tether/tether-off |"
            out[head_i + 1] = out[head_i + 1] + "---:|"
            for i in range(head_i + 2, len(out)):
                if not out[i].startswith("| "):
                    continue
                label = out[i].split(" | ")[0][2:]
                cell = next(c for c, l in DEFLATE_CELLS if l == label)
                out[i] = out[i][:-2] + " | " + ratio(data.values(cell, "tether", metric),
                                                      data.values(cell, "tether-off", metric)) + " |"
        return out

    md += tbl("msgs_per_s", "Round trips per second, compressed (higher is better)", "", targets)
    md += tbl("proxy_cpu_us_per_msg", "Proxy CPU per round trip, compressed, microseconds (lower is better)",
              "", proxies)
    md += tbl("p99_us", "p99 latency, compressed, microseconds (lower is better)", "", targets)
    md += tbl("ws_in_bytes_per_msg", "Client leg: WebSocket payload of one echo, bytes",
              "As received by the client (compressed when RSV1 was set).", targets)
    md += tbl("wire_in_bytes_per_msg", "Client leg: TCP bytes to the client per round trip",
              "TCP payload (TLS 1.3 records included, TLS-less for direct) received by the load generator "
              "over the measured window divided by the round trips.", targets)
    md += tbl("wire_out_bytes_per_msg", "Client leg: TCP bytes from the client per round trip", "", targets)
    z = [(c, l) for c, l in ZCOST_CELLS if data.values(c, "zlib", "deflate_us")]
    if z:
        md += ["### zlib alone on the proxies' core", "",
               "`tether_loadgen zcost`: one deflate (level 6, raw, 15-bit window, reset per message) and "
               "one inflate of the same message, CPU time of the thread, median over the rounds. A round "
               "trip through a proxy that terminates compression on both legs costs 2 of each.", "",
               "| message | compressed, bytes | deflate, us | inflate, us | 2 x (deflate + inflate), us |",
               "|---|---:|---:|---:|---:|"]
        for c, label in z:
            d = statistics.median(data.values(c, "zlib", "deflate_us"))
            i = statistics.median(data.values(c, "zlib", "inflate_us"))
            cb = statistics.median(data.values(c, "zlib", "compressed_bytes"))
            md.append(f"| {label} | {fmt(cb)} | {fmt(d)} | {fmt(i)} | {fmt(2 * (d + i))} |")
        md.append("")
    if data.values("idle_z", "tether", "kib_per_session_all"):
        md += table(data, [("idle", "no compression (idle cell)", "kib_per_session_all"),
                           ("idle_z", "permessage-deflate on both legs", "kib_per_session_all"),
                           ("idle", "RssAnon, no compression", "anon_kib_per_session_all"),
                           ("idle_z", "RssAnon, permessage-deflate on both legs", "anon_kib_per_session_all"),
                           ("idle_z", "sessions that negotiated it", "deflate_sessions")],
                    "tether's memory per idle wss session with compression negotiated, KiB",
                    "As the idle cell (route /hb1, 1 s heartbeats on both legs, 9,000 sessions), but every "
                    "client offers permessage-deflate and the backend accepts it.", ["tether"], ratios=False)
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--rounds", default="?")
    ap.add_argument("--duration", default="?")
    ap.add_argument("--warmup", default="?")
    ap.add_argument("--idle-cpu-seconds", default="?")
    ap.add_argument("--sessions", default="100")
    ap.add_argument("--rate-concurrency", default="16")
    args = ap.parse_args()

    data = Data(args.raw)
    targets = data.targets
    proxies = [t for t in targets if t != "direct"]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"]

    md = [
        "# tether benchmark results",
        "",
        "Generated by `bench/run.sh` (tables) and `bench/heartbeat_cpu.sh` (its section below).",
        "",
        "## Run",
        "",
        f"- date: {now}",
        f"- command: `{args.command}`",
        f"- tether: {git_state()}",
        f"- rounds: {args.rounds}; cells of {args.duration} s after {args.warmup} s warm-up; "
        f"{args.sessions} sessions per throughput cell; {args.rate_concurrency} connectors in the rate cell; "
        f"idle CPU over {args.idle_cpu_seconds} s",
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), kernel {platform.release()}, "
        f"load average at the end {' '.join(load)}",
        f"- software: {sh('openssl', 'version')}; {sh('nginx', '-v')}; "
        f"{sh('haproxy', '-v')}",
        "- pinning: each proxy on core 1 with one worker (tether `--threads 1`, nginx `worker_processes 1`, "
        "HAProxy `nbthread 1`); load generator and backend (echo_backend) share core 0",
        "- TLS: 1.3 only, TLS_AES_128_GCM_SHA256 (the only suite the client offers), same certificate "
        "(certs/dev/server-chain.crt, EC P-256) everywhere; `direct` is ws:// to the backend without proxy or TLS",
        "- the machine is shared: other engineers' compiles compete for both cores, so absolute figures "
        "move by tens of percent between runs; compare targets within this run, and the proxy CPU time "
        "per message more than the throughput",
        "",
        "Each cell: median over the rounds (min-max). Ratios: tether's median over the peer's.",
        "",
        "## Throughput cells",
        "",
    ]
    md += table(data, run_rows("msgs_per_s"), "Round trips per second (higher is better)",
                "One round trip = one message to the backend and its echo back (the proxy relays two messages).",
                targets)
    md += table(data, run_rows("proxy_cpu_us_per_msg"),
                "Proxy CPU time per round trip, microseconds (lower is better)",
                "utime+stime of the proxy process (nginx: its worker) over the measured window, "
                "divided by the round trips completed in it.", proxies)
    md += table(data, run_rows("proxy_cpu_pct"),
                "Proxy CPU busy, % of one core",
                "Below 100%: the proxy spent the rest waiting, for the load generator and backend "
                "(core 0) or for its own core (shared with whatever else runs on this VM).",
                proxies)
    md += table(data, run_rows("p50_us"), "Round-trip latency p50, microseconds (lower is better)",
                "With 16 in flight this is mostly queueing.", targets)
    md += table(data, run_rows("p99_us"), "Round-trip latency p99, microseconds (lower is better)",
                "", targets)
    md += table(data, run_rows("p99.9_us"), "Round-trip latency p99.9, microseconds", "", targets)
    md += table(data, run_rows("loadgen_cpu_pct"), "Load generator CPU, % of one core",
                "It shares core 0 with the backend.", targets)

    if any(c in dict(LAT_CELLS) for c, _ in data.by):
        md += ["## Latency cells", "",
               "Round-trip latency at lighter loads than in the throughput cells, 64 B messages, one in "
               "flight per session: one session in a closed loop (each echo answered at once), and 100 sessions "
               "paced to half of nginx's peak round trips per second in the same round (its 64 B, "
               "1-in-flight cell: its peak one message at a time). `direct` is the client and backend alone, the baseline for the "
               "latency a proxy adds.", ""]
        md += table(data, lat_rows(data, "p50_us"), "Latency p50, microseconds (lower is better)", "",
                    targets)
        md += table(data, lat_rows(data, "p99_us"), "Latency p99, microseconds (lower is better)", "",
                    targets)
        md += table(data, lat_rows(data, "p99.9_us"), "Latency p99.9, microseconds (lower is better)", "",
                    targets)
        if "direct" in targets:
            md += table(data, lat_rows(data, "p99_us"), "Added p99 latency, microseconds (lower is better)",
                        "The proxy's p99 minus direct's p99 in the same round; median over the rounds of "
                        "that difference (min-max).", proxies, values=data.added)
        md += paced_rate_table(data, targets)

    md += ["## New sessions", ""]
    md += table(data, [("rate", "sessions per second", "sessions_per_s")],
                "New sessions per second (higher is better)",
                "TCP connect + TLS 1.3 handshake + upgrade (the proxy connects upstream first) + "
                "close handshake, back to back from each connector.", targets)
    md += table(data, [("rate", "CPU per session", "proxy_cpu_us_per_session")],
                "Proxy CPU time per session, microseconds (lower is better)", "", proxies)
    md += table(data, [("rate", "set-up p50", "p50_us")], "Session set-up time p50 (connect to 101), microseconds",
                "", targets)

    if any(c == "idle" for c, _ in data.by):
        md += ["## Idle sessions", ""]
        md += table(data, [("idle", "after 1,000 sessions", "kib_per_session_1k"),
                           ("idle", "after 9,000 sessions", "kib_per_session_all")],
                    "Proxy RSS per idle wss session, KiB (lower is better)",
                    "VmRSS of a freshly started proxy (nginx: its worker) before and after opening "
                    "1,000 sessions, then 9,000 in all; delta divided by sessions. tether's sessions "
                    "use the route with 1 s heartbeats on both legs.", proxies)
        md += table(data, [("idle", "after 1,000 sessions", "anon_kib_per_session_1k"),
                           ("idle", "after 9,000 sessions", "anon_kib_per_session_all")],
                    "Anonymous memory per idle wss session (RssAnon), KiB (lower is better)",
                    "The same deltas without file-backed pages: VmRSS also counts the pages of the "
                    "proxy's code and libraries that its first sessions fault in, a one-off that is "
                    "shared with other processes. RssAnon is heap and stacks: what each session costs.",
                    proxies)
        md += table(data, [("idle", "9,000 idle sessions", "idle_cpu_pct"),
                           ("idle", "heartbeat pings/s seen by the clients", "pings_per_s_to_clients"),
                           ("idle", "sessions dropped", "dropped")],
                    "Proxy CPU with 9,000 idle sessions, % of one core (lower is better)",
                    "tether pings both legs of every session after 1 s of silence (about 9,000 pings/s "
                    "each way); nginx and HAProxy have no WebSocket heartbeats, so theirs is plain idle "
                    "cost: not like for like, so no ratios.", proxies, ratios=False)

    md += deflate_section(data)

    md += ["## Errors", "",
           "Failed sessions, echo size or sequence mismatches, protocol errors, summed over all cells: " +
           ", ".join(f"{t} {data.errors.get(t, 0)}" for t in
                     targets + [t for t in ("tether-off",) if t in data.errors]) + ".", ""]
    if data.crashes:
        md += ["Proxy processes found dead (and restarted): " + "; ".join(
            f"{c['target']} in round {c['round']} before cell {c['result'].get('before_cell')} "
            f"(exit status {c['result'].get('exit_status')})" for c in data.crashes) + ".", ""]
    else:
        md += ["No proxy process died during the run.", ""]

    generated = "\n".join(md)
    print(generated)

    keep = []
    if os.path.exists(args.results):
        old = open(args.results).read()
        keep = re.findall(r"<!-- BEGIN keep:[\w-]+ -->.*?<!-- END keep:[\w-]+ -->", old, re.S)
    with open(args.results, "w") as f:
        f.write(generated)
        for block in keep:
            f.write("\n" + block + "\n")
    print(f"(written to {args.results})", file=sys.stderr)


if __name__ == "__main__":
    main()
