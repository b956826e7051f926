#!/usr/bin/python3
"""Drain and reload of tether at scale (issue 19), measured from outside.

  drain   N wss:// sessions open (each echoed once), then SIGTERM with
          shutdown.drain_timeout D: every client must get 1001, the closes
          spread over D (the count per second is reported), /readyz must
          answer 503 within 100 ms, and tether must exit 0 within D + 1 s.
  reload  N wss:// sessions exchanging messages: --probes of them send one
          every --probe-interval and time the echo, every other one sends one
          message in the --interval window before the SIGHUP and one in the
          window after it (the config is rewritten first: a second route,
          other heartbeats). No session may close or go unanswered, no probe
          echo around the reload may take 50 ms longer than the worst one
          before it, and the time from SIGHUP to tether's "reloaded" line is
          reported. (One python3 process cannot time 9,000 sessions talking
          at once: it would measure itself; the probes time the reload.)

Both against demo_backend (ws://), tether terminating TLS with the dev
certificate. The client is python3-websockets here (asyncio, one process),
or with --loadgen bench's tether_loadgen: one python process cannot hold
9,000 sessions and still see a close or an echo when it happens (it saw
/readyz's 503 500 ms late and echoes stall 850 ms with no reload at all).
With --loadgen, loadgen holds the drain's sessions and times their closes,
and in the reload it keeps every session but the probes exchanging
messages; the probes (50 python sessions, little work) time the reload.
Prints a JSON summary last; with --check, exits 1 when a limit is missed.

  bench/scale.sh                      9,000 sessions, drain_timeout 10s
  python3 bench/scale.py --tether build/tether --backend build/demo/demo_backend \\
      --certs certs/dev --sessions 300 --drain-timeout 2 --check     (what CI runs)
"""

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import ssl
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import e2e_support as e2e  # noqa: E402

import websockets  # noqa: E402  (Debian python3-websockets: scripts/setup.sh --tests)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tether", required=True)
    p.add_argument("--backend", required=True, help="demo_backend")
    p.add_argument("--certs", required=True)
    p.add_argument("--sessions", type=int, default=9000)
    p.add_argument("--drain-timeout", type=float, default=10.0, help="seconds")
    p.add_argument("--interval", type=float, default=10.0,
                   help="reload: the window before and after the SIGHUP in which each session sends one message")
    p.add_argument("--probes", type=int, default=50, help="reload: sessions that talk all the time")
    p.add_argument("--probe-interval", type=float, default=0.1, help="reload: seconds between a probe's messages")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes under way at once")
    p.add_argument("--delay-limit", type=float, default=50,
                   help="reload: ms a probe echo around the reload may take beyond the worst before (0: report only)")
    p.add_argument("--same-config", action="store_true",
                   help="reload: SIGHUP without changing the file (no file-watch reload either)")
    p.add_argument("--only", choices=["drain", "reload"], help="run one of the two")
    p.add_argument("--loadgen", help="tether_loadgen (bench/): the client of the sessions that are not probes")
    p.add_argument("--loadgen-rate", type=float, default=2000,
                   help="reload with --loadgen: round trips per second over all its sessions")
    p.add_argument("--check", action="store_true", help="exit 1 when a limit is missed")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    a.source = os.path.abspath(os.path.join(HERE, ".."))
    for k in ("tether", "backend", "certs", "loadgen"):
        if getattr(a, k):
            setattr(a, k, os.path.abspath(getattr(a, k)))
    e2e.VERBOSE = a.verbose
    return a


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < need:
        sys.exit("scale: need %d open files, the hard limit is %d (ulimit -Hn)" % (need, hard))


def tether_config(args, backend, drain, second_route=False):
    routes = [{"name": "scale", "upstream": {"url": backend.url}}]
    if second_route:
        # What the reload changes: a new route and the heartbeat of the old one.
        routes.insert(0, {"name": "added", "match": {"path": "/added"},
                          "upstream": {"url": backend.url}})
        routes[1]["heartbeat"] = {"client": {"ping_interval": "25s", "pong_timeout": "10s"}}
    return {
        "listeners": [dict(e2e.listener("main", e2e.tls_block(args)),
                           max_connections=args.sessions + 1000)],
        "admin": {"bind": "127.0.0.1:0"},
        "log": {"level": "info", "access": False},
        "shutdown": {"drain_timeout": "%dms" % int(drain * 1000)},
        "routes": routes,
    }


def client_tls(args):
    ctx = ssl.create_default_context(cafile=os.path.join(args.certs, "ca.crt"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


async def open_sessions(args, port, n):
    """n sessions, each echoed once; returns them in order."""
    ctx = client_tls(args)
    gate = asyncio.Semaphore(args.concurrency)
    sessions = [None] * n

    async def one(i):
        async with gate:
            for attempt in range(3):
                try:
                    ws = await websockets.connect(
                        "wss://localhost:%d/s/%d" % (port, i), ssl=ctx, open_timeout=30,
                        close_timeout=5, ping_interval=None, max_queue=4,
                        compression=None)
                    break
                except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.5)
            await ws.send("hello %d" % i)
            got = await asyncio.wait_for(ws.recv(), 30)
            if got != "hello %d" % i:
                raise RuntimeError("session %d: echo %r" % (i, got))
            sessions[i] = ws

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    e2e.log("%d sessions open in %.1f s" % (n, time.monotonic() - t0))
    return sessions


def poll_readyz(t, out, stop):
    """/readyz every 5 ms from its own thread: (monotonic, status)."""
    while not stop.is_set() and t.proc.running():
        try:
            status, _ = e2e.http_get(t.admin_port, "/readyz", timeout=1)
            out.append((time.monotonic(), status))
            if status == 503:
                return
        except OSError:
            pass
        time.sleep(0.005)


def loadgen(args, mode, port, sessions, *extra):
    """tether_loadgen against tether's listener (wss://, the dev CA)."""
    return e2e.Proc("loadgen", [args.loadgen, mode, "--url", "wss://localhost:%d/s" % port,
                                "--ca", os.path.join(args.certs, "ca.crt"), "--sessions", sessions,
                                "--connect-rate", 1500, "--concurrency", args.concurrency] + list(extra))


def drain_python(args, t, signal_tether):
    """Python holds the sessions: returns their close codes and times."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        sessions = loop.run_until_complete(open_sessions(args, t.port(), args.sessions))
        closed_at = [None] * len(sessions)

        async def watch(i, ws):
            await ws.wait_closed()
            closed_at[i] = time.monotonic()

        watchers = [loop.create_task(watch(i, ws)) for i, ws in enumerate(sessions)]
        loop.run_until_complete(asyncio.sleep(0.5))
        signal_tether()
        loop.run_until_complete(asyncio.wait_for(asyncio.gather(*watchers),
                                                 args.drain_timeout + 15))
    finally:
        loop.close()
    codes = {}
    for ws in sessions:
        codes[ws.close_code] = codes.get(ws.close_code, 0) + 1
    return codes, closed_at


def drain_loadgen(args, t, signal_tether):
    """tether_loadgen holds the sessions; it reports when each one ended on
    CLOCK_MONOTONIC, python's time.monotonic() too."""
    lg = loadgen(args, "idle", t.port(), args.sessions, "--until-closed",
                 "--hold", args.drain_timeout + 60 + args.sessions / 500)
    lg.wait_for(r'"event":"open"', 30 + args.sessions / 100, stream="out")
    opened = json.loads(lg.output("out").splitlines()[-1])
    if opened["sessions"] != args.sessions:
        raise RuntimeError("loadgen opened %s" % opened)
    time.sleep(0.5)
    signal_tether()
    if lg.wait_exit(args.drain_timeout + 15) is None:
        raise RuntimeError("loadgen did not see every session end")
    summary = json.loads(lg.output("out").splitlines()[-1])
    return {int(k): v for k, v in summary["close_codes"].items()}, summary["end_times"]


def drain(args):
    backend = e2e.start_backend(args, name="backend")
    t = e2e.Tether(args, tether_config(args, backend, args.drain_timeout), name="tether")
    readyz, stop = [], threading.Event()
    sent = []

    def signal_tether():
        poller = threading.Thread(target=poll_readyz, args=(t, readyz, stop), daemon=True)
        poller.start()
        time.sleep(0.1)  # a few 200s first
        sent.append(time.monotonic())
        t.proc.send_signal(signal.SIGTERM)

    try:
        hold = drain_loadgen if args.loadgen else drain_python
        codes, closed_at = hold(args, t, signal_tether)
        t0 = sent[0]
        status = t.proc.wait_exit(args.drain_timeout + 15)
        exited = time.monotonic() - t0
        stop.set()
    finally:
        backend.stop()
    offsets = [c - t0 for c in closed_at]
    buckets = [0] * (int(max(offsets)) + 1)
    for o in offsets:
        buckets[int(o)] += 1
    first_503 = next((at - t0 for at, s in readyz if s == 503), None)
    pre = [s for at, s in readyz if at < t0]
    # The whole seconds of the window: each should hold about N / D closes.
    full = buckets[:int(args.drain_timeout)]
    per_second = args.sessions / args.drain_timeout
    spread_ok = len(full) > 0 and all(abs(b - per_second) <= max(0.2 * per_second, 5) for b in full)
    result = {
        "sessions": args.sessions,
        "client": "loadgen" if args.loadgen else "python",
        "drain_timeout_s": args.drain_timeout,
        "close_codes": {str(k): v for k, v in sorted(codes.items(), key=lambda kv: str(kv[0]))},
        "closes_per_second": buckets,
        "first_close_s": round(min(offsets), 3),
        "last_close_s": round(max(offsets), 3),
        "readyz_before": sorted(set(pre)),
        "readyz_503_after_ms": None if first_503 is None else round(first_503 * 1000, 1),
        "exit_status": status,
        "exit_after_s": round(exited, 3),
    }
    failures = []
    if codes != {1001: args.sessions}:
        failures.append("close codes %s, want all 1001" % codes)
    if not spread_ok:
        failures.append("closes per second %s not even (about %.0f each)" % (buckets, per_second))
    if first_503 is None or first_503 > 0.1:
        failures.append("/readyz 503 after %s s, want within 0.1 s" % first_503)
    if pre and set(pre) != {200}:
        failures.append("/readyz before SIGTERM: %s" % pre)
    if status != 0:
        failures.append("exit status %s" % status)
    if exited > args.drain_timeout + 1:
        failures.append("exit after %.2f s, want within %.1f s" % (exited, args.drain_timeout + 1))
    return result, failures


def reload(args):
    backend = e2e.start_backend(args, name="backend")
    t = e2e.Tether(args, tether_config(args, backend, 2.0), name="tether")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    samples = []  # (sent monotonic, round trip seconds)
    lost = []
    lg = None
    try:
        probes = min(args.probes, args.sessions)
        sessions = loop.run_until_complete(
            open_sessions(args, t.port(), probes if args.loadgen else args.sessions))
        if args.loadgen:
            # The others, each sending a message every few seconds, until SIGINT.
            lg = loadgen(args, "run", t.port(), args.sessions - probes, "--size", 64,
                         "--rate", args.loadgen_rate, "--warmup", 0, "--duration", 100000)
            e2e.wait_until(lambda: e2e.metric_value(t.metrics(), "tether_sessions_active", route="scale")
                           >= args.sessions, 60 + args.sessions / 200, interval=0.2,
                           what="%d sessions open" % args.sessions)
        stop = asyncio.Event()
        hup_at = loop.create_future()

        async def exchange(i, ws, n, probe):
            msg = "m %d %d" % (i, n)
            sent = time.monotonic()
            try:
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 30)
            except (websockets.exceptions.ConnectionClosed, asyncio.TimeoutError) as e:
                lost.append((i, repr(e)))
                return False
            if got != msg:
                lost.append((i, "echo %r for %r" % (got, msg)))
                return False
            samples.append((sent, time.monotonic() - sent, probe))
            return True

        async def probe(i, ws):
            # A few sessions talk all the time: they time the reload.
            n = 0
            await asyncio.sleep(random.random() * args.probe_interval)
            while not stop.is_set() and await exchange(i, ws, n, True):
                n += 1
                await asyncio.sleep(args.probe_interval)

        async def background(i, ws):
            # Every other session: one message somewhere in the window before
            # the SIGHUP, one somewhere in the window after it.
            await asyncio.sleep(random.random() * args.interval)
            if not await exchange(i, ws, 0, False):
                return
            await asyncio.shield(hup_at)
            await asyncio.sleep(random.random() * args.interval)
            await exchange(i, ws, 1, False)

        async def run():
            tasks = [asyncio.create_task(probe(i, ws) if i < probes else background(i, ws))
                     for i, ws in enumerate(sessions)]
            await asyncio.sleep(args.interval + 1)  # the baseline
            mark = t.proc.mark()
            if not args.same_config:
                t.write_config(tether_config(args, backend, 2.0, second_route=True))
            hup = time.monotonic()
            t.proc.send_signal(signal.SIGHUP)
            hup_at.set_result(hup)
            m = await loop.run_in_executor(
                None, lambda: t.proc.wait_for(r"reloaded |reload: ", 30, since=mark, stream="err"))
            applied = time.monotonic() - hup
            if args.loadgen:
                await asyncio.sleep(args.interval)
            await asyncio.gather(*tasks[probes:])
            stop.set()
            await asyncio.gather(*tasks[:probes])
            # The new route answers: the config was applied, not just read.
            added = None if args.same_config else await websockets.connect("wss://localhost:%d/added" % t.port(), ssl=client_tls(args),
                                             open_timeout=10, ping_interval=None)
            if added is not None:
                await added.close()
            still = sum(1 for ws in sessions if ws.open)
            await asyncio.gather(*(ws.close() for ws in sessions))
            return hup, applied, m.group(0), still

        hup, applied, line, still_open = loop.run_until_complete(run())
        if lg is not None:
            lg.send_signal(signal.SIGINT)
            lg.wait_exit(10)
            others = json.loads(lg.output("out").splitlines()[-1])
            # loadgen counts its sessions' errors and every round trip's time.
            still_open += others["sessions"] - others["dropped"]
        status = t.stop()
    finally:
        loop.close()
        backend.stop()

    def pct(xs, q):
        xs = sorted(xs)
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None

    probe_before = [rtt for at, rtt, p in samples if p and at < hup - 0.5]
    probe_around = [rtt for at, rtt, p in samples if p and hup - 0.5 <= at <= hup + applied + 1.0]
    bg_before = [rtt for at, rtt, p in samples if not p and at < hup]
    bg_after = [rtt for at, rtt, p in samples if not p and at >= hup]
    if lg is not None:
        others_rtt = {k: others[k] for k in ("sessions", "dropped", "errors", "msgs", "msgs_per_s",
                                             "p50_us", "p99_us", "max_us")}

    def dist(xs):
        return {"n": len(xs), "p50": pct(xs, 0.5), "p99": pct(xs, 0.99), "max": pct(xs, 1.0)}

    result = {
        "sessions": args.sessions,
        "probes": probes,
        "probe_interval_s": args.probe_interval,
        "window_s": args.interval,
        "messages": len(samples),
        "reload_line": line.strip(),
        "reload_applied_ms": round(applied * 1000, 1),
        "sessions_lost": len(lost),
        "still_open": still_open,
        "probe_rtt_ms_before": dist(probe_before),
        "probe_rtt_ms_around_reload": dist(probe_around),
        "exit_status": status,
    }
    if lg is not None:
        result["others_loadgen"] = others_rtt
    else:
        result["others_rtt_ms_before"] = dist(bg_before)
        result["others_rtt_ms_after"] = dist(bg_after)
    failures = []
    if "reloaded" not in line:
        failures.append("reload failed: %s" % line)
    if lg is not None and others_rtt["errors"]:
        failures.append("loadgen: %d errors" % others_rtt["errors"])
    if lost or still_open != args.sessions:
        failures.append("%d sessions lost (%s), %d open" % (len(lost), lost[:3], still_open))
    # Delay the reload adds: the worst echo around it against the worst before.
    if args.delay_limit and probe_around and probe_before and \
            max(probe_around) > max(probe_before) + args.delay_limit / 1000:
        failures.append("an echo around the reload took %.1f ms (worst before: %.1f ms)" %
                        (1000 * max(probe_around), 1000 * max(probe_before)))
    if lg is None and len(bg_after) != len(sessions) - probes:
        failures.append("%d of %d sessions answered after the reload" % (len(bg_after), len(sessions) - probes))
    return result, failures


def main():
    args = parse_args()
    raise_fd_limit(args.sessions * 2 + 512)
    e2e.install_guards(120 + args.sessions // 15 + 3 * int(args.drain_timeout) + 4 * int(args.interval))
    report, failed = {}, []
    try:
        for name, fn in (("drain", drain), ("reload", reload)):
            if args.only and args.only != name:
                continue
            result, failures = fn(args)
            report[name] = result
            failed += ["%s: %s" % (name, f) for f in failures]
            e2e.log("%s: %s" % (name, json.dumps(result)))
    finally:
        e2e.stop_all()
    for f in failed:
        e2e.log("LIMIT MISSED " + f)
    print(json.dumps(report, indent=1))
    if args.check and failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
