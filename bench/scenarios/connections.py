"""Idle connections with heartbeats in steps, held by helper processes (`bench.conn_worker`), with
the servers' memory and CPU read from /proc."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.progress import Progress

from bench import procs

HEARTBEAT_INTERVAL = 10.0  # DESIGN.md §4: a heartbeat every 10 s
CONNECT_CHUNK = 1000  # idle connections per server opened per batch of fresh tickets


class ConnWorkers:
    """Helper processes that hold idle connections (`bench.conn_worker`)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for _ in range(self.count):
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.conn_worker",
                    "--interval",
                    str(HEARTBEAT_INTERVAL),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**24,
                )
            )

    async def _ask(self, proc: asyncio.subprocess.Process, command: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(orjson.dumps(command) + b"\n")
        await proc.stdin.drain()
        answer: dict[str, Any] = orjson.loads(await proc.stdout.readline())
        return answer

    async def open(self, urls: list[str]) -> dict[str, int]:
        shares = [urls[i :: self.count] for i in range(self.count)]
        answers = await asyncio.gather(
            *(
                self._ask(p, {"cmd": "open", "urls": share})
                for p, share in zip(self.procs, shares, strict=True)
            )
        )
        return {k: sum(a[k] for a in answers) for k in ("opened", "failed", "open")}

    async def stats(self) -> dict[str, int]:
        answers = await asyncio.gather(*(self._ask(p, {"cmd": "stats"}) for p in self.procs))
        return {k: sum(a[k] for a in answers) for k in ("open", "heartbeats", "acks")}

    async def close(self) -> None:
        await asyncio.gather(*(self._ask(p, {"cmd": "close"}) for p in self.procs), return_exceptions=True)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=30)
            except TimeoutError:
                proc.kill()
        self.procs = []


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


UrlMaker = Callable[[str, int, int], Awaitable[list[str]]]


async def connections(
    *,
    name: str,
    servers: dict[str, str],
    steps: list[int],
    make_urls: UrlMaker,
    progress: Progress,
    measure_s: float = HEARTBEAT_INTERVAL,
) -> dict[str, Any]:
    """Idle connections with heartbeats, `steps` connections per server; memory and CPU per server.

    `make_urls(server_url, first, count)` gives the connect URLs (with tickets) of `count` more
    connections to that server.
    """
    pids = {sid: procs.pid_listening_on(port_of(url)) for sid, url in servers.items()}
    if any(pid is None for pid in pids.values()):
        raise RuntimeError(f"{name}: cannot find the process of every server: {pids}")
    rss0 = {sid: procs.rss_bytes(pid) for sid, pid in pids.items() if pid}
    per_worker = 5000
    workers = ConnWorkers(max(1, -(-steps[-1] * len(servers) // per_worker)))
    await workers.start()
    task = progress.add_task(f"{name}: idle connections", total=steps[-1] * len(servers))
    results: list[dict[str, Any]] = []
    have = 0
    try:
        for target in steps:
            # tickets live 60 s: make them a chunk at a time, just before the chunk connects
            failed = 0
            for first in range(have, target, CONNECT_CHUNK):
                count = min(CONNECT_CHUNK, target - first)
                urls: list[str] = []
                for url in servers.values():
                    urls += await make_urls(url, first, count)
                opened = await workers.open(urls)
                failed += opened["failed"]
                progress.update(task, completed=opened["open"])
            have = target
            await asyncio.sleep(2)
            cpu0 = {sid: procs.cpu_seconds(pid) for sid, pid in pids.items() if pid}
            acks0 = (await workers.stats())["acks"]
            t0 = time.perf_counter()
            await asyncio.sleep(measure_s)
            elapsed = time.perf_counter() - t0
            stats = await workers.stats()
            cpu1 = {sid: procs.cpu_seconds(pid) for sid, pid in pids.items() if pid}
            rss = {sid: procs.rss_bytes(pid) for sid, pid in pids.items() if pid}
            heartbeats_per_s = (stats["acks"] - acks0) / elapsed
            cpu_pct = {sid: round(100 * (cpu1[sid] - cpu0[sid]) / elapsed, 1) for sid in cpu0}
            results.append(
                {
                    "per_server": target,
                    "open": stats["open"],
                    "failed": failed,
                    "heartbeat_acks_per_s": round(heartbeats_per_s, 1),
                    "cpu_pct": cpu_pct,
                    "rss_mb": {sid: round(v / 2**20, 1) for sid, v in rss.items()},
                    "bytes_per_connection": round(
                        sum(rss[s] - rss0[s] for s in rss) / max(1, stats["open"]), 0
                    ),
                }
            )
    finally:
        progress.remove_task(task)
        await workers.close()
    top = results[-1]
    total_cpu = sum(top["cpu_pct"].values()) / 100
    if len(results) > 1:  # the slope between the first and the last step: heap already grown by
        # earlier connections (or earlier runs) does not hide in the first step's figure
        bottom = results[0]
        grown = sum(top["rss_mb"].values()) - sum(bottom["rss_mb"].values())
        top["bytes_per_connection"] = round(grown * 2**20 / max(1, top["open"] - bottom["open"]), 0)
    return {
        "servers": {
            sid: {"pid": pid, "rss_mb_before": round(rss0[sid] / 2**20, 1)} for sid, pid in pids.items()
        },
        "steps": results,
        "max_per_server": top["open"] // max(1, len(servers)),
        "bytes_per_connection": top["bytes_per_connection"],
        "heartbeat_cpu_pct_per_server": round(100 * total_cpu / max(1, len(servers)), 1),
        "cpu_us_per_heartbeat": round(1e6 * total_cpu / top["heartbeat_acks_per_s"], 1)
        if top["heartbeat_acks_per_s"]
        else None,
    }
