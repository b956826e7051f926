"""A TCP relay that resets any link silent in both directions for --idle
seconds, as a load balancer's idle timeout does (the model is
tests/support/idle_cutter.cpp). Prints its port; on SIGTERM prints its longest
stall (seconds) and the number of links it cut, and exits.
"""
import argparse
import asyncio
import signal
import socket
import struct
import time


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--idle", type=float, default=2.0)
    args = ap.parse_args()
    links = set()
    cuts = 0
    max_lag = 0.0

    class Link:
        def __init__(self, a, b):
            self.a, self.b = a, b
            self.last = time.monotonic()

        def reset(self):
            for w in (self.a, self.b):
                sock = w.get_extra_info("socket")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                w.transport.abort()

    async def pump(link, reader, writer):
        try:
            while data := await reader.read(65536):
                link.last = time.monotonic()
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except (OSError, RuntimeError):
            writer.transport.abort()

    async def serve(reader_a, writer_a):
        try:
            reader_b, writer_b = await asyncio.open_connection("127.0.0.1", args.target)
        except OSError:
            writer_a.transport.abort()
            return
        link = Link(writer_a, writer_b)
        links.add(link)
        try:
            await asyncio.gather(pump(link, reader_a, writer_b), pump(link, reader_b, writer_a))
        finally:
            links.discard(link)
            writer_a.transport.abort()
            writer_b.transport.abort()

    async def sweep():
        nonlocal cuts, max_lag
        period = args.idle / 8
        woke = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            # This process starved of CPU (a loaded machine) saw no bytes
            # meanwhile: not the links' silence. Credit them with the stall.
            lag = now - woke - period
            woke = now
            max_lag = max(max_lag, lag)
            if lag > period:
                for link in links:
                    link.last = min(now, link.last + lag)
            for link in [l for l in links if now - l.last >= args.idle]:
                cuts += 1
                links.discard(link)
                link.reset()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    sweeper = asyncio.create_task(sweep())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    sweeper.cancel()
    print(f"lag {max_lag:.3f} cuts {cuts}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
