#!/usr/bin/python3
"""End to end: the tether binary reloads when its files change on disk, as
on SIGHUP (SPEC section 3).

The configuration sits in a directory laid out as Kubernetes mounts a
ConfigMap (tether.yaml -> ..data/tether.yaml, ..data -> v1), with the
listener's certificate and key beside it. Checks: an edit in place reloads;
a symlink swap of ..data reloads into the new version; a certificate
rewritten by rename reloads; a broken file keeps the old configuration and
counts a failed reload; a file tether does not use changes nothing; a
change made while a slow reload runs is reloaded after it. Which
configuration is in force shows in /metrics: every route has samples.
"""
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

SCRIPT_TIMEOUT = 90
WAIT = 5  # seconds for a reload to show (tether waits 200 ms of quiet)


SLOW_ROUTES = 200  # each loads a CA bundle of SLOW_BUNDLE_CERTS: a reload of a second or more
SLOW_BUNDLE_CERTS = 10


def config(args, route, certs, bundle=None):
    tls = {"cert": os.path.join(certs, "server-chain.crt"),
           "key": os.path.join(certs, "server.key")}
    routes = [{"name": route, "upstream": {"url": "ws://127.0.0.1:9"}}]
    if bundle:
        routes = [{"name": "slow%d" % i, "match": {"path": "/slow/%d" % i},
                   "upstream": {"url": "wss://127.0.0.1:9/", "tls": {"ca": bundle}}}
                  for i in range(SLOW_ROUTES)] + routes
    return e2e.to_yaml({
        "listeners": [e2e.listener("main", tls=tls)],
        "admin": {"bind": "127.0.0.1:0"},
        "log": {"level": "info", "format": "text"},
        "shutdown": {"drain_timeout": "1s"},
        "routes": routes,
    })


def write_replacing(path, text):
    """As editors and cert-manager do: a new file renamed over the old."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Suite:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.join(e2e.tmpdir(), "mounted")
        self.certs = os.path.join(self.dir, "certs")
        os.makedirs(os.path.join(self.dir, "v1"))
        os.makedirs(self.certs)
        for name in ("server-chain.crt", "server.key"):
            shutil.copy(os.path.join(args.certs, name), self.certs)
        os.symlink("v1", os.path.join(self.dir, "..data"))
        os.symlink("..data/tether.yaml", os.path.join(self.dir, "tether.yaml"))
        # Written through the symlink, into v1.
        self.tether = e2e.Tether(args, config(args, "one", self.certs),
                                 config_name=os.path.join(self.dir, "tether.yaml"))
        # Changes before the watch stands would be taken as the start.
        self.tether.proc.wait_for(r"watching 3 files for changes", 10)

    def reloads_are(self, success, failure=0):
        text = self.tether.metrics()
        return (e2e.metric_value(text, "tether_config_reloads_total", result="success") == success
                and e2e.metric_value(text, "tether_config_reloads_total", result="failure") == failure)

    def routes(self):
        names = set()
        for name, labels, _ in e2e.parse_metrics(self.tether.metrics()):
            if name == "tether_sessions_total":
                names.add(labels.get("route"))
        return names

    def expect_reload(self, success, failure, route):
        e2e.wait_until(lambda: self.reloads_are(success, failure), WAIT,
                       what="%d good and %d failed reloads" % (success, failure))
        e2e.expect(route in self.routes(), "route %s not in force: %s" % (route, self.routes()))

    def edit_in_place(self):
        with open(os.path.join(self.dir, "v1", "tether.yaml"), "w") as f:
            f.write(config(self.args, "two", self.certs))
        self.expect_reload(1, 0, "two")

    def symlink_swap(self):
        os.makedirs(os.path.join(self.dir, "v2"))
        e2e.write_file("tether.yaml", config(self.args, "three", self.certs),
                       os.path.join(self.dir, "v2"))
        os.symlink("v2", os.path.join(self.dir, "..data_tmp"))
        os.replace(os.path.join(self.dir, "..data_tmp"), os.path.join(self.dir, "..data"))
        self.expect_reload(2, 0, "three")

    def certificate_renamed_over(self):
        key = os.path.join(self.certs, "server.key")
        with open(key) as f:
            write_replacing(key, f.read())
        self.expect_reload(3, 0, "three")

    def broken_file_keeps_the_old(self):
        with open(os.path.join(self.dir, "v2", "tether.yaml"), "a") as f:
            f.write("routes: [\n")
        self.expect_reload(3, 1, "three")
        status, _ = self.tether.admin_get("/readyz")
        e2e.expect(status == 200, "/readyz %s after a failed reload" % status)

    def unrelated_file_changes_nothing(self):
        e2e.write_file("notes.txt", "not tether's\n", self.dir)
        e2e.write_file("notes.txt", "not tether's\n", self.certs)
        time.sleep(1.0)  # five quiet periods
        e2e.expect(self.reloads_are(3, 1), "a file tether does not use caused a reload")

    def a_change_during_a_slow_reload_is_not_lost(self):
        """'five' is written while the reload of 'four' loads its bundles,
        after it read its file, and writes beside it hold the quiet period
        open until 'four' is in force. The stamps of 'four' must be those of
        before its read: taken after the load, they would describe 'five'."""
        with open(os.path.join(self.args.certs, "ca.crt")) as f:
            bundle = e2e.write_file("bundle.pem", f.read() * SLOW_BUNDLE_CERTS, self.certs)
        time.sleep(0.5)  # the bundle's own events are over
        path = os.path.join(self.dir, "v2", "tether.yaml")
        mark = len(self.tether.proc.lines)
        write_replacing(path, config(self.args, "four", self.certs, bundle))
        # The reloader thread starts right after this line and reads the file first.
        self.tether.proc.wait_for(r"file watch: .* changed, reloading", WAIT, since=mark)
        time.sleep(0.2)
        e2e.expect(self.reloads_are(3, 1), "the reload of four took under 0.2 s: make it slower")
        write_replacing(path, config(self.args, "five", self.certs, bundle))
        deadline = time.monotonic() + 30
        while not self.reloads_are(4, 1):
            e2e.expect(time.monotonic() < deadline, "four was not reloaded")
            e2e.write_file("notes.txt", "not tether's\n", self.dir)
            time.sleep(0.05)
        e2e.expect("four" in self.routes(), "four not in force: %s" % sorted(self.routes()))
        e2e.wait_until(lambda: self.reloads_are(5, 1), 15, what="five reloaded after four")
        e2e.expect("five" in self.routes(), "five not in force")


def main():
    # In order: each step starts from the state the one before left.
    e2e.run_steps(SCRIPT_TIMEOUT, Suite, ["edit_in_place", "symlink_swap", "certificate_renamed_over",
                                          "broken_file_keeps_the_old", "unrelated_file_changes_nothing",
                                          "a_change_during_a_slow_reload_is_not_lost"])


if __name__ == "__main__":
    main()
