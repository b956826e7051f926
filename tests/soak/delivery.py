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


def read_log(path):
    """R and S lines of the backend log: per sid, [(cid, n)] in log order."""
    received, sent = defaultdict(list), defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue  # a line cut by SIGKILL cannot happen (one write each), but be safe
            kind, sid, cid, n = parts
            (received if kind == "R" else sent)[sid].append((cid, int(n)))
    return received, sent


def check_c2b(fig: Figures, sid: str, received, sent_total: int, marks, complete=True) -> None:
    """received: [(cid, seq)] in the order the backends logged them; marks: per
    loss notice, the last seq the client had sent when the notice arrived."""
    fig.c2b_sent += sent_total
    seen = set()
    # prev: the highest seq delivered so far, on prev_cid; last_cid: the
    # connection of the line before (duplicates included), for counting changes.
    prev, prev_cid, last_cid, changes = 0, None, None, 0
    conns = len({c for c, _ in received})
    spare = max(0, len(marks) - max(0, conns - 1))  # outages whose new upstream got nothing
    for cid, seq in received:
        if last_cid is not None and cid != last_cid:
            changes += 1
        last_cid = cid
        if seq in seen:
            fig.c2b_duplicated += 1
            fig.violation(f"c2b {sid}: {seq} duplicated (on {cid})")
        elif seq <= prev:
            fig.c2b_reordered += 1
            fig.violation(f"c2b {sid}: {seq} after {prev} (on {cid})")
        else:
            missing = seq - prev - 1
            if missing:
                # The notice of the loss that ended prev_cid is notice number
                # `changes` (1-based), or a later one if some outage left no
                # message on its upstream.
                candidates = marks[changes - 1:changes + spare] if changes else []
                if cid != prev_cid and candidates and seq - 1 <= max(candidates):
                    fig.c2b_lost_allowed += missing
                else:
                    fig.c2b_lost += missing
                    fig.violation(f"c2b {sid}: {prev + 1}..{seq - 1} lost before {seq} on {cid}")
            prev, prev_cid = seq, cid
            fig.c2b_delivered += 1
        seen.add(seq)
    if complete and prev < sent_total:
        fig.c2b_lost += sent_total - prev
        fig.violation(f"c2b {sid}: {prev + 1}..{sent_total} never arrived")


def check_b2c(fig: Figures, sid: str, sent, received, final_inc: str) -> None:
    """sent: [(cid, n)] from the log; received: {cid: highest n received in
    order} from the client (which counts holes, duplicates and reordering
    itself as they arrive)."""
    last = {}
    for cid, n in sent:
        last[cid] = n
    fig.b2c_sent += len(sent)
    fig.b2c_received += sum(received.values())
    for cid, n in received.items():
        if n > last.get(cid, 0):
            fig.b2c_duplicated += n - last.get(cid, 0)
            fig.violation(f"b2c {sid}: {cid} received {n}, sent {last.get(cid, 0)}")
    if not sent:
        return
    final_cid = sent[-1][0]
    for cid, n in last.items():
        got = received.get(cid, 0)
        if got >= n:
            continue
        if cid == final_cid and cid.split(".")[0] == final_inc:
            fig.b2c_lost += n - got
            fig.violation(f"b2c {sid}: live {cid} sent {n}, client got {got}")
        else:
            fig.b2c_tail_allowed += n - got
