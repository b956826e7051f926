#!/usr/bin/env python3
"""A wss:// client for scripts/container-test.sh.

  wss_client.py URL CA roundtrip   one echo through tether to the demo backend
  wss_client.py URL CA hold        one echo, prints "ready", then waits for the
                                   close and prints "close <code> <seconds>"
The server name checked is "localhost" (the dev certificate's name), whatever
address URL names, so that a pod IP works.
"""
import asyncio
import ssl
import sys
import time

import websockets


async def echo(ws, text):
    await ws.send(text)
    # The backend echoes verbatim, and may push {"type":"time",...} in between.
    for _ in range(5):
        reply = await asyncio.wait_for(ws.recv(), 10)
        if reply == text:
            return
        if not reply.startswith('{"type":"time"'):
            sys.exit(f"unexpected reply: {reply!r}")
    sys.exit("no echo")


async def main(url, ca, mode):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, server_hostname="localhost",
                                  open_timeout=10, ping_interval=None) as ws:
        await echo(ws, "hello through the container")
        if mode == "roundtrip":
            print("echo ok")
            return
        print("ready", flush=True)
        start = time.monotonic()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 120)
        except websockets.ConnectionClosed:
            pass
        print(f"close {ws.close_code} {time.monotonic() - start:.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
