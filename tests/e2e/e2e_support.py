"""Shared helpers for tether's end-to-end tests.

Standard library only (plus Debian's python3-websockets in the scripts that
need it); always run with /usr/bin/python3.

Design rules:
  * Every port is chosen by the OS (bind "127.0.0.1:0"); tether's ports are
    read from its log ("listener NAME on HOST:PORT (ws|wss)") and the admin
    port from the sockets the process listens on (/proc), so tests never race
    for "free" ports.
  * Every process is started in its own process group with a parent-death
    signal, tracked here, and stopped BY PID with a hard timeout; an atexit
    hook, a SIGTERM handler and the overall alarm kill whatever is left.
  * A script counts its cases, prints "N passed, M failed" last and exits
    non-zero on any failure.
"""

import argparse
import atexit
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# ----------------------------------------------------------------- args ----


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="tether end-to-end test")
    p.add_argument("--tether", required=True, help="path to the tether binary")
    p.add_argument("--backend", required=True, help="path to demo_backend")
    p.add_argument("--certs", required=True, help="directory made by certs/make-certs.sh")
    p.add_argument("--source", required=True, help="repository root")
    p.add_argument("--verbose", action="store_true", help="echo child output as it comes")
    args = p.parse_args(argv)
    for key in ("tether", "backend", "certs", "source"):
        setattr(args, key, os.path.abspath(getattr(args, key)))
    for key in ("tether", "backend"):
        path = getattr(args, key)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            p.error("--%s %s: not an executable file" % (key, path))
    if not os.path.isfile(os.path.join(args.certs, "ca.crt")):
        p.error("--certs %s: no ca.crt (run certs/make-certs.sh)" % args.certs)
    global VERBOSE
    VERBOSE = args.verbose
    return args


VERBOSE = False


def log(msg):
    print("[%7.3f] %s" % (time.monotonic() - _T0, msg), flush=True)


_T0 = time.monotonic()

# -------------------------------------------------------------- results ----


class Results:
    """Counts test cases; prints the final "N passed, M failed" line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self._finished = False

    def ok(self, name):
        self.passed += 1
        log("PASS %s" % name)

    def fail(self, name, why):
        self.failed += 1
        self.failures.append((name, why))
        log("FAIL %s: %s" % (name, why))

    def check(self, cond, name, why=""):
        """Records one case from a boolean."""
        if cond:
            self.ok(name)
        else:
            self.fail(name, why or "condition false")
        return bool(cond)

    def run(self, name, fn, *a, **kw):
        """Runs fn as one case: an exception (AssertionError or other) fails it."""
        log("---- %s" % name)
        try:
            fn(*a, **kw)
        except Exception as e:  # noqa: BLE001 - every error is a failure
            self.fail(name, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
            return False
        self.ok(name)
        return True

    def summary_line(self):
        return "%d passed, %d failed" % (self.passed, self.failed)

    def finish(self):
        """Stops every process, prints the summary and exits."""
        if self._finished:
            return
        self._finished = True
        if self.failed:
            dump_logs()
        stop_all()
        remove_tmpdir()
        for name, why in self.failures:
            print("FAILED: %s: %s" % (name, why), flush=True)
        print(self.summary_line(), flush=True)
        sys.stdout.flush()
        os._exit(1 if self.failed else 0)


RESULTS = Results()


def run_steps(seconds, make_suite, steps, alive=lambda suite: suite.tether.proc.running()):
    """A whole script: guards and arguments, then `make_suite(args)` and each
    named step in order; a set-up failure counts as a failed case, and tether
    must still run at the end."""
    install_guards(seconds)
    args = parse_args()
    try:
        suite = make_suite(args)
        for name in steps:
            RESULTS.run(name, getattr(suite, name))
        RESULTS.check(alive(suite), "tether_still_running", "tether exited during the tests")
    except Exception as e:  # noqa: BLE001 - set-up failures count too
        RESULTS.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        RESULTS.finish()


def _emergency(reason):
    print("%s: stopping every child process" % reason, flush=True)
    try:
        dump_logs()
    except Exception:  # noqa: BLE001
        pass
    stop_all(grace=0.5)
    remove_tmpdir()
    RESULTS.failed += 1
    RESULTS.failures.append(("(script)", reason))
    for name, why in RESULTS.failures:
        print("FAILED: %s: %s" % (name, why), flush=True)
    print(RESULTS.summary_line(), flush=True)
    os._exit(1)


def install_guards(seconds):
    """Overall alarm plus SIGTERM/SIGINT handlers: on any of them every
    child is killed and the script exits 1 with its summary line."""
    def on_alarm(signum, frame):
        _emergency("TIMEOUT: the script ran longer than %d s" % seconds)

    def on_term(signum, frame):
        _emergency("interrupted by signal %d" % signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(seconds)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns something truthy; returns it, or raises."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)

# ------------------------------------------------------------ temp files ----


_TMP = None


def tmpdir():
    """One temporary directory per script run, removed at exit."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="tether-e2e-")
        atexit.register(remove_tmpdir)
    return _TMP


def remove_tmpdir():
    if _TMP is not None:
        shutil.rmtree(_TMP, ignore_errors=True)


def write_file(name, text, directory=None):
    path = os.path.join(directory or tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars (strings double-quoted
    with JSON escapes, which YAML accepts)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 1)))
            else:
                out.append("%s%s: %s\n" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                body = to_yaml(v, indent + 1)
                out.append("%s- %s" % (pad, body.lstrip(" ")))
            else:
                out.append("%s- %s\n" % (pad, _scalar(v)))
    else:
        out.append(pad + _scalar(obj) + "\n")
    return "".join(out)


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v))

# ------------------------------------------------------------- processes ----


_PROCS = []
_PROCS_LOCK = threading.Lock()
_LIBC = None


def _preexec():
    # Own process group (so a whole tree can be killed), and die with us even
    # if this script is SIGKILLed.
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None


def descendants(pid):
    """PIDs of every live descendant of pid (walks /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ")".
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) >= 2:
            children.setdefault(int(rest[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class Proc:
    """A child process with its stdout/stderr collected line by line."""

    def __init__(self, name, argv, cwd=None, env=None, stdin=subprocess.DEVNULL, ignore=None):
        self.name = name
        self._ignore = re.compile(ignore) if ignore else None  # lines not worth keeping
        self.argv = [str(a) for a in argv]
        self.lines = []  # (stream, text)
        self.dump_on_failure = True
        self._cond = threading.Condition()
        self._eof = 0
        log("start %s: %s" % (name, " ".join(self.argv)))
        self.popen = subprocess.Popen(
            self.argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=_preexec, close_fds=True)
        self.pid = self.popen.pid
        with _PROCS_LOCK:
            _PROCS.append(self)
        for stream, pipe in (("out", self.popen.stdout), ("err", self.popen.stderr)):
            t = threading.Thread(target=self._reader, args=(stream, pipe), daemon=True)
            t.start()

    def _reader(self, stream, pipe):
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if self._ignore is not None and self._ignore.search(text):
                continue
            if VERBOSE:
                print("    %s[%s] %s" % (self.name, stream, text), flush=True)
            with self._cond:
                self.lines.append((stream, text))
                self._cond.notify_all()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    def output(self, stream=None):
        with self._cond:
            return "\n".join(t for s, t in self.lines if stream is None or s == stream)

    def mark(self):
        """A position in the output, for wait_for(..., since=mark)."""
        with self._cond:
            return len(self.lines)

    def wait_for(self, pattern, timeout, since=0, stream=None):
        """Waits for a line matching the regex; returns the match object."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.lines):
                    s, text = self.lines[i]
                    i += 1
                    if stream is None or s == stream:
                        m = rx.search(text)
                        if m:
                            return m
                left = deadline - time.monotonic()
                if self._eof == 2 and i >= len(self.lines):
                    raise AssertionError("%s ended (status %s) before printing /%s/" %
                                         (self.name, self.popen.poll(), pattern))
                if left <= 0:
                    raise AssertionError("%s: no line matching /%s/ within %.1f s" %
                                         (self.name, pattern, timeout))
                self._cond.wait(min(left, 0.2))

    def running(self):
        """True while the process has not exited (does not reap it)."""
        if self.popen.returncode is not None:
            return False
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return info is None

    def send_signal(self, sig):
        if self.running():
            os.kill(self.pid, sig)

    def wait_exit_noreap(self, timeout):
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        return True

    def wait_exit(self, timeout):
        """Waits up to timeout for the process to exit by itself; returns its
        status (negative: killed by that signal) or None if it still runs."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        self._reap()
        return self.popen.returncode

    def _reap(self):
        # The leader is a zombie at most here, so its group id cannot have been
        # reused: kill whatever it left behind, then reap it.
        if self.popen.returncode is None:
            for pid in descendants(self.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.popen.wait()

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Signals the process by PID, waits up to `grace`, then SIGKILLs it
        and its process group and descendants. Returns the exit status."""
        if self.running():
            # Children are re-parented once the leader is gone: list them now.
            family = descendants(self.pid)
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait_exit_noreap(grace) is None:
                log("%s (pid %d) did not stop within %.1f s: SIGKILL" % (self.name, self.pid, grace))
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait_exit_noreap(5)
            for pid in family:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._reap()
        for pipe in (self.popen.stdout, self.popen.stderr):
            try:
                pipe.close()
            except Exception:  # noqa: BLE001
                pass
        return self.popen.returncode

    def tail(self, n=40):
        with self._cond:
            return ["%s[%s] %s" % (self.name, s, t) for s, t in self.lines[-n:]]


def stop_all(grace=3.0):
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for p in reversed(procs):
        try:
            p.stop(grace=grace)
        except Exception as e:  # noqa: BLE001
            print("stopping %s: %s" % (p.name, e), flush=True)


def dump_logs(n=40):
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for p in procs:
        if not p.dump_on_failure:
            continue
        print("---- last output of %s (pid %d, status %s):" % (p.name, p.pid, p.popen.returncode))
        for line in p.tail(n):
            print("    " + line)
    sys.stdout.flush()


atexit.register(stop_all)


def run(argv, timeout=15, cwd=None, env=None):
    """Runs a short command to completion (tracked and killed like the rest);
    returns (status, stdout, stderr)."""
    p = Proc(os.path.basename(str(argv[0])), argv, cwd=cwd, env=env)
    p.dump_on_failure = False  # the caller sees its output
    status = p.wait_exit(timeout)
    if status is None:
        p.stop(signal.SIGKILL, grace=1)
        raise AssertionError("%s did not finish within %s s" % (argv, timeout))
    # Readers finish once the pipes hit EOF.
    deadline = time.monotonic() + 2
    while p._eof < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    p.stop()
    return status, p.output("out"), p.output("err")

# -------------------------------------------------------- the binaries ----


def start_backend(args, push_interval=0, verbose=False, name="backend"):
    argv = [args.backend, "--port", "0", "--bind", "127.0.0.1",
            "--push-interval", str(push_interval)]
    if verbose:
        argv.append("--verbose")
    p = Proc(name, argv)
    m = p.wait_for(r"listening on (\d+)", 10, stream="out")
    p.port = int(m.group(1))
    p.url = "ws://127.0.0.1:%d" % p.port
    log("%s listening on %d" % (name, p.port))
    return p


def listening_ports(pid):
    """TCP ports the process has in LISTEN state (from /proc)."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class Tether:
    """tether started on a temporary config; .ports maps listener names to
    ports, .admin_port is set when the config has an admin block."""

    def __init__(self, args, config, listeners=("main",), name="tether", extra_args=(),
                 cwd=None, env=None, config_name=None):
        self.args = args
        text = config if isinstance(config, str) else to_yaml(config)
        self.config_path = write_file(config_name or ("%s-%d.yaml" % (name, len(_PROCS))), text)
        log("%s config %s:\n%s" % (name, self.config_path, text.rstrip()))
        self.proc = Proc(name, [args.tether, "-c", self.config_path] + list(extra_args),
                         cwd=cwd, env=env)
        self.pid = self.proc.pid
        self.ports = {}
        for lname in listeners:
            m = self.proc.wait_for(r"listener %s on \S+:(\d+) \((wss?)\)" % re.escape(lname), 20)
            self.ports[lname] = int(m.group(1))
        self.admin_port = None
        has_admin = isinstance(config, dict) and "admin" in config or \
            isinstance(config, str) and re.search(r"(?m)^admin:", config)
        if has_admin:
            self.admin_port = self._find_admin_port()
        log("%s ports %s admin %s" % (name, self.ports, self.admin_port))

    def _find_admin_port(self):
        m = re.search(r"\badmin\b.* on \S+:(\d+)", self.proc.output("err"))
        if m:
            return int(m.group(1))

        def probe():
            extra = listening_ports(self.pid) - set(self.ports.values())
            return sorted(extra) if len(extra) == 1 else None
        return wait_until(probe, 5, what="the admin port in /proc")[0]

    def port(self, name="main"):
        return self.ports[name]

    def write_config(self, config):
        text = config if isinstance(config, str) else to_yaml(config)
        with open(self.config_path, "w") as f:
            f.write(text)

    def admin_get(self, path, timeout=5):
        return http_get(self.admin_port, path, timeout=timeout)

    def metrics(self):
        status, body = self.admin_get("/metrics")
        expect(status == 200, "/metrics answered %s" % status)
        return body

    def metric(self, name, **labels):
        return metric_value(self.metrics(), name, **labels)

    def stop(self, grace=5):
        return self.proc.stop(grace=grace)


def http_get(port, path, host="127.0.0.1", timeout=5, method="GET", body=None, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


_SAMPLE_RX = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL_RX = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] from Prometheus text format."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RX.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RX.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when
    there is no such sample."""
    total = None
    for n, ls, v in parse_metrics(text):
        if n == name and all(ls.get(k) == str(val) for k, val in labels.items()):
            total = (total or 0) + v
    return total


def metric_types(text):
    """{name: type} from the # TYPE lines."""
    return dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)\s*$", text))


def listener(name="main", tls=None, bind="127.0.0.1:0"):
    out = {"name": name, "bind": bind}
    if tls:
        out["tls"] = tls
    return out


def tls_block(args):
    return {"cert": os.path.join(args.certs, "server-chain.crt"),
            "key": os.path.join(args.certs, "server.key")}
