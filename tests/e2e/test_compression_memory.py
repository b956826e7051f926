#!/usr/bin/python3
"""End to end: what permessage-deflate costs an idle session. 2,000 wss://
sessions negotiate compression on the client leg, each sends one compressed
message and reads its echo, then idles. The same count without compression
is measured in a tether of its own. Compression must add no memory to an
idle session (no zlib state is kept between messages: the worker's shared
streams are reset per message), within 1 KiB of noise.

The binary under test here is the AddressSanitizer build (quarantine off, so
freed blocks are reused at once): its redzones and shadow memory put about
7 KiB on a session that costs about 3 KiB in a release build, so the
absolute bound here is the ASan figure's (MAX_ASAN_BYTES); run the script
with --tether pointing to a release build for the 6 KiB target
(TETHER_MEMORY_TARGET=6144), as bench/RESULTS.md records.
TETHER_MEMORY_CONTEXT_TAKEOVER=1 turns context takeover on both ways and
only reports the figures (each session's client leg then keeps an inflater).
"""
import asyncio
import os
import ssl
import sys
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

SESSIONS = 2000
MAX_ASAN_BYTES = 10 * 1024
TARGET_BYTES = int(os.environ.get("TETHER_MEMORY_TARGET", MAX_ASAN_BYTES))
TAKEOVER = os.environ.get("TETHER_MEMORY_CONTEXT_TAKEOVER") == "1"
MESSAGE = ('{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.5,"pad":"%s"}' % ("x" * 200)).encode()


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def client_frame(first_byte, payload):
    """A masked client frame (mask 0: the bytes are the payload)."""
    n = len(payload)
    if n < 126:
        head = bytes([first_byte, 0x80 | n])
    elif n < 65536:
        head = bytes([first_byte, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first_byte, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\0\0\xff\xff")
    return out[:-4]


async def read_frame(reader):
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0], await reader.readexactly(n)


class Suite:
    def __init__(self, args):
        self.args = args
        self.ctx = ssl.create_default_context(cafile=os.path.join(args.certs, "ca.crt"))
        self.backend = e2e.start_backend(args)
        cfg = {
            "listeners": [e2e.listener("main", tls=e2e.tls_block(args))],
            "log": {"level": "info", "format": "text", "access": False},
            "shutdown": {"drain_timeout": "1s"},
            "defaults": {"heartbeat": {"client": {"ping_interval": "0s"},
                                       "upstream": {"ping_interval": "0s"}}},
            "routes": [{"name": "echo", "match": {"path": "/"},
                        "upstream": {"url": self.backend.url}}],
        }
        if TAKEOVER:
            cfg["defaults"]["compression"] = {"context_takeover": True}
        self.cfg = cfg
        self.tether = None
        self.port = 0

    def start_tether(self, name):
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0:detect_leaks=0"
        self.tether = e2e.Tether(self.args, self.cfg, name=name, env=env)
        self.port = self.tether.port("main")

    async def open_one(self, compress):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ctx, server_hostname="localhost")
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if compress else ""
        writer.write(("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n%s\r\n" % offer).encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        e2e.expect(" 101 " in head.split("\r\n")[0], "no 101: %r" % head[:200])
        negotiated = "permessage-deflate" in head
        e2e.expect(negotiated == compress, "compression negotiated: %s, wanted %s" % (negotiated, compress))
        if compress:
            writer.write(client_frame(0xC1, deflate(MESSAGE)))
        else:
            writer.write(client_frame(0x81, MESSAGE))
        first, payload = await read_frame(reader)
        # The demo backend does not compress, so the echo comes back in clear.
        e2e.expect(first == 0x81 and payload == MESSAGE, "echo differs: %#x %r" % (first, payload[:60]))
        return writer

    async def open_many(self, compress, count):
        writers = []
        for start in range(0, count, 100):
            writers += await asyncio.gather(*[self.open_one(compress) for _ in range(start, min(start + 100, count))])
        return writers

    async def measure(self, compress):
        # Warm-up: the worker's shared zlib streams, TLS contexts and pools.
        warm = await self.open_many(compress, 50)
        await asyncio.sleep(0.5)
        before = rss(self.tether.pid)
        writers = await self.open_many(compress, SESSIONS)
        await asyncio.sleep(1.0)
        after = rss(self.tether.pid)
        for w in writers + warm:
            w.close()
        return (after - before) / SESSIONS

    def run_in(self, name, compress):
        self.start_tether(name)
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(self.measure(compress), 120))
        finally:
            loop.close()
            self.tether.stop()

    def idle_memory(self):
        plain = self.run_in("tether_plain", False)
        deflated = self.run_in("tether_deflate", True)
        e2e.log("idle wss:// session: %.0f B without compression, %.0f B with "
                "permessage-deflate negotiated and one message relayed%s" %
                (plain, deflated, " (context takeover)" if TAKEOVER else ""))
        if TAKEOVER:
            return
        e2e.expect(deflated < TARGET_BYTES,
                   "%.0f B per idle compressed session, target %d B" % (deflated, TARGET_BYTES))
        e2e.expect(deflated - plain < 1024,
                   "compression adds %.0f B per idle session (no zlib state should stay)" % (deflated - plain))


if __name__ == "__main__":
    e2e.run_steps(280, Suite, ["idle_memory"], alive=lambda suite: True)
