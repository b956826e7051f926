"""The soak's delivery checks, against the guarantee docs/DESIGN.md states
for reconnect ("Reconnect in detail"):

client -> backend: every client message reaches the backends exactly once and
  in order, except a block written to an upstream that then died: such a
  block ends where that upstream's connection ends, and every message in it
  was sent before the client got tether's notice of that loss (a message sent
  after the notice was sent after tether knew, so it is guaranteed).
backend -> client: each backend connection's messages reach the client in
  order, without duplicates or holes; only the tail of a connection that died
  may be missing (the old backend's to resend). A connection alive at the end
  must have delivered everything it sent.
"""
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Figures:
    c2b_sent: int = 0
    c2b_delivered: int = 0
    c2b_lost_allowed: int = 0
    c2b_lost: int = 0
    c2b_duplicated: int = 0
    c2b_reordered: int = 0
    b2c_sent: int = 0
    b2c_received: int = 0
    b2c_lost: int = 0
    b2c_duplicated: int = 0
    b2c_reordered: int = 0
    b2c_tail_allowed: int = 0
    examples: list = field(default_factory=list)

    def violation(self, what: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(what)

    def violations(self) -> int:
        return (self.c2b_lost + self.c2b_duplicated + self.c2b_reordered +
                self.b2c_lost + self.b2c_duplicated + self.b2c_reordered)


def log_lines(path):
    """(kind, sid, cid, n) for each R and S line of the backend log, read as
    a stream: an hours-long log does not fit in memory."""
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue  # a line cut by SIGKILL cannot happen (one write each), but be safe
            kind, sid, cid, n = parts
            yield kind, sid, cid, int(n)


class C2B:
    """One session's client messages as the backends logged them, in order,
    fed one at a time. `conns`: how many backend connections logged any;
    `marks`: per loss notice, the last seq the client had sent when it came."""

    def __init__(self, fig: Figures, sid: str, marks, conns: int):
        self.fig, self.sid, self.marks = fig, sid, marks
        self.spare = max(0, len(marks) - max(0, conns - 1))  # outages whose new upstream got nothing
        self.seen = set()
        # prev: the highest seq delivered so far, on prev_cid; last_cid: the
        # connection of the line before (duplicates included), for counting changes.
        self.prev, self.prev_cid, self.last_cid, self.changes = 0, None, None, 0

    def add(self, cid: str, seq: int) -> None:
        fig = self.fig
        if self.last_cid is not None and cid != self.last_cid:
            self.changes += 1
        self.last_cid = cid
        if seq in self.seen:
            fig.c2b_duplicated += 1
            fig.violation(f"c2b {self.sid}: {seq} duplicated (on {cid})")
        elif seq <= self.prev:
            fig.c2b_reordered += 1
            fig.violation(f"c2b {self.sid}: {seq} after {self.prev} (on {cid})")
        else:
            missing = seq - self.prev - 1
            if missing:
                # The notice of the loss that ended prev_cid is notice number
                # `changes` (1-based), or a later one if some outage left no
                # message on its upstream.
                c = self.changes
                candidates = self.marks[c - 1:c + self.spare] if c else []
                if cid != self.prev_cid and candidates and seq - 1 <= max(candidates):
                    fig.c2b_lost_allowed += missing
                else:
                    fig.c2b_lost += missing
                    fig.violation(f"c2b {self.sid}: {self.prev + 1}..{seq - 1} lost before {seq} on {cid}")
            self.prev, self.prev_cid = seq, cid
            fig.c2b_delivered += 1
        self.seen.add(seq)

    def finish(self, sent_total: int, complete: bool) -> None:
        self.fig.c2b_sent += sent_total
        if complete and self.prev < sent_total:
            self.fig.c2b_lost += sent_total - self.prev
            self.fig.violation(f"c2b {self.sid}: {self.prev + 1}..{sent_total} never arrived")


class B2C:
    """One session's backend messages as logged (S lines), fed one at a time;
    only the last n of each connection is kept."""

    def __init__(self):
        self.last = {}
        self.count = 0
        self.final_cid = None

    def add(self, cid: str, n: int) -> None:
        self.last[cid] = n
        self.count += 1
        self.final_cid = cid

    def finish(self, fig: Figures, sid: str, received, final_inc: str) -> None:
        """received: {cid: highest n received in order} from the client (which
        counts holes, duplicates and reordering itself as they arrive)."""
        last = self.last
        fig.b2c_sent += self.count
        fig.b2c_received += sum(received.values())
        for cid, n in received.items():
            if n > last.get(cid, 0):
                fig.b2c_duplicated += n - last.get(cid, 0)
                fig.violation(f"b2c {sid}: {cid} received {n}, sent {last.get(cid, 0)}")
        for cid, n in last.items():
            got = received.get(cid, 0)
            if got >= n:
                continue
            if cid == self.final_cid and cid.split(".")[0] == final_inc:
                fig.b2c_lost += n - got
                fig.violation(f"b2c {sid}: live {cid} sent {n}, client got {got}")
            else:
                fig.b2c_tail_allowed += n - got


def check_log(fig: Figures, path: str, sessions) -> None:
    """Checks both directions of every session against the log, in two
    passes over it. sessions: {sid: (sent_total, marks, complete, received,
    final_inc)} as the clients saw them (received as in B2C.finish)."""
    conns = defaultdict(set)
    for kind, sid, cid, _ in log_lines(path):
        if kind == "R":
            conns[sid].add(cid)
    c2b = {sid: C2B(fig, sid, marks, len(conns[sid])) for sid, (_, marks, _, _, _) in sessions.items()}
    b2c = defaultdict(B2C)
    for kind, sid, cid, n in log_lines(path):
        if kind == "R":
            if sid in c2b:
                c2b[sid].add(cid, n)
        else:
            b2c[sid].add(cid, n)
    for sid, (sent_total, _, complete, received, final_inc) in sessions.items():
        c2b[sid].finish(sent_total, complete)
        b2c[sid].finish(fig, sid, received, final_inc)
