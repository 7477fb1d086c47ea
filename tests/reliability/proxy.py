"""A TCP proxy for network faults between the stack's processes and a backing service.

Run as its own process (`python -m tests.reliability.proxy`), so that its forwarding never waits
on the test's clients: one listening port per route (`--route name=<listen port>:<host>:<port>`)
and a control port that takes one JSON command per line and answers `{"ok": true}`:

- `{"do": "pass", "route": R}`: forward as is (the default; ends latency and refusal);
- `{"do": "latency", "route": R, "ms": 200}`: every chunk leaves that much later, both ways
  (the order and the throughput are kept: a chunk waits for its own due time, not its elders');
- `{"do": "reset", "route": R}`: abort every open connection (RST), as a restarted or failed
  server looks to its clients; new connections are taken again at once;
- `{"do": "refuse", "route": R}`: reset what is open and refuse new connections (the port
  answers RST) until `pass`.

`route` may be `"*"` for every route. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CHUNK = 65536


@dataclass
class Route:
    name: str
    listen_port: int
    upstream: tuple[str, int]
    latency_s: float = 0.0
    refusing: bool = False
    open: set[asyncio.StreamWriter] = field(default_factory=set)

    def reset(self) -> None:
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()


async def _pipe(route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; with latency, a reader task stamps each chunk and this one writes it
    when it is due."""
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while data := await reader.read(CHUNK):
                await chunks.put((time.monotonic() + route.latency_s, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await chunks.put((0.0, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, data = await chunks.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(Exception):
            writer.close()  # the end of one direction closes the other side's socket


async def _serve(route: Route, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    if route.refusing:
        client_w.transport.abort()
        return
    try:
        upstream_r, upstream_w = await asyncio.open_connection(*route.upstream)
    except OSError:
        client_w.transport.abort()
        return
    route.open.update((client_w, upstream_w))
    try:
        await asyncio.gather(_pipe(route, client_r, upstream_w), _pipe(route, upstream_r, client_w))
    finally:
        route.open.discard(client_w)
        route.open.discard(upstream_w)


async def _control(
    routes: dict[str, Route], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while line := await reader.readline():
        command = json.loads(line)
        chosen = list(routes.values()) if command["route"] == "*" else [routes[command["route"]]]
        for route in chosen:
            match command["do"]:
                case "pass":
                    route.latency_s, route.refusing = 0.0, False
                case "latency":
                    route.latency_s = float(command["ms"]) / 1000
                case "reset":
                    route.reset()
                case "refuse":
                    route.refusing = True
                    route.reset()
        writer.write(b'{"ok": true}\n')
        await writer.drain()
    writer.close()


async def _main(routes: dict[str, Route], control_port: int) -> None:
    servers = []
    for route in routes.values():

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter, route: Route = route) -> None:
            await _serve(route, r, w)

        servers.append(await asyncio.start_server(serve, "127.0.0.1", route.listen_port))
    servers.append(await asyncio.start_server(lambda r, w: _control(routes, r, w), "127.0.0.1", control_port))
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def _route(spec: str) -> Route:
    name, rest = spec.split("=", 1)
    listen, host, port = rest.split(":")
    return Route(name=name, listen_port=int(listen), upstream=(host, int(port)))


class ProxyProcess:
    """The proxy as a child process of the test, with a client of its control port."""

    def __init__(self, upstreams: dict[str, tuple[str, int]]) -> None:
        from tests.stack import free_port

        self.ports = {name: free_port() for name in upstreams}
        self.upstreams = upstreams
        self.control_port = free_port()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        routes = [f"--route={n}={self.ports[n]}:{h}:{p}" for n, (h, p) in self.upstreams.items()]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.proxy", f"--control={self.control_port}", *routes],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def command(self, do: str, route: str = "*", **extra: float) -> None:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as sock:
            sock.sendall(json.dumps({"do": do, "route": route, **extra}).encode() + b"\n")
            assert json.loads(sock.makefile().readline()) == {"ok": True}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--route", action="append", default=[])
    args = parser.parse_args()
    table = {r.name: r for r in map(_route, args.route)}
    asyncio.run(_main(table, args.control))
