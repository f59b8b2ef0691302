#!/usr/bin/python3
"""A TCP relay that adds a one-way delay in each direction: the uplink's latency for the boot storm.

Usage: delay-relay.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS

The kernel here has no netem, so propagation delay is modelled in user space: every piece of data
read from one side is written to the other DELAY_MS later, in order, in both directions (a
round trip costs 2 x DELAY_MS). Bandwidth is the shaped link's business (tc htb), not the
relay's; the relay only holds what arrives within DELAY_MS (bandwidth x delay bytes), reading on
only as fast as the other side takes it, so TCP's flow control still works end to end.
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
            # Bounded buffering: no more than about a delay's worth of reads waiting.
            while queue.qsize() > 64:
                await asyncio.sleep(delay / 8)
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((loop.time() + delay, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def handle(client_reader, client_writer, target, delay):
    host, port = target
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, upstream_writer, delay), pipe(upstream_reader, client_writer, delay))
    for w in (client_writer, upstream_writer):
        try:
            w.close()
        except OSError:
            pass


async def main():
    listen_host, listen_port = sys.argv[1].rsplit(":", 1)
    target_host, target_port = sys.argv[2].rsplit(":", 1)
    delay = float(sys.argv[3]) / 1000
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (target_host, int(target_port)), delay), listen_host, int(listen_port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
