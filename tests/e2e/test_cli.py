#!/usr/bin/python3
"""End to end: tether's command line, config checking, exit codes, signals
(drain, second signal, reload) and admin endpoints, against the real binary
(SPEC sections 2, 7 and 9).
"""
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets 10.4)

SCRIPT_TIMEOUT = 90

SPEC_METRICS = {
    # name: (type, labels every sample must carry)
    "tether_sessions_active": ("gauge", {"route"}),
    "tether_sessions_total": ("counter", {"route"}),
    "tether_handshake_failures_total": ("counter", {"listener", "reason"}),
    "tether_messages_total": ("counter", {"route", "direction"}),
    "tether_bytes_total": ("counter", {"route", "direction"}),
    "tether_pings_sent_total": ("counter", {"route", "leg"}),
    "tether_heartbeat_timeouts_total": ("counter", {"route", "leg"}),
    "tether_app_heartbeats_sent_total": ("counter", {"route"}),
    "tether_app_heartbeats_answered_total": ("counter", {"route"}),
    "tether_upstream_reconnects_total": ("counter", {"route", "result"}),
    "tether_upstream_outage_seconds": ("histogram", {"route"}),
    "tether_buffered_messages": ("gauge", {"route"}),
    "tether_config_reloads_total": ("counter", {"result"}),
}


def cpu_count():
    n = os.cpu_count() or 1
    try:
        n = max(n, len(os.sched_getaffinity(0)))
    except AttributeError:
        pass
    return n


def position(text, line_contains, token):
    """1-based (line, column) of `token` on the first line containing
    `line_contains`."""
    for number, line in enumerate(text.splitlines(), 1):
        if line_contains in line:
            col = line.index(token)
            return number, col + 1
    raise AssertionError("test bug: %r not in the YAML" % line_contains)


def error_lines(out):
    return [line for line in out.splitlines() if line.strip()]


class Suite:
    def __init__(self, args):
        self.args = args
        self.dir = e2e.tmpdir()
        self.backend = e2e.start_backend(args, push_interval=0, verbose=True, name="backend_a")

    # ----------------------------------------------------------- helpers --

    def tether_cmd(self, *argv, cwd=None, env=None, timeout=15):
        return e2e.run([self.args.tether] + list(argv), timeout=timeout, cwd=cwd, env=env)

    def good_config(self, admin=True, drain="1s", tls=True, bind="127.0.0.1:0", routes=None):
        cfg = {"listeners": [e2e.listener("main", tls=e2e.tls_block(self.args) if tls else None,
                                          bind=bind)]}
        if admin:
            cfg["admin"] = {"bind": "127.0.0.1:0"}
        cfg["log"] = {"level": "info", "format": "text"}
        cfg["shutdown"] = {"drain_timeout": drain}
        cfg["routes"] = routes or [{"name": "web", "match": {"path": "/"},
                                    "upstream": {"url": self.backend.url}}]
        return cfg

    def env_without_config(self, **extra):
        env = dict(os.environ)
        env.pop("TETHER_CONFIG", None)
        env.update(extra)
        return env

    def fresh_dir(self, name):
        path = os.path.join(self.dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    # -------------------------------------------------------- plain CLI --

    def version(self):
        status, out, err = self.tether_cmd("--version")
        e2e.expect(status == 0, "--version exit %s (stderr %r)" % (status, err))
        e2e.expect(re.fullmatch(r"tether \d+\.\d+\.\d+", out.strip()),
                   "--version printed %r" % out)

    def help(self):
        status, out, err = self.tether_cmd("--help")
        e2e.expect(status == 0, "--help exit %s" % status)
        for word in ("--check", "--version", "-c"):
            e2e.expect(word in out + err, "--help does not mention %s: %r" % (word, out))

    def unknown_flag(self):
        status, out, err = self.tether_cmd("--no-such-flag")
        e2e.expect(status == 2, "unknown flag exit %s, want 2 (usage error)" % status)
        e2e.expect("no-such-flag" in out + err, "the bad flag is not named: %r" % (out + err))

    def check_ok(self):
        path = e2e.write_file("good.yaml", e2e.to_yaml(self.good_config()))
        status, out, err = self.tether_cmd("--check", "-c", path)
        e2e.expect(status == 0, "--check on a good config exit %s: %s" % (status, err))
        e2e.expect(out.strip() == "ok", "--check printed %r, want 'ok'" % out)

    def check_examples(self):
        configs = sorted(f for f in os.listdir(os.path.join(self.args.source, "config"))
                         if f.endswith(".yaml"))
        e2e.expect(configs, "no example configs in config/")
        certs_here = os.path.realpath(self.args.certs) == \
            os.path.realpath(os.path.join(self.args.source, "certs", "dev"))
        e2e.expect(certs_here, "--certs is not <source>/certs/dev; the examples point there")
        for name in configs:
            status, out, err = self.tether_cmd("--check", "-c", os.path.join("config", name),
                                               cwd=self.args.source)
            e2e.expect(status == 0 and out.strip() == "ok",
                       "config/%s: exit %s, %r %r" % (name, status, out, err))

    def check_errors(self):
        text = "\n".join([
            "listeners:",
            "  - name: main",
            "    bind: \"127.0.0.1:0\"",
            "    colour: blue",
            "shutdown:",
            "  drain_timeout: \"10 parsecs\"",
            "routes:",
            "  - name: web",
            "    upstream:",
            "      url: \"http://127.0.0.1:8080\"",
            "    heartbeat:",
            "      client:",
            "        ping_intervall: 5s",
            "",
        ])
        d = self.fresh_dir("errors")
        e2e.write_file("bad.yaml", text, d)
        status, out, err = self.tether_cmd("--check", "-c", "bad.yaml", cwd=d)
        e2e.log("--check output:\n" + out + err)
        e2e.expect(status == 1, "--check on a bad config exit %s, want 1" % status)
        e2e.expect("ok" not in error_lines(out), "--check printed ok for a bad config")
        lines = error_lines(out + "\n" + err)
        expected = [
            (position(text, "colour", "colour"), "listeners[0].colour", "unknown key"),
            (position(text, "parsecs", '"10 parsecs"'), "shutdown.drain_timeout", "10 parsecs"),
            (position(text, "http://", '"http://'), "routes[0].upstream.url",
             'unsupported scheme "http"'),
            (position(text, "ping_intervall", "ping_intervall"),
             "routes[0].heartbeat.client.ping_intervall", "unknown key"),
        ]
        problems = []
        for (line, col), path, message in expected:
            prefix = "bad.yaml:%d:%d: %s: " % (line, col, path)
            hits = [l for l in lines if l.startswith(prefix)]
            if not hits:
                near = [l for l in lines if (": %s: " % path) in l]
                problems.append("missing %r...%s (lines naming the key: %r)" %
                                (prefix, " " + message if message else "", near))
            elif message and not any(message in h for h in hits):
                problems.append("%r lacks %r" % (hits, message))
        e2e.expect(not problems, "; ".join(problems))
        e2e.expect(len(lines) == len(expected),
                   "want exactly %d error lines, got %d: %r" % (len(expected), len(lines), lines))

    def check_missing_cert(self):
        cfg = self.good_config()
        missing = os.path.join(self.dir, "no-such-dir", "server.crt")
        cfg["listeners"][0]["tls"]["cert"] = missing
        text = e2e.to_yaml(cfg)
        d = self.fresh_dir("missing-cert")
        e2e.write_file("cfg.yaml", text, d)
        status, out, err = self.tether_cmd("--check", "-c", "cfg.yaml", cwd=d)
        e2e.log("--check output: " + out + err)
        e2e.expect(status == 1, "--check with a missing cert exit %s, want 1" % status)
        line, col = position(text, missing, '"')
        prefix = "cfg.yaml:%d:%d: listeners[0].tls.cert: " % (line, col)
        hits = [l for l in error_lines(out + err) if l.startswith(prefix)]
        e2e.expect(hits, "no error line starting %r" % prefix)
        e2e.expect(missing in hits[0], "the error does not name the file: %r" % hits[0])

    def env_config(self):
        good = e2e.write_file("env-good.yaml", e2e.to_yaml(self.good_config()))
        bad = e2e.write_file("env-bad.yaml", "listeners: 3\n")
        empty = self.fresh_dir("env-empty")
        status, out, err = self.tether_cmd("--check", cwd=empty,
                                           env=self.env_without_config(TETHER_CONFIG=good))
        e2e.expect(status == 0 and out.strip() == "ok",
                   "TETHER_CONFIG=good: exit %s %r %r" % (status, out, err))
        status, out, err = self.tether_cmd("--check", cwd=empty,
                                           env=self.env_without_config(TETHER_CONFIG=bad))
        e2e.expect(status == 1 and "env-bad.yaml" in out + err,
                   "TETHER_CONFIG=bad: exit %s, output %r (want 1, naming env-bad.yaml)" %
                   (status, out + err))
        # -c wins over the environment.
        status, out, err = self.tether_cmd("--check", "-c", good, cwd=empty,
                                           env=self.env_without_config(TETHER_CONFIG=bad))
        e2e.expect(status == 0 and out.strip() == "ok",
                   "-c good with TETHER_CONFIG=bad: exit %s %r %r" % (status, out, err))

    def default_config_file(self):
        d = self.fresh_dir("cwd-default")
        e2e.write_file("tether.yaml", e2e.to_yaml(self.good_config()), d)
        status, out, err = self.tether_cmd("--check", cwd=d, env=self.env_without_config())
        e2e.expect(status == 0 and out.strip() == "ok",
                   "./tether.yaml: exit %s %r %r" % (status, out, err))
        empty = self.fresh_dir("cwd-empty")
        status, out, err = self.tether_cmd("--check", cwd=empty, env=self.env_without_config())
        e2e.expect(status == 1 and "tether.yaml" in out + err,
                   "no ./tether.yaml: exit %s %r (want 1, naming tether.yaml)" % (status, out + err))

    def port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            for where in ("listener", "admin"):
                cfg = self.good_config(tls=False)
                if where == "listener":
                    cfg["listeners"][0]["bind"] = "127.0.0.1:%d" % port
                else:
                    cfg["admin"]["bind"] = "127.0.0.1:%d" % port
                path = e2e.write_file("in-use-%s.yaml" % where, e2e.to_yaml(cfg))
                status, out, err = self.tether_cmd("-c", path, timeout=10)
                e2e.log("%s port in use: exit %s, stderr %r" % (where, status, err[-300:]))
                e2e.expect(status == 1, "%s port in use: exit %s, want 1" % (where, status))
                e2e.expect(str(port) in err or "in use" in err.lower(),
                           "%s port in use: no useful message: %r" % (where, err))

    # ----------------------------------------------------------- running --

    def start(self, name="tether", **kw):
        return e2e.Tether(self.args, self.good_config(tls=False, **kw), name=name)

    def admin_endpoints(self):
        t = self.start(name="tether_admin")
        try:
            status, body = t.admin_get("/healthz")
            e2e.expect(status == 200, "/healthz %s" % status)
            status, body = t.admin_get("/readyz")
            e2e.expect(status == 200, "/readyz %s before any drain" % status)
            # One session, so that every per-route metric has samples.
            asyncio.run(self.echo_once(t.port(), "/metrics-probe"))
            text = t.metrics()
            types = e2e.metric_types(text)
            samples = e2e.parse_metrics(text)
            problems = []
            for name, (kind, labels) in SPEC_METRICS.items():
                if types.get(name) != kind:
                    problems.append("%s: TYPE %r, want %r" % (name, types.get(name), kind))
                series = [(n, ls) for n, ls, _ in samples
                          if n == name or (kind == "histogram" and n in
                                           (name + "_bucket", name + "_sum", name + "_count"))]
                if not series:
                    problems.append("%s: no samples" % name)
                for n, ls in series:
                    if not labels <= set(ls):
                        problems.append("%s: labels %s lack %s" % (n, sorted(ls), sorted(labels)))
                        break
            e2e.expect(not problems, "; ".join(problems))
            # Prometheus's own parser on the same scrape.
            promtool = shutil.which("promtool")
            e2e.expect(promtool is not None, "promtool missing (scripts/setup.sh --tests)")
            check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                   text=True, timeout=30)
            e2e.expect(check.returncode == 0,
                       "promtool check metrics: %s%s" % (check.stdout, check.stderr))
            for name in ("process_open_fds", "process_resident_memory_bytes",
                         "process_cpu_seconds_total", "process_start_time_seconds"):
                e2e.expect((e2e.metric_value(text, name) or 0) > 0, "%s missing or zero" % name)
            e2e.expect(e2e.metric_value(text, "tether_build_info") == 1, "tether_build_info")
            e2e.expect(e2e.metric_value(text, "tether_listener_max_connections") is not None,
                       "tether_listener_max_connections")
            sessions = e2e.metric_value(text, "tether_sessions_total", route="web")
            e2e.expect(sessions == 1, "tether_sessions_total{route=web} = %r after one session" % sessions)
            for d in ("client_to_upstream", "upstream_to_client"):
                n = e2e.metric_value(text, "tether_messages_total", route="web", direction=d)
                e2e.expect(n == 1, "tether_messages_total{direction=%s} = %r, want 1" % (d, n))
            status, _ = t.admin_get("/no-such-endpoint")
            e2e.expect(status == 404, "unknown admin path answered %s, want 404" % status)
        finally:
            t.stop()

    async def echo_once(self, port, path):
        async with websockets.connect("ws://127.0.0.1:%d%s" % (port, path), open_timeout=5,
                                      close_timeout=3, ping_interval=None) as ws:
            await ws.send("probe")
            got = await asyncio.wait_for(ws.recv(), 5)
            e2e.expect(got == "probe", "echo through tether: %r" % got)

    async def open_sessions(self, port, n):
        sessions = []
        for i in range(n):
            ws = await websockets.connect("ws://127.0.0.1:%d/drain/%d" % (port, i), open_timeout=5,
                                          close_timeout=3, ping_interval=None)
            await ws.send("hello %d" % i)
            got = await asyncio.wait_for(ws.recv(), 5)
            e2e.expect(got == "hello %d" % i, "echo on session %d: %r" % (i, got))
            sessions.append(ws)
        return sessions

    def drain(self):
        t = self.start(name="tether_drain", drain="1s")
        n = 2 * cpu_count() + 2  # at least two sessions per worker thread
        loop = asyncio.new_event_loop()
        try:
            sessions = loop.run_until_complete(self.open_sessions(t.port(), n))
            readyz = []

            def poll_readyz():
                # Until the process is gone: every /readyz answer during the drain.
                while t.proc.running():
                    try:
                        status, _ = t.admin_get("/readyz", timeout=1)
                        health, _ = t.admin_get("/healthz", timeout=1)
                        readyz.append((time.monotonic(), status, health))
                    except OSError:
                        pass
                    time.sleep(0.01)

            t0 = time.monotonic()
            t.proc.send_signal(signal.SIGTERM)

            async def watch():
                poller = loop.run_in_executor(None, poll_readyz)
                await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in sessions)), 6)
                closed_at = time.monotonic()
                await asyncio.wait_for(poller, 6)
                return closed_at

            closed_at = loop.run_until_complete(watch())
            status = t.proc.wait_exit(5)
            exited_at = time.monotonic()
            codes = sorted({ws.close_code for ws in sessions})
            e2e.log("drain of %d sessions: closes done after %.2f s, exit %s after %.2f s, "
                    "close codes %s, /readyz samples %d (first %s)" %
                    (n, closed_at - t0, status, exited_at - t0, codes, len(readyz),
                     readyz[0][1:] if readyz else None))
            e2e.expect(any(s == 503 for _, s, _ in readyz),
                       "/readyz never answered 503 during the drain: %r" % readyz[:5])
            e2e.expect(all(h == 200 for _, _, h in readyz),
                       "/healthz not 200 during the drain")
            e2e.expect(codes == [1001], "clients got close codes %s, want [1001]" % codes)
            e2e.expect(closed_at - t0 < 1.0 + 1.5, "closes took %.2f s for drain_timeout 1s" %
                       (closed_at - t0))
            e2e.expect(status == 0, "exit status after the drain %s, want 0" % status)
            e2e.expect(exited_at - t0 < 4, "exit took %.2f s" % (exited_at - t0))
        finally:
            loop.close()
            t.stop()

    def second_sigterm(self):
        t = self.start(name="tether_drain2", drain="30s")
        n = 2 * cpu_count() + 2
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.open_sessions(t.port(), n))
            t.proc.send_signal(signal.SIGTERM)
            e2e.wait_until(lambda: t.admin_get("/readyz", timeout=1)[0] == 503, 3,
                           what="/readyz 503 after the first SIGTERM")
            time.sleep(0.3)
            e2e.expect(t.proc.running(), "tether exited before the second SIGTERM "
                       "(a 30 s drain with %d sessions)" % n)
            t0 = time.monotonic()
            t.proc.send_signal(signal.SIGTERM)
            status = t.proc.wait_exit(2)
            e2e.log("second SIGTERM: exit status %s after %.2f s" % (status, time.monotonic() - t0))
            e2e.expect(status is not None, "still running 2 s after the second SIGTERM")
        finally:
            loop.close()
            t.stop(grace=1)

    def reload(self):
        backend_b = e2e.start_backend(self.args, push_interval=0, verbose=True, name="backend_b")
        route_a = {"name": "a", "match": {"path": "/"}, "upstream": {"url": self.backend.url}}
        route_b = {"name": "b", "match": {"path": "/b"}, "upstream": {"url": backend_b.url}}
        t = self.start(name="tether_reload", routes=[route_a])
        loop = asyncio.new_event_loop()
        try:
            port = t.port()
            a_mark, b_mark = self.backend.mark(), backend_b.mark()
            old = loop.run_until_complete(self.connect_echo(port, "/b/before"))
            self.backend.wait_for(r"websocket open: /b/before", 3, since=a_mark)

            def reloads(result):
                return e2e.metric_value(t.metrics(), "tether_config_reloads_total", result=result)
            e2e.expect(reloads("success") == 0 and reloads("failure") == 0,
                       "reload counters not 0 at start")

            t.write_config(self.good_config(tls=False, routes=[route_a, route_b]))
            reload_mark = t.proc.mark()
            t.proc.send_signal(signal.SIGHUP)
            e2e.wait_until(lambda: reloads("success") == 1, 5,
                           what='tether_config_reloads_total{result="success"} == 1')
            self.listener_moved = not self.port_open(port)
            self.listener_relogged = bool(re.search(
                r"listener main on", "\n".join(t for _, t in t.proc.lines[reload_mark:])))
            if self.listener_moved:
                # Keep going on whatever port the listener has now, so the
                # remaining checks still run; the failure is recorded apart.
                ports = e2e.listening_ports(t.pid) - {t.admin_port}
                e2e.log("listener port %d closed after the reload; now listening on %s" %
                        (port, sorted(ports)))
                e2e.expect(len(ports) == 1, "cannot find the listener after the reload")
                port = ports.pop()
            new = loop.run_until_complete(self.connect_echo(port, "/b/after"))
            backend_b.wait_for(r"websocket open: /b/after", 3, since=b_mark)
            e2e.expect("/b/after" not in self.backend.output(),
                       "backend a got /b/after: the new route is not in force")
            e2e.expect(e2e.metric_value(t.metrics(), "tether_sessions_total", route="b") == 1,
                       "tether_sessions_total{route=b} != 1")
            # The running session is untouched.
            loop.run_until_complete(self.echo(old, "old session still relays"))

            mark = t.proc.mark()
            t.write_config("listeners:\n  - name: main\n    bind: [oops\nroutes: 7\n")
            t.proc.send_signal(signal.SIGHUP)
            e2e.wait_until(lambda: reloads("failure") == 1, 5,
                           what='tether_config_reloads_total{result="failure"} == 1')
            e2e.expect(reloads("success") == 1, "success counter moved on a failed reload")
            t.proc.wait_for(r"\berror\b.*reload", 3, since=mark)
            e2e.expect(t.proc.running(), "tether exited on an invalid config")
            third = loop.run_until_complete(self.connect_echo(port, "/b/third"))
            backend_b.wait_for(r"websocket open: /b/third", 3, since=b_mark)
            loop.run_until_complete(self.echo(new, "session from the new config still relays"))
            for ws in (old, new, third):
                loop.run_until_complete(ws.close())
        finally:
            loop.close()
            t.stop()
            backend_b.stop()

    listener_moved = None  # set by reload()
    listener_relogged = False

    def listener_kept_on_reload(self):
        e2e.expect(self.listener_moved is not None, "the reload case did not get that far")
        e2e.expect(not self.listener_moved,
                   "after a SIGHUP whose config leaves listener 'main' unchanged "
                   "(bind 127.0.0.1:0), its port no longer accepts connections: tether "
                   "re-bound it to a new port%s" % (
                       "" if self.listener_relogged else
                       " and logged no new 'listener main on HOST:PORT' line, so the new "
                       "port can only be found with ss/proc"))

    def port_open(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    async def connect_echo(self, port, path):
        ws = await websockets.connect("ws://127.0.0.1:%d%s" % (port, path), open_timeout=5,
                                      close_timeout=3, ping_interval=None)
        await self.echo(ws, "hello " + path)
        return ws

    async def echo(self, ws, text):
        await ws.send(text)
        got = await asyncio.wait_for(ws.recv(), 5)
        e2e.expect(got == text, "echo %r came back as %r" % (text, got))


def main():
    e2e.install_guards(SCRIPT_TIMEOUT)
    args = e2e.parse_args()
    results = e2e.RESULTS
    try:
        suite = Suite(args)
        for name in ["version", "help", "unknown_flag", "check_ok", "check_examples",
                     "check_errors", "check_missing_cert", "env_config", "default_config_file",
                     "port_in_use", "admin_endpoints", "drain", "second_sigterm", "reload",
                     "listener_kept_on_reload"]:
            results.run(name, getattr(suite, name))
    except Exception as e:  # noqa: BLE001 - set-up failures count too
        results.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        results.finish()


if __name__ == "__main__":
    main()
