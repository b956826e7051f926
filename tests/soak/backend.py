"""The soak's backend: one process per incarnation, SIGKILLed by soak.py.

Every message it receives and every message it sends is appended to a shared
log with one write(2) each, before anything else happens to it: the kernel
keeps those lines when the process is killed, so the log is the backend's
acknowledgement of what it really got and sent, across incarnations.

  R <sid> <inc>.<conn> <seq>   received client message <seq> on that connection
  S <sid> <inc>.<conn> <n>     about to send backend message <n> on that connection

SIGUSR1 stops the backend's own sends (the end of the run: quiesce, then check).
"""
import argparse
import asyncio
import os
import random
import signal
import sys

import websockets


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--incarnation", type=int, required=True)
    ap.add_argument("--max-gap", type=float, default=3.0)
    args = ap.parse_args()

    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    quiet = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, quiet.set)
    conns = 0

    async def handler(ws, path=None):
        nonlocal conns
        conns += 1
        cid = f"{args.incarnation}.{conns}"
        sid = ws.path.rsplit("/", 1)[-1]

        async def push():
            n = 0
            # Gaps up to max_gap, longer than the cutter's idle limit: only
            # tether's heartbeats keep such a link alive.
            while not quiet.is_set():
                await asyncio.sleep(random.uniform(0.2, args.max_gap))
                if quiet.is_set():
                    break
                n += 1
                os.write(log, f"S {sid} {cid} {n}\n".encode())
                await ws.send(f"b {cid} {n}")

        pusher = asyncio.create_task(push())
        try:
            async for msg in ws:
                # "c <sid> <seq>"
                seq = msg.rsplit(" ", 1)[-1]
                os.write(log, f"R {sid} {cid} {seq}\n".encode())
        except websockets.ConnectionClosed:
            pass
        finally:
            pusher.cancel()

    async with websockets.serve(handler, "127.0.0.1", args.port, ping_interval=None,
                                max_queue=None, reuse_address=True) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
