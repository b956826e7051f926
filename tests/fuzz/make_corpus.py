#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/<target>/corpus/).

Deterministic, so re-running it changes nothing; scripts/fuzz.sh only reads
the corpora. Inputs the fuzzers found are added by hand as crash-<name> files
and are left alone here.
"""
import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write(target, name, data):
    d = HERE / target / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# --- ws_frame: [mode][max chunk][seed hi][seed lo] + frames --------------------
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(op, payload, fin=True, masked=True, rsv=0, length_form=None):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    form = length_form or (7 if n < 126 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = bytes([b0, mask_bit | n])
    elif form == 16:
        head = bytes([b0, mask_bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack(">Q", n)
    if masked:
        payload = bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))
        head += KEY
    return head + payload


def ws_seed(name, frames, masked=True, utf8=True, leave_masked=False, size_index=6, chunk=0, seed=1):
    mode = (1 if masked else 0) | (2 if utf8 else 0) | (4 if leave_masked else 0) | (size_index << 3)
    write("ws_frame", name, bytes([mode, chunk, seed >> 8, seed & 0xFF]) + b"".join(frames))


def ws_corpus():
    for masked in (True, False):
        side = "client" if masked else "server"
        m = dict(masked=masked)
        ws_seed(f"{side}-text", [frame(1, b"hello", **m)], masked=masked)
        ws_seed(f"{side}-binary-126", [frame(2, bytes(range(256)) * 1, **m)], masked=masked, chunk=7)
        ws_seed(f"{side}-fragmented-with-ping", [frame(1, b"hel", fin=False, **m), frame(9, b"p", **m),
                                                 frame(0, b"lo", **m)], masked=masked, chunk=3)
        ws_seed(f"{side}-close", [frame(8, struct.pack(">H", 1000) + b"bye", **m)], masked=masked)
    ws_seed("empty-frames", [frame(1, b"", fin=False), frame(0, b""), frame(10, b""), frame(8, b"")])
    ws_seed("utf8-edges", [frame(1, "\u0080\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff".encode(
        "utf-8", "surrogatepass"))], chunk=1)
    ws_seed("utf8-split-across-frames", [frame(1, b"\xf0\x9f", fin=False), frame(0, b"\x98\x80")], chunk=2)
    ws_seed("utf8-overlong", [frame(1, b"\xe0\x80\xaf")])
    ws_seed("utf8-surrogate", [frame(1, b"\xed\xa0\x80")])
    ws_seed("utf8-too-big", [frame(1, b"\xf4\x90\x80\x80")])
    ws_seed("utf8-truncated", [frame(1, b"ok\xe2\x82")])
    # The last fragment ends inside a character: refused before it is handed on.
    ws_seed("utf8-truncated-last-fragment", [frame(1, b"\xce\xba", fin=False), frame(0, b"\xe1\xbd")], chunk=3)
    ws_seed("utf8-unchecked", [frame(1, b"\xff\xfe")], utf8=False)
    ws_seed("close-bad-reason", [frame(8, struct.pack(">H", 1001) + b"\xc0\xaf")])
    ws_seed("close-bad-code", [frame(8, struct.pack(">H", 1005))])
    ws_seed("close-one-byte", [frame(8, b"\x03")])
    ws_seed("reserved-bits", [frame(1, b"x", rsv=0x40)])
    ws_seed("bad-opcode", [frame(3, b"x")])
    ws_seed("non-minimal-16", [frame(2, b"abc", length_form=16)])
    ws_seed("non-minimal-64", [frame(2, b"abc" * 50, length_form=64)])
    ws_seed("ping-too-long", [frame(9, b"x" * 126)])
    ws_seed("cont-without-start", [frame(0, b"x")])
    ws_seed("text-during-text", [frame(1, b"a", fin=False), frame(1, b"b")])
    ws_seed("unmasked-from-client", [frame(1, b"x", masked=False)])
    ws_seed("too-big", [frame(2, b"x" * 200)], size_index=2)
    ws_seed("too-big-over-fragments", [frame(2, b"x" * 100, fin=False), frame(0, b"y" * 100)], size_index=2)
    ws_seed("binary-64k", [frame(2, bytes(65536))], size_index=7, chunk=0, seed=77)
    ws_seed("leave-masked", [frame(2, b"verbatim" * 20, fin=False), frame(0, b"tail"), frame(1, b"text")],
            leave_masked=True, chunk=5)
    # The header ends exactly where one piece ends and the payload starts the next.
    ws_seed("header-at-piece-end", [frame(2, b"payload")], chunk=6, seed=3)


# --- handshake: [flags] + request --------------------------------------------
def request(*headers, target="/ws/chat?room=1", method="GET", version="1.1"):
    lines = [f"{method} {target} HTTP/{version}"]
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


BASE = ("Host: chat.example.com", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13")


def hs_seed(name, flags, *extra, base=BASE, **kw):
    write("handshake", name, bytes([flags]) + request(*base, *extra, **kw))


def handshake_corpus():
    hs_seed("plain", 0)
    hs_seed("tls-strip-v6-base", 15)
    hs_seed("xff-one", 0, "X-Forwarded-For: 198.51.100.1")
    hs_seed("xff-two-lines", 1, "X-Forwarded-For: 198.51.100.1", "x-forwarded-for: 10.0.0.1, 10.0.0.2")
    hs_seed("connection-names-header", 0, "X-Secret: 1", "Connection: X-Secret, keep-alive", "Keep-Alive: 5")
    hs_seed("connection-names-host", 0, "Connection: Host")
    hs_seed("connection-names-xff", 0, "X-Forwarded-For: 1.2.3.4", "Connection: X-Forwarded-For")
    hs_seed("hop-by-hop", 0, "TE: trailers", "Trailer: X", "Proxy-Authorization: Basic eA==",
            "Proxy-Connection: keep-alive", "Keep-Alive: timeout=5")
    hs_seed("two-hosts", 0, "Host: evil.example.com")
    hs_seed("obs-fold", 0, "X-Folded: one\r\n two")
    hs_seed("subprotocols", 0, "Sec-WebSocket-Protocol: v2.chat, v1.chat", "Sec-WebSocket-Extensions: permessage-deflate",
            "Origin: https://chat.example.com", "Cookie: a=1", "Cookie: b=2")
    hs_seed("forwarded-headers-from-client", 0, "X-Forwarded-Proto: https", "X-Forwarded-Host: spoof")
    hs_seed("bad-key", 0, base=BASE[:3] + ("Sec-WebSocket-Key: short", BASE[4]))
    hs_seed("version-8", 0, base=BASE[:4] + ("Sec-WebSocket-Version: 8",))
    hs_seed("http10", 0, version="1.0")
    hs_seed("no-host", 0, base=BASE[1:])
    hs_seed("empty-value", 0, "X-Empty:")
    hs_seed("with-body", 0, "Content-Length: 5", "Transfer-Encoding: chunked")
    hs_seed("absolute-target", 2, target="http://chat.example.com/ws/x")
    hs_seed("prefix-only", 2, target="/ws")
    hs_seed("deflate-chromium", 1, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    hs_seed("deflate-offers", 0, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8, "
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=\"10\"",
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate")


# --- config: the shipped configurations plus a few small ones -----------------
def config_corpus():
    for p in sorted((HERE.parent.parent / "config").glob("*.yaml")):
        write("config", p.name, p.read_bytes())
    minimal = b"""listeners:
  - name: main
    bind: "127.0.0.1:8080"
routes:
  - name: r
    match: {path: /ws}
    upstream: {urls: ["ws://127.0.0.1:9000/base"]}
"""
    write("config", "minimal.yaml", minimal)
    write("config", "regex.yaml", minimal + b"""    heartbeat:
      client:
        answer:
          - match_regex: '(a|b)*c{1,3}'
            reply: pong
    reconnect:
      replay: {first: 2, match_regex: '.*subscribe.*'}
""")
    write("config", "flow-style.yaml",
          b'{listeners: [{name: a, bind: "[::1]:0"}], routes: [{name: r, upstream: {url: "wss://h:1"}}]}\n')
    write("config", "two-documents.yaml", minimal + b"---\n" + minimal)
    write("config", "anchors.yaml", b"defaults: &d {limits: {max_message_size: 1KiB}}\nx: *d\n")
    write("config", "bad-types.yaml", b"listeners: 3\nroutes: {a: b}\nshutdown: {drain_timeout: 5 parsecs}\n")
    write("config", "stray-comma.yaml", b",\n")
    write("config", "deep.yaml", b"[" * 64 + b"]" * 64 + b"\n")


# --- tls_records, record_stream: FuzzedDataProvider input, so random bytes of a few sizes ---
def tls_corpus():
    for i, n in enumerate((16, 64, 200, 600, 2000, 5000, 17000)):
        rnd = random.Random(i)
        write("tls_records", f"random-{n}", bytes(rnd.getrandbits(8) for _ in range(n)))
    # record_stream: the same kind of input, operations picked from its bytes.
    for i, n in enumerate((16, 64, 200, 600, 2000, 5000, 12000)):
        rnd = random.Random(100 + i)
        write("record_stream", f"random-{n}", bytes(rnd.getrandbits(8) for _ in range(n)))


# --- session: [flags][seed hi][seed lo] then operations (tests/fuzz/session/fuzz.cpp)
# An operation is [op][args]; op & 0x0F picks it, the high bits are its options.
def s_client_msg(n, text=True, big=False, fragments=1, seed=7):
    return bytes([2 | (0x10 if text else 0) | (0x20 if big else 0) | ((fragments - 1) << 6), n, seed])


def s_backend_msg(n, text=True, big=False, fragments=1, seed=9):
    return bytes([3 | (0x10 if text else 0) | (0x20 if big else 0) | ((fragments - 1) << 6), n, seed])


def s_client_raw(data, piece=1):
    return bytes([0 | ((piece - 1) << 4), len(data)]) + data


S_DROP_EOF, S_DROP_RESET = bytes([4]), bytes([5])
S_REFUSE, S_ACCEPT = bytes([6]), bytes([6 | 0x10])
S_WAIT = bytes([7 | 0x30])  # 4 ms
S_LIMIT_BACKEND, S_ALLOW_BACKEND = bytes([11 | 0x20]), bytes([11, 255])


def session_seed(name, *ops, flags=0, seed=1):
    write("session", name, bytes([flags, seed >> 8, seed & 0xFF]) + b"".join(ops))


def session_corpus():
    session_seed("echo", s_client_msg(20), s_backend_msg(20), s_client_msg(40, text=False, fragments=3),
                 s_backend_msg(30, fragments=2))
    session_seed("reconnect", s_client_msg(10), S_DROP_EOF, s_client_msg(12), S_WAIT, s_client_msg(14),
                 s_backend_msg(5))
    session_seed("refused-reconnect", S_REFUSE, S_DROP_RESET, s_client_msg(10), S_WAIT, S_WAIT, S_ACCEPT,
                 S_WAIT, s_client_msg(8), s_backend_msg(8))
    session_seed("bad-utf8", s_client_raw(frame(1, b"ok\xc3\x28"), piece=2), s_backend_msg(3))
    session_seed("unmasked", s_client_raw(frame(1, b"hi", masked=False)))
    session_seed("oversized", s_client_msg(3), s_client_msg(10, text=False, big=True), flags=1)
    session_seed("streamed", s_client_msg(250, text=False, big=True, fragments=2),
                 s_backend_msg(230, big=True, fragments=3))
    session_seed("close", s_client_msg(4), bytes([8, 0x03, 0xE8]), bytes([9, 0x03, 0xE8]))
    session_seed("backpressure", S_LIMIT_BACKEND, *[s_client_msg(255, text=False, big=True)] * 8,
                 S_ALLOW_BACKEND, S_ALLOW_BACKEND, bytes([11, 0]))
    session_seed("ping-both", bytes([12]), bytes([12 | 0x10]), s_client_msg(5))
    # flags bit 2: permessage-deflate on both legs; each message op then
    # takes one more byte, whose low bit compresses it.
    z, clear = bytes([1]), bytes([0])
    session_seed("deflate", s_client_msg(200) + z, s_backend_msg(200) + z,
                 s_client_msg(40, text=False, fragments=3) + z, s_backend_msg(30) + clear,
                 s_backend_msg(250, big=True, fragments=2) + z, flags=4)
    session_seed("deflate-reconnect", s_client_msg(100) + z, S_DROP_EOF, s_client_msg(120) + z, S_WAIT,
                 s_client_msg(90, text=False) + z, s_backend_msg(60) + z, flags=4)
    session_seed("deflate-limit", s_client_msg(200) + z, s_client_msg(10, big=True) + z, flags=5)


if __name__ == "__main__":
    ws_corpus()
    handshake_corpus()
    config_corpus()
    tls_corpus()
    session_corpus()
