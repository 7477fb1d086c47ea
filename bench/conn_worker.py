"""A helper process of the connections scenario: holds idle WebSockets and sends their heartbeats.

One process can hold only as many sockets as its file-descriptor limit allows, so the bench
spreads its idle connections over several of these. Commands arrive as JSON lines on stdin and
each gets one JSON line on stdout:

- `{"cmd": "open", "urls": ["ws://...?ticket=...", ...]}` → `{"opened": n, "failed": m, "open": total}`
- `{"cmd": "stats"}` → `{"open": n, "heartbeats": sent, "acks": received}`
- `{"cmd": "close"}` → closes every socket, answers, exits.

Each socket sends `{"type":"heartbeat"}` every `--interval` seconds (the first after a random part
of it, so heartbeats are spread evenly in time).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.procs import raise_fd_limit

HEARTBEAT = '{"type":"heartbeat"}'


class Holder:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sockets: dict[int, ClientConnection] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.heartbeats = 0
        self.acks = 0
        self._next = 0

    async def _keep(self, key: int, ws: ClientConnection) -> None:
        async def read() -> None:
            async for raw in ws:
                if raw == '{"type":"heartbeat.ack"}':
                    self.acks += 1

        reader = asyncio.get_running_loop().create_task(read())
        try:
            await asyncio.sleep(random.uniform(0, self.interval))
            while not reader.done():
                await ws.send(HEARTBEAT)
                self.heartbeats += 1
                await asyncio.sleep(self.interval)
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            self.sockets.pop(key, None)

    async def _open_one(self, url: str, gate: asyncio.Semaphore) -> bool:
        async with gate:
            try:
                ws = await connect(
                    url, compression=None, ping_interval=None, open_timeout=60, close_timeout=2
                )
            except Exception:
                return False
        self._next += 1
        self.sockets[self._next] = ws
        task = asyncio.get_running_loop().create_task(self._keep(self._next, ws))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def open(self, urls: list[str]) -> dict[str, Any]:
        gate = asyncio.Semaphore(100)
        results = await asyncio.gather(*(self._open_one(u, gate) for u in urls))
        opened = sum(results)
        return {"opened": opened, "failed": len(urls) - opened, "open": len(self.sockets)}

    async def close(self) -> None:
        sockets = list(self.sockets.values())
        gate = asyncio.Semaphore(200)

        async def close_one(ws: ClientConnection) -> None:
            async with gate:
                await ws.close()

        await asyncio.gather(*(close_one(ws) for ws in sockets), return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()


async def _run(interval: float) -> None:
    holder = Holder(interval)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = orjson.loads(line)
        answer: dict[str, Any]
        if command["cmd"] == "open":
            answer = await holder.open(command["urls"])
        elif command["cmd"] == "stats":
            answer = {"open": len(holder.sockets), "heartbeats": holder.heartbeats, "acks": holder.acks}
        else:
            await holder.close()
            answer = {"closed": True}
        sys.stdout.write(orjson.dumps(answer).decode() + "\n")
        sys.stdout.flush()
        if command["cmd"] == "close":
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(_run(args.interval))


if __name__ == "__main__":
    main()
