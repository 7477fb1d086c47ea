"""`python -m bench.probe --rate 250 --seconds 20`: one steady 1:1 step against the running stack,
with the CPU each process of the stack used during it.

The tool for profiling between full bench runs: it prints the step's figures (as a ladder step of
`make bench` reports them) and, per process (PostgreSQL, Redis, Cassandra, every supervisord
program, this client), CPU seconds and the share of one core they used while the step ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from pathlib import Path

import uvloop
from rich.console import Console
from rich.progress import Progress

from bench import procs, scenarios, stack
from bench.client import Api, ChatConnection
from bench.measure import Recorder, Traffic
from bench.scenarios import Target


def _stack_pids() -> dict[str, list[int]]:
    """Processes of the stack by role, from /proc command lines."""
    roles = {
        "cassandra": "CassandraDaemon",
        "postgres": "postgres",
        "redis": "redis-server",
        "chat": "daphne",
        "api": "gunicorn",
        "worker-sync": "-Q sync",
        "worker-push": "-Q push",
        "worker-sweep": "-Q sweep",
        "beat": "celery -A chatproject beat",
        "nginx": "nginx",
    }
    out: dict[str, list[int]] = {role: [] for role in roles}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for role, needle in roles.items():
            if needle in cmd:
                out[role].append(int(proc.name))
                break
    out["bench client"] = [os.getpid()]
    return out


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for role, role_pids in pids.items():
        seconds = 0.0
        for pid in role_pids:
            with contextlib.suppress(OSError):
                seconds += procs.cpu_seconds(pid)
        total[role] = seconds
    return total


async def _probe(rate: float, seconds: float, pairs: int, console: Console) -> None:
    population = await asyncio.to_thread(
        stack.bench_setup, pairs=pairs, groups=0, group_size=0, sync_partners=0
    )
    api = Api(stack.api_base_url())
    recorder = Recorder()
    target = Target(name="pipeline")
    conns: dict[int, ChatConnection] = {}
    gate = asyncio.Semaphore(32)

    async def one(user: stack.BenchUser) -> None:
        async with gate:
            url, ticket = await target.assign(api, user)
            conn = ChatConnection(user_id=user.user_id, on_frame=recorder.on_frame)
            await conn.open(url, ticket)
            conns[user.user_id] = conn

    await asyncio.gather(*(one(u) for u in population.users))
    traffics: list[Traffic] = []
    pids = _stack_pids()
    with Progress(console=console, transient=True) as progress:
        runner = scenarios.Runner(recorder, progress, traffics, drain=10)
        before, wall = _cpu(pids), time.perf_counter()
        step, _ = await runner.drive(
            name="probe", senders=scenarios.pair_senders(conns, population.pairs), rate=rate, duration=seconds
        )
        after, wall = _cpu(pids), time.perf_counter() - wall
    await scenarios.close_all(conns)
    api.close()
    console.print({k: v for k, v in step.items() if k != "errors"} | {"errors": dict(step["errors"])})
    console.print(f"CPU during the step ({wall:.1f} s wall, share of one core):")
    for role in sorted(pids, key=lambda r: after[r] - before[r], reverse=True):
        used = after[role] - before[role]
        console.print(f"  {role:14} {used:7.1f} s  {100 * used / wall:5.0f} %  ({len(pids[role])} processes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=250.0, help="messages per second offered")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=250)
    args = parser.parse_args()
    procs.raise_fd_limit()
    stack.django_setup()
    uvloop.run(_probe(args.rate, args.seconds, args.pairs, Console()))


if __name__ == "__main__":
    main()
