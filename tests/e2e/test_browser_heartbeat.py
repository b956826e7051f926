#!/usr/bin/python3
"""End to end: a real browser (headless Chromium) keeps a WebSocket alive
with the classic text heartbeat, through tether, in front of a backend that
knows nothing about heartbeats (it echoes).

Browsers cannot send ping frames, so pages send "ping" and expect "pong"
within a deadline, reconnecting otherwise. With the route's
`heartbeat.client.answer` rule tether answers "ping" itself: the page must
never reconnect. Without the rule the echo backend returns "ping", not
"pong", so the page must reconnect. Chromium offers permessage-deflate and
compresses every message, so the answer rule sees inflated text; the answer
run goes once over ws:// and once over wss://, and checks the negotiated
extension each time.

Needs Debian's chromium (/usr/bin/chromium); fails, never skips, without it.
"""
import http.server
import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

SCRIPT_TIMEOUT = 160
PAGE_MS = 5000           # how long the page runs its heartbeat
RESULT_TIMEOUT = 40      # seconds to wait for the page's report

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>tether heartbeat e2e</title></head>
<body><pre id="log"></pre>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const url = params.get("ws");
const runMs = Number(params.get("ms"));
const run = params.get("run");
const PING_EVERY = 300, PONG_WITHIN = 1000;

const stats = {reconnects: 0, pongs: 0, pings: 0, opens: 0, echoed_pings: 0, others: 0,
               errors: []};
let ws = null, pingTimer = null, watchTimer = null, waitingSince = null, finished = false;

function report(extra) {
  const body = JSON.stringify(Object.assign({run: run}, stats, extra || {}));
  fetch("/result?run=" + encodeURIComponent(run), {method: "POST", body: body,
        headers: {"Content-Type": "application/json"}});
}

function stopTimers() {
  clearInterval(pingTimer); clearInterval(watchTimer);
  pingTimer = watchTimer = null; waitingSince = null;
}

function reconnect(sock) {
  if (finished || sock !== ws) return;
  stats.reconnects++;
  stopTimers();
  sock.onclose = sock.onmessage = sock.onerror = null;
  try { sock.close(); } catch (e) {}
  setTimeout(connect, 100);
}

function connect() {
  if (finished) return;
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    stats.opens++;
    stats.extensions = sock.extensions;
    pingTimer = setInterval(() => {
      if (sock.readyState !== WebSocket.OPEN) return;
      sock.send("ping");
      stats.pings++;
      if (waitingSince === null) waitingSince = Date.now();
    }, PING_EVERY);
    // No pong within PONG_WITHIN of the oldest unanswered ping: dead link.
    watchTimer = setInterval(() => {
      if (waitingSince !== null && Date.now() - waitingSince > PONG_WITHIN) reconnect(sock);
    }, 50);
  };
  sock.onmessage = (ev) => {
    if (ev.data === "pong") { stats.pongs++; waitingSince = null; }
    else if (ev.data === "ping") stats.echoed_pings++;  // the backend echoed it: no pong
    else stats.others++;   // the backend's time pushes: ignored
  };
  sock.onclose = () => reconnect(sock);
}

window.onerror = (msg) => { stats.errors.push(String(msg)); };
connect();
setTimeout(() => {
  finished = true;
  stopTimers();
  if (ws) { ws.onclose = null; ws.close(1000); }
  report();
}, runMs);
</script></body></html>
"""


class PageServer:
    """Serves the page and collects each run's report (port 0)."""

    def __init__(self):
        self.results = {}
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *a):
                e2e.log("page server: " + (fmt % a))

            def do_GET(self):
                if urllib.parse.urlsplit(self.path).path != "/page.html":
                    self.send_error(404)
                    return
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                split = urllib.parse.urlsplit(self.path)
                if split.path != "/result":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                run = urllib.parse.parse_qs(split.query).get("run", ["?"])[0]
                try:
                    report = json.loads(data)
                except ValueError:
                    report = {"unparsable": data.decode("utf-8", "replace")}
                with outer.cond:
                    outer.results[run] = report
                    outer.cond.notify_all()
                self.send_response(204)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_result(self, run, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while run not in self.results:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))
            return self.results[run]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def find_chromium():
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Suite:
    def __init__(self, args, chromium):
        self.args = args
        self.chromium = chromium
        self.backend = e2e.start_backend(args, push_interval=1)
        self.pages = PageServer()
        self.report = {}

    def tether(self, name, answer, tls=False):
        client = {}
        if answer:
            client["answer"] = [{"match": "ping", "reply": "pong"}]
        route = {"name": "hb", "match": {"path": "/"}, "upstream": {"url": self.backend.url}}
        if client:
            route["heartbeat"] = {"client": client}
        listener = e2e.listener("main", tls=e2e.tls_block(self.args) if tls else None)
        cfg = {"listeners": [listener], "admin": {"bind": "127.0.0.1:0"},
               "log": {"level": "info", "format": "text"},
               "shutdown": {"drain_timeout": "1s"}, "routes": [route]}
        return e2e.Tether(self.args, cfg, name=name)

    def browse(self, run, tether, tls=False):
        # wss:// to "localhost", the name on the development certificate;
        # the browser does not know the development CA, so it is told to
        # accept the certificate.
        ws_url = ("wss://localhost:%d/hb" if tls else "ws://127.0.0.1:%d/hb") % tether.port()
        trust = ["--ignore-certificate-errors"] if tls else []
        page = "http://127.0.0.1:%d/page.html?%s" % (self.pages.port, urllib.parse.urlencode(
            {"ws": ws_url, "ms": PAGE_MS, "run": run}))
        profile = os.path.join(e2e.tmpdir(), "chromium-profile-%s" % run)
        os.makedirs(profile)
        env = dict(os.environ, HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
        browser = e2e.Proc("chromium-%s" % run, [
            self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + profile] + trust + [page], env=env,
            ignore=r"dbus|Fontconfig")  # a container has no session bus: noise
        try:
            report = self.pages.wait_result(run, RESULT_TIMEOUT)
        finally:
            # By PID, then its process group and every descendant.
            browser.stop(signal.SIGTERM, grace=3)
        e2e.expect(report is not None, "no report from the page within %d s (chromium exit %s)" %
                   (RESULT_TIMEOUT, browser.popen.returncode))
        e2e.log("page report (%s): %s" % (run, json.dumps(report, sort_keys=True)))
        e2e.expect(not report.get("errors"), "JavaScript errors: %r" % report.get("errors"))
        return report

    def with_answer(self):
        self.answer_run("answer", tls=False)

    def with_answer_over_wss(self):
        self.answer_run("answer_wss", tls=True)

    def answer_run(self, run, tls):
        t = self.tether("tether_" + run, answer=True, tls=tls)
        try:
            r = self.browse(run, t, tls=tls)
            text = t.metrics()
        finally:
            t.stop()
        answered = e2e.metric_value(text, "tether_app_heartbeats_answered_total", route="hb")
        forwarded = e2e.metric_value(text, "tether_messages_total", route="hb",
                                     direction="client_to_upstream")
        e2e.log("metrics: answered %s, client_to_upstream %s" % (answered, forwarded))
        if not tls:
            self.answer_metrics = (answered, forwarded, r)
        problems = []
        if r.get("opens", 0) < 1:
            problems.append("the page never connected")
        if r.get("reconnects") != 0:
            problems.append("reconnects = %r, want 0 (tether answers ping)" % r.get("reconnects"))
        if r.get("pongs", 0) < 10:
            problems.append("pongs = %r, want >= 10 (ping every 300 ms for 5 s)" % r.get("pongs"))
        if r.get("echoed_pings") != 0:
            problems.append("the backend echoed %r pings: answered pings must never be "
                            "forwarded" % r.get("echoed_pings"))
        if not answered or answered <= 0:
            problems.append("tether_app_heartbeats_answered_total{route=hb} = %r, want > 0" % answered)
        # Chromium offers permessage-deflate by default and compresses every
        # message: the answer rule matched the inflated "ping".
        want = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        if r.get("extensions") != want:
            problems.append("extensions = %r, want %r" % (r.get("extensions"), want))
        e2e.expect(not problems, "; ".join(problems))

    answer_metrics = None

    def answered_not_counted_as_relayed(self):
        """Answered heartbeats are not relayed: tether_messages_total
        ("Data messages relayed") must not count them."""
        e2e.expect(self.answer_metrics is not None, "the answer run did not get that far")
        answered, forwarded, r = self.answer_metrics
        e2e.expect(forwarded == 0,
                   "tether_messages_total{route=hb,direction=client_to_upstream} = %r after the "
                   "page sent %r pings that tether answered itself (%r answered, %r echoed by "
                   "the backend): answered messages are counted as relayed" %
                   (forwarded, r.get("pings"), answered, r.get("echoed_pings")))

    def without_answer(self):
        t = self.tether("tether_plain", answer=False)
        try:
            r = self.browse("plain", t)
            text = t.metrics()
        finally:
            t.stop()
        forwarded = e2e.metric_value(text, "tether_messages_total", route="hb",
                                     direction="client_to_upstream")
        problems = []
        if r.get("opens", 0) < 1:
            problems.append("the page never connected")
        if r.get("reconnects", 0) < 1:
            problems.append("reconnects = %r, want >= 1 (the echo backend answers ping "
                            "with ping)" % r.get("reconnects"))
        if r.get("echoed_pings", 0) < 1:
            problems.append("no ping came back from the echo backend")
        if r.get("pongs") != 0:
            problems.append("pongs = %r without an answer rule, want 0" % r.get("pongs"))
        if not forwarded:
            problems.append("pings not forwarded to the backend without an answer rule "
                            "(client_to_upstream = %r)" % forwarded)
        e2e.expect(not problems, "; ".join(problems))

    def close(self):
        self.pages.close()


def main():
    e2e.install_guards(SCRIPT_TIMEOUT)
    args = e2e.parse_args()
    results = e2e.RESULTS
    suite = None
    try:
        chromium = find_chromium()
        if chromium is None:
            results.fail("chromium", "chromium is not installed (/usr/bin/chromium missing): "
                         "this test needs a real browser; install Debian's package with "
                         "`apt-get install -y chromium`")
            return
        suite = Suite(args, chromium)
        results.run("answer_rule_keeps_browser_connected", suite.with_answer)
        results.run("answered_heartbeats_not_counted_as_relayed",
                    suite.answered_not_counted_as_relayed)
        results.run("without_answer_browser_reconnects", suite.without_answer)
        results.run("answer_rule_over_wss_with_compression", suite.with_answer_over_wss)
    except Exception as e:  # noqa: BLE001 - set-up failures count too
        results.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        if suite is not None:
            suite.close()
        results.finish()


if __name__ == "__main__":
    main()
