#!/usr/bin/python3
"""End to end: the python `websockets` library (a client nobody here wrote)
talks wss:// to the tether binary in front of the demo backend.

Checks: text and binary echo byte-exact, a 512 KiB message, subprotocol
negotiation, the backend's time push, a client close with 4000 "bye",
client-leg pings on an idle connection, and byte-exact 1 MiB echoes with
permessage-deflate negotiated on the client leg, over wss:// and ws://.
"""
import asyncio
import json
import os
import ssl
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets 10.4)
from websockets.legacy.client import WebSocketClientProtocol  # noqa: E402

SCRIPT_TIMEOUT = 60
STEP = 10  # seconds, bound on any single await


def is_time_push(message):
    if not isinstance(message, str) or not message.startswith('{"type":"time"'):
        return False
    try:
        return json.loads(message).get("type") == "time"
    except ValueError:
        return False


async def recv_echo(ws, timeout=STEP):
    """Next message that is not one of the backend's time pushes."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        e2e.expect(left > 0, "no echo within %s s" % timeout)
        message = await asyncio.wait_for(ws.recv(), left)
        if not is_time_push(message):
            return message


class CountingProtocol(WebSocketClientProtocol):
    """Counts the pings tether sends (websockets answers them itself)."""

    pings_received = 0

    async def pong(self, data=b""):
        self.pings_received += 1
        await super().pong(data)


class Suite:
    def __init__(self, args):
        self.args = args
        self.ssl = ssl.create_default_context(cafile=os.path.join(args.certs, "ca.crt"))
        self.backend = e2e.start_backend(args, push_interval=1)
        cfg = {
            "listeners": [e2e.listener("main", tls=e2e.tls_block(args)), e2e.listener("plain")],
            "admin": {"bind": "127.0.0.1:0"},
            "log": {"level": "info", "format": "text"},
            "shutdown": {"drain_timeout": "1s"},
            "routes": [
                {"name": "idle", "match": {"path": "/idle"},
                 "upstream": {"url": self.backend.url},
                 "heartbeat": {"client": {"ping_interval": "200ms", "pong_timeout": "1s"}}},
                {"name": "echo", "match": {"path": "/"},
                 "upstream": {"url": self.backend.url},
                 "limits": {"max_message_size": "4MiB"}},
            ],
        }
        self.tether = e2e.Tether(args, cfg, listeners=("main", "plain"))
        self.port = self.tether.port("main")

    def connect(self, path="/echo", tls=True, **kw):
        kw.setdefault("ping_interval", None)  # our own pings would hide tether's
        kw.setdefault("max_size", 8 * 1024 * 1024)
        kw.setdefault("open_timeout", STEP)
        kw.setdefault("close_timeout", 3)
        kw.setdefault("compression", None)
        if not tls:
            port = self.tether.port("plain")
            return websockets.connect("ws://127.0.0.1:%d%s" % (port, path), **kw)
        return websockets.connect(
            "wss://localhost:%d%s" % (self.port, path), ssl=self.ssl,
            host="127.0.0.1", port=self.port, server_hostname="localhost", **kw)

    # ------------------------------------------------------------- cases --

    async def text_echo(self):
        async with self.connect() as ws:
            for text in ["hello", "h\u00e9llo w\u00f6rld \u2713 \U0001F600", "", " " * 3,
                         '{"type":"chat","body":"x"}']:
                await ws.send(text)
                got = await recv_echo(ws)
                e2e.expect(isinstance(got, str), "text came back as %s" % type(got).__name__)
                e2e.expect(got == text, "text echo differs: sent %r got %r" % (text, got))

    async def binary_echo(self):
        async with self.connect() as ws:
            for data in [bytes(range(256)) * 4, b"\x00", b"", os.urandom(70000),
                         "text-like but binary".encode()]:
                await ws.send(data)
                got = await recv_echo(ws)
                e2e.expect(isinstance(got, bytes), "binary came back as %s" % type(got).__name__)
                e2e.expect(got == data, "binary echo differs (%d bytes sent, %d back)" %
                           (len(data), len(got)))

    async def large_message(self):
        async with self.connect() as ws:
            data = os.urandom(512 * 1024)
            await ws.send(data)
            got = await recv_echo(ws)
            e2e.expect(got == data, "512 KiB binary echo differs (%d bytes back)" % len(got))
            text = ("0123456789abcdef\u00e9" * 40000)[:512 * 1024 // 2]
            await ws.send(text)
            got = await recv_echo(ws)
            e2e.expect(got == text, "512 KiB-ish text echo differs")

    async def subprotocol(self):
        async with self.connect(subprotocols=["chat.v1"]) as ws:
            e2e.expect(ws.subprotocol == "chat.v1",
                       "subprotocol offered chat.v1, got %r" % ws.subprotocol)
            await ws.send("after subprotocol")
            e2e.expect(await recv_echo(ws) == "after subprotocol", "echo after subprotocol")

    async def time_push(self):
        async with self.connect() as ws:
            message = await asyncio.wait_for(ws.recv(), 5)
            e2e.expect(is_time_push(message), "first message is not a time push: %r" % message)
            now_ms = json.loads(message)["now_ms"]
            e2e.expect(abs(now_ms - time.time() * 1000) < 60000, "odd now_ms %r" % now_ms)

    async def close_4000(self):
        ws = await self.connect()
        await ws.send("before close")
        e2e.expect(await recv_echo(ws) == "before close", "echo before close")
        t0 = time.monotonic()
        await asyncio.wait_for(ws.close(4000, "bye"), STEP)
        elapsed = time.monotonic() - t0
        e2e.expect(ws.close_code == 4000,
                   "close code seen by the client %r (reason %r), want 4000" %
                   (ws.close_code, ws.close_reason))
        e2e.expect(elapsed < 2.5, "closing handshake took %.2f s (no close frame back?)" % elapsed)
        e2e.log("close reply: code %s reason %r in %.3f s" % (ws.close_code, ws.close_reason, elapsed))

    async def idle_heartbeat(self):
        async with self.connect("/idle", create_protocol=CountingProtocol) as ws:
            await ws.send("hi")
            e2e.expect(await recv_echo(ws) == "hi", "echo before idling")
            before = ws.pings_received
            await asyncio.sleep(2.0)
            pings = ws.pings_received - before
            e2e.log("pings received while idle for 2 s: %d" % pings)
            e2e.expect(ws.open, "connection closed while idle (code %s)" % ws.close_code)
            e2e.expect(pings >= 3, "only %d pings from tether in 2 s (ping_interval 200ms)" % pings)
            await ws.send("still there")
            e2e.expect(await recv_echo(ws) == "still there", "echo after idling")
        text = self.tether.metrics()
        sent = e2e.metric_value(text, "tether_pings_sent_total", route="idle", leg="client")
        timeouts = e2e.metric_value(text, "tether_heartbeat_timeouts_total", route="idle", leg="client")
        e2e.expect(sent is not None and sent >= 3,
                   "tether_pings_sent_total{route=idle,leg=client} = %r" % sent)
        e2e.expect(not timeouts, "heartbeat timeouts on a live client: %r" % timeouts)

    async def deflate_large(self):
        await self.deflate_large_over(True)
        await self.deflate_large_over(False)

    async def deflate_large_over(self, tls):
        async with self.connect(compression="deflate", tls=tls) as ws:
            e2e.log("extensions negotiated on the client leg: %s" %
                    [type(x).__name__ for x in ws.extensions])
            # tether answers the offer, with no context takeover either way
            # (no zlib state per idle session).
            pmd = [x for x in ws.extensions if type(x).__name__ == "PerMessageDeflate"]
            e2e.expect(len(pmd) == 1, "permessage-deflate not negotiated: %r" % ws.extensions)
            e2e.expect(pmd[0].remote_no_context_takeover and pmd[0].local_no_context_takeover,
                       "context takeover not off both ways: %r" % vars(pmd[0]))
            random_blob = os.urandom(1024 * 1024)
            text = "".join("lorem ipsum dolor sit amet %07d\n" % i for i in range(40000))
            text = text[:1024 * 1024]
            e2e.expect(len(text.encode()) == 1024 * 1024, "test text is not 1 MiB")
            await ws.send(random_blob)
            await ws.send(text)
            first = await recv_echo(ws, 20)
            second = await recv_echo(ws, 20)
            e2e.expect(isinstance(first, bytes) and first == random_blob,
                       "1 MiB binary echo differs (%s, %d)" % (type(first).__name__, len(first)))
            e2e.expect(isinstance(second, str) and second == text,
                       "1 MiB text echo differs (%s, %d)" % (type(second).__name__, len(second)))
            # And the session still works after two full-size messages.
            await ws.send("small")
            e2e.expect(await recv_echo(ws) == "small", "echo after the big messages")


def main():
    e2e.install_guards(SCRIPT_TIMEOUT)
    args = e2e.parse_args()
    results = e2e.RESULTS
    try:
        suite = Suite(args)
        loop = asyncio.new_event_loop()
        for name in ["text_echo", "binary_echo", "large_message", "subprotocol", "time_push",
                     "close_4000", "idle_heartbeat", "deflate_large"]:
            coro_fn = getattr(suite, name)
            results.run(name, lambda: loop.run_until_complete(
                asyncio.wait_for(coro_fn(), 40)))
        loop.close()
        results.check(suite.tether.proc.running(), "tether_still_running",
                      "tether exited during the tests")
    except Exception as e:  # noqa: BLE001 - set-up failures count too
        results.fail("setup", "%s: %s" % (type(e).__name__, e))
    finally:
        results.finish()


if __name__ == "__main__":
    main()
