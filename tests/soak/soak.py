"""The soak (scripts/soak.sh runs it; issue 18, item 3).

N sessions through the real tether binary exchange sequence-numbered messages
both ways, through an idle cutter (2 s) on both legs, with tether's
heartbeats at 500 ms; the backend is SIGKILLed and restarted every 20 s.
At the end: delivery checked against the reconnect guarantee (delivery.py),
unexpected client closes, tether's fds against the baseline, its RSS after
the run against the RSS after warm-up. Prints the figures; exit status 1 on
any violation. Everything started is killed by PID (and listed in
<workdir>/pids for the calling script).
"""
import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time

import websockets

import delivery

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


class Procs:
    def __init__(self, workdir):
        self.pidfile = os.path.join(workdir, "pids")
        self.all = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.all.append(p)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def kill_all(self):
        for p in self.all:
            if p.poll() is None:
                p.kill()
                p.wait()


def first_line(p, timeout=15.0):
    """The port a helper prints on its first line."""
    deadline = time.monotonic() + timeout
    line = p.stdout.readline()
    if not line or time.monotonic() > deadline:
        raise RuntimeError(f"helper {p.args} printed nothing")
    return int(line)


def tether_port(logpath, p, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"tether exited with {p.returncode}: see {logpath}")
        with open(logpath) as f:
            m = re.search(r"listener main on [0-9.]+:(\d+)", f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"tether did not log its port: see {logpath}")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


CONFIG = """\
listeners:
  - name: main
    bind: "127.0.0.1:0"
log:
  level: info
  access: false
shutdown:
  drain_timeout: 1s
defaults:
  heartbeat:
    client: {{ping_interval: {hb}, pong_timeout: 2s}}
    upstream: {{ping_interval: {hb}, pong_timeout: 2s}}
  reconnect:
    backoff: {{initial: 100ms, max: 1s, multiplier: 2.0, jitter: 0.2}}
    give_up_after: 30s
    replay: {{first: {replay_first}}}
    notify: {{reconnecting: "~reconnecting", reconnected: "~reconnected"}}
routes:
  - name: soak
    upstream:
      url: "ws://127.0.0.1:{upstream}"
"""


class Client:
    def __init__(self, sid, uri, max_gap):
        self.sid, self.uri, self.max_gap = sid, uri, max_gap
        self.seq = 0
        self.marks = []         # seq sent when each "~reconnecting" arrived
        self.outage = 0         # notices of loss minus notices of return
        self.cur, self.cur_n = None, 0
        self.got = {}           # cid -> highest n received in order
        self.closed = None      # close code if closed before the end
        self.sending = True
        self.ending = False
        self.fig = None

    async def run(self, fig, connected):
        self.fig = fig
        async with websockets.connect(self.uri, ping_interval=None, max_queue=None,
                                      close_timeout=5, open_timeout=30) as ws:
            self.ws = ws
            connected()
            sender = asyncio.create_task(self.send_loop())
            try:
                async for msg in ws:
                    self.on_message(msg)
            except websockets.ConnectionClosed:
                pass
            sender.cancel()
            if not self.ending:
                self.closed = ws.close_code

    async def send_loop(self):
        # Gaps up to max_gap, longer than the cutter's idle limit.
        while self.sending:
            await asyncio.sleep(random.uniform(0.2, self.max_gap))
            if self.sending:
                await self.send()

    async def send(self):
        self.seq += 1
        await self.ws.send(f"c {self.sid} {self.seq}")

    def on_message(self, msg):
        fig = self.fig
        if msg == "~reconnecting":
            self.marks.append(self.seq)
            self.outage += 1
            return
        if msg == "~reconnected":
            self.outage -= 1
            return
        _, cid, n = msg.split()
        n = int(n)
        if cid == self.cur:
            if n == self.cur_n + 1:
                self.cur_n = n
                self.got[cid] = n
            elif n <= self.cur_n:
                fig.b2c_duplicated += 1
                fig.violation(f"b2c {self.sid}: {cid} {n} after {self.cur_n}")
            else:
                fig.b2c_lost += n - self.cur_n - 1
                fig.violation(f"b2c {self.sid}: {cid} {n} after {self.cur_n}")
                self.cur_n = n
                self.got[cid] = n
        elif cid in self.got:
            fig.b2c_reordered += 1
            fig.violation(f"b2c {self.sid}: {cid} {n} after the switch to {self.cur}")
        else:
            if n != 1:
                fig.b2c_lost += n - 1
                fig.violation(f"b2c {self.sid}: {cid} starts at {n}")
            self.cur, self.cur_n = cid, n
            self.got[cid] = n


async def run(args):
    workdir = args.workdir
    procs = Procs(workdir)
    log = os.path.join(workdir, "backend.log")
    fig = delivery.Figures()
    out = {}
    violations = []
    incarnation = 0

    def backend(port):
        nonlocal incarnation
        incarnation += 1
        return procs.start([PY, os.path.join(HERE, "backend.py"), "--port", str(port), "--log", log,
                            "--incarnation", str(incarnation), "--max-gap", str(args.max_gap)],
                           stdout=subprocess.PIPE, text=True)

    try:
        be = backend(0)
        be_port = first_line(be)
        up_cut = procs.start([PY, os.path.join(HERE, "cutter.py"), "--target", str(be_port)],
                             stdout=subprocess.PIPE, text=True)
        up_cut_port = first_line(up_cut)
        cfg = os.path.join(workdir, "tether.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(hb=args.heartbeat, upstream=up_cut_port, replay_first=args.replay_first))
        tlog = os.path.join(workdir, "tether.log")
        with open(tlog, "w") as tl:
            tether = procs.start([args.tether, "-c", cfg, "--threads", "2"], stdout=tl, stderr=tl)
        port = tether_port(tlog, tether)
        cl_cut = procs.start([PY, os.path.join(HERE, "cutter.py"), "--target", str(port)],
                             stdout=subprocess.PIPE, text=True)
        cl_cut_port = first_line(cl_cut)
        time.sleep(0.5)
        fd_base = fds(tether.pid)

        clients = [Client(str(i), f"ws://127.0.0.1:{cl_cut_port}/soak/{i}", args.max_gap)
                   for i in range(args.sessions)]
        n_connected = 0

        def connected():
            nonlocal n_connected
            n_connected += 1

        tasks = []
        for i, c in enumerate(clients):
            tasks.append(asyncio.create_task(c.run(fig, connected)))
            if i % 50 == 49:
                await asyncio.sleep(0.2)
        deadline = time.monotonic() + 30
        while n_connected < len(clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if n_connected < len(clients):
            raise RuntimeError(f"only {n_connected} of {len(clients)} sessions connected")
        print(f"soak: {len(clients)} sessions up; tether pid {tether.pid}, fds at rest {fd_base}", flush=True)

        # The clients' own stalls (CPU starvation on a loaded machine) look
        # to tether like dead clients: measured, so that a failure says whose.
        driver_lag = 0.0

        async def lag_monitor():
            nonlocal driver_lag
            woke = time.monotonic()
            while True:
                await asyncio.sleep(0.1)
                now = time.monotonic()
                driver_lag = max(driver_lag, now - woke - 0.1)
                woke = now

        monitor = asyncio.create_task(lag_monitor())
        start = time.monotonic()
        kills = 0
        warm = min(25.0, args.seconds / 2)
        rss_warm = None
        next_kill = start + args.kill_every
        while (now := time.monotonic()) < start + args.seconds:
            if rss_warm is None and now >= start + warm:
                rss_warm = rss_kib(tether.pid)
            if now >= next_kill and now + 5 < start + args.seconds:
                be.kill()
                be.wait()
                kills += 1
                await asyncio.sleep(args.down)
                be = backend(be_port)
                # Off the event loop: the clients must keep answering pings
                # while the new backend starts.
                await asyncio.get_running_loop().run_in_executor(None, first_line, be)
                next_kill += args.kill_every
            await asyncio.sleep(0.2)
            if all(t.done() for t in tasks):
                break
        rss_end = rss_kib(tether.pid)

        # Quiesce: every outage over, one last message from each client (sent
        # after any notice, so guaranteed), then both sides stop sending.
        deadline = time.monotonic() + 20
        while any(c.outage > 0 and c.closed is None for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for c in clients:
            c.sending = False
        for c in clients:
            if c.closed is None and not tasks[int(c.sid)].done():
                await c.send()
        be.send_signal(signal.SIGUSR1)
        await asyncio.sleep(3)

        def check():
            # A session closed early is counted as such; what it sent just
            # before is not guaranteed.
            delivery.check_log(fig, log, {
                c.sid: (c.seq, c.marks, c.closed is None and not tasks[int(c.sid)].done(), c.got,
                        str(incarnation)) for c in clients})

        # On a thread: an hours-long log takes a while, and the clients must
        # keep answering tether's pings meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, check)
        unexpected = [c for c in clients if c.closed is not None or tasks[int(c.sid)].done()]
        outages = sum(len(c.marks) for c in clients)

        for c in clients:
            c.ending = True
        for c in clients:
            if not tasks[int(c.sid)].done():
                await c.ws.close()
        await asyncio.wait(tasks, timeout=15)
        deadline = time.monotonic() + 15
        while fds(tether.pid) != fd_base and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        fd_end = fds(tether.pid)

        tether.send_signal(signal.SIGTERM)
        try:
            tether_rc = tether.wait(timeout=20)
        except subprocess.TimeoutExpired:
            tether_rc = "hung"
        monitor.cancel()
        cuts, lags = {}, {}
        for name, p in (("client leg", cl_cut), ("upstream leg", up_cut)):
            p.send_signal(signal.SIGTERM)
            try:
                text, _ = p.communicate(timeout=10)
                words = text.split()
                cuts[name], lags[name] = int(words[-1]), float(words[-3])
            except (subprocess.TimeoutExpired, ValueError, IndexError):
                cuts[name], lags[name] = -1, -1.0

        mins = args.seconds / 60
        print(f"soak: {len(clients)} sessions, {args.seconds:.0f} s ({mins:.1f} min), "
              f"heartbeat {args.heartbeat}, backend SIGKILLed {kills} times, "
              f"{outages} upstream losses seen by clients")
        print(f"  client->backend: sent {fig.c2b_sent}, delivered {fig.c2b_delivered}, "
              f"lost with a killed backend (allowed) {fig.c2b_lost_allowed}, "
              f"lost {fig.c2b_lost}, duplicated {fig.c2b_duplicated}, reordered {fig.c2b_reordered}")
        print(f"  backend->client: sent {fig.b2c_sent}, received {fig.b2c_received}, "
              f"unread by tether when killed (allowed) {fig.b2c_tail_allowed}, "
              f"lost {fig.b2c_lost}, duplicated {fig.b2c_duplicated}, reordered {fig.b2c_reordered}")
        codes = sorted({str(c.closed) for c in unexpected})
        print(f"  unexpected client closes: {len(unexpected)}" + (f" (codes {', '.join(codes)})" if codes else ""))
        print(f"  idle cuts (links silent 2 s): client leg {cuts['client leg']}, upstream leg {cuts['upstream leg']}")
        print(f"  tether fds: at rest {fd_base}, after the run {fd_end}")
        growth = 100.0 * (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
        print(f"  tether RSS: after warm-up ({warm:.0f} s) {rss_warm / 1024:.1f} MiB, "
              f"after the run {rss_end / 1024:.1f} MiB ({growth:+.1f}%)")
        print(f"  tether exit status after SIGTERM: {tether_rc}")
        print(f"  longest stall of the harness: clients {driver_lag * 1000:.0f} ms, "
              f"cutters {lags['client leg'] * 1000:.0f} / {lags['upstream leg'] * 1000:.0f} ms")
        for e in fig.examples:
            print(f"  violation: {e}")

        if fig.violations():
            violations.append("delivery")
        if unexpected:
            violations.append("unexpected client closes")
        if cuts["client leg"] != 0 or cuts["upstream leg"] != 0:
            violations.append("idle cuts")
        if fd_end != fd_base:
            violations.append("fds")
        if growth > 10.0:
            violations.append("RSS")
        if tether_rc != 0:
            violations.append("tether exit status")
        if violations and max([driver_lag] + list(lags.values())) > 1.0:
            # Over 1 s, pongs can miss tether's 2 s pong_timeout: closes and
            # cuts may be the harness's, not tether's. Still a failed run.
            violations.append("the harness itself stalled over 1 s: rerun on a quieter machine to tell")
        if kills == 0 and args.seconds >= args.kill_every + 5:
            violations.append("no backend kill")
    finally:
        procs.kill_all()
    if violations:
        print(f"soak: FAILED ({', '.join(violations)})")
        return 1
    print("soak: ok")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tether", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--kill-every", type=float, default=20)
    ap.add_argument("--down", type=float, default=1.0, help="seconds the backend stays dead")
    ap.add_argument("--max-gap", type=float, default=3.0, help="longest pause between a side's messages")
    ap.add_argument("--heartbeat", default="500ms")
    ap.add_argument("--replay-first", type=int, default=0, help="non-zero breaks exactly-once (a check of the check)")
    args = ap.parse_args()
    random.seed(os.getpid())
    loop = asyncio.new_event_loop()
    # SIGTERM from the calling script: unwind through the finally that kills
    # every process started.
    main_task = loop.create_task(run(args))
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        sys.exit(loop.run_until_complete(main_task))
    except asyncio.CancelledError:
        print("soak: interrupted")
        sys.exit(2)


if __name__ == "__main__":
    main()
