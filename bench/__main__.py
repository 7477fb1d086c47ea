"""`python -m bench [--quick]`: run every scenario against the pipeline and the baseline relay.

Expects the stack of `make run` to be up (`bench/run.sh`, behind `make bench`, starts it when it is
not). Sends traffic only to 127.0.0.1, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import procs, report, scenarios, stack
from bench.client import Api, ChatConnection
from bench.measure import Recorder, Traffic
from bench.scenarios import Target


@dataclass(frozen=True)
class Config:
    mode: str
    pairs: int
    groups: int
    group_size: int
    rates: list[float]
    step_s: float
    drain_s: float
    fanout_rates: list[float]
    fanout_s: float
    load_rate: float
    load_s: float
    missed: int
    conn_steps: list[int]
    conn_measure_s: float
    api_logins: int
    sync_partners: int = 20
    warmup_rate: float = 125
    warmup_s: float = 3  # at least; every pair sends once before the ladder (caches, JIT, pools)
    extra: dict[str, Any] = field(default_factory=dict)


FULL = Config(
    mode="full",
    pairs=500,
    groups=2,
    group_size=100,
    rates=[100, 250, 500, 1000, 2000, 4000],
    step_s=20,
    drain_s=10,
    fanout_rates=[5, 10, 20, 40],
    fanout_s=10,
    load_rate=500,
    load_s=20,
    missed=1000,
    conn_steps=[2500, 5000, 7500, 10000],
    conn_measure_s=10,
    api_logins=40,
)
QUICK = Config(
    mode="quick",
    pairs=250,
    groups=2,
    group_size=100,
    rates=[100, 250, 500, 1000, 2000],
    step_s=3,
    drain_s=3,
    fanout_rates=[5, 10, 20],
    fanout_s=3,
    load_rate=500,
    load_s=5,
    missed=1000,
    conn_steps=[1000, 2000],
    conn_measure_s=2,
    api_logins=10,
)


def settings_registry_refresh() -> float:
    from django.conf import settings

    return float(settings.CHAT_REGISTRY_REFRESH)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conn_steps(config: Config) -> tuple[list[int], str | None]:
    """The connection steps, capped by the file-descriptor hard limit of one process."""
    hard = procs.raise_fd_limit()
    cap = hard - 200  # the server's own files, listening sockets, database connections
    if config.conn_steps[-1] <= cap:
        return config.conn_steps, None
    steps = sorted({min(s, cap) for s in config.conn_steps})
    return steps, f"capped at {cap} per server by the file-descriptor hard limit ({hard})"


class Bench:
    def __init__(self, config: Config, population: stack.Population, relay_url: str) -> None:
        self.config = config
        self.pop = population
        self.relay_url = relay_url
        self.api = Api(stack.api_base_url())
        self.recorder = Recorder()
        self.pipeline_traffic: list[Traffic] = []
        self.baseline_traffic: list[Traffic] = []
        self.runner: scenarios.Runner
        self.result: dict[str, Any] = {}
        self.phase_s: dict[str, float] = {}  # wall seconds of each phase, for the run-time budget
        self.idle_issued = 0  # idle connections given a device login so far

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phase_s[name] = round(time.perf_counter() - start, 1)

    async def _login_some(self) -> dict[int, tuple[str, str]]:
        """Log a sample of the users in through the API (the rest use their device tokens with
        `GET chat/server`): login answers with the chat server and a ticket (discovery)."""
        out: dict[int, tuple[str, str]] = {}
        for user in self.pop.users[: self.config.api_logins]:
            answer = await self.api.login(
                username=user.username, password=stack.BENCH_PASSWORD, device_name="bench-login"
            )
            out[user.user_id] = (answer["chat_server"]["url"], answer["ticket"])
        return out

    async def _connect(
        self, target: Target, progress: Progress, first: dict[int, tuple[str, str]] | None = None
    ) -> dict[int, ChatConnection]:
        users = self.pop.users
        gate = asyncio.Semaphore(32)
        conns: dict[int, ChatConnection] = {}
        task = progress.add_task(f"{target.name}: connect {len(users)} users", total=len(users))

        async def one(user: stack.BenchUser) -> None:
            async with gate:
                if first and user.user_id in first:
                    url, ticket = first[user.user_id]
                else:
                    url, ticket = await target.assign(self.api, user)
                conn = ChatConnection(user_id=user.user_id, on_frame=self.recorder.on_frame)
                await conn.open(url, ticket)
                conns[user.user_id] = conn
                progress.advance(task)

        await asyncio.gather(*(one(u) for u in users))
        progress.remove_task(task)
        return conns

    async def pipeline(self, progress: Progress) -> dict[str, Any]:
        c = self.config
        target = Target(name="pipeline")
        self.runner = scenarios.Runner(self.recorder, progress, self.pipeline_traffic, c.drain_s)
        with self._phase("pipeline connections"):  # first, while the servers' heaps are fresh
            out: dict[str, Any] = {
                "connections": await self._connections(
                    "pipeline", stack.chat_servers_direct(), progress, self._pipeline_urls
                )
            }
        # discovery counts connections from the registry, refreshed every CHAT_REGISTRY_REFRESH s:
        # let it see that the idle connections are gone before the users log in
        with self._phase("pipeline login and connect"):
            await asyncio.sleep(settings_registry_refresh() + 1)
            first = await self._login_some()
            conns = await self._connect(target, progress, first)
        out["spread"] = scenarios.spread(conns)
        with self._phase("pipeline 1:1 ladder"):
            out["ladder"] = await self._ladder("pipeline", conns)
            out["unsettled_after_ladder"] = await scenarios.settle(self.pipeline_traffic, within=20)
        sync_login = await self.api.login(
            username=self.pop.sync_user.username, password=stack.BENCH_PASSWORD, device_name="bench-sync"
        )
        from chat.domain.snowflake import snowflake_min_for_time

        since = snowflake_min_for_time(int(time.time() * 1000))
        with self._phase("pipeline history and sync"):
            out["history_sync"] = await scenarios.history_and_sync(
                api=self.api,
                conns=conns,
                pairs=self.pop.pairs,
                sync_login=sync_login,
                sync_partners=self.pop.sync_partners,
                missed=c.missed,
                rate=c.load_rate,
                duration=c.load_s,
                runner=self.runner,
                since=since,
            )
        with self._phase("pipeline groups"):
            out["fanout"] = await self._fanout("pipeline", conns)
            out["unsettled"] = await scenarios.settle(self.pipeline_traffic, within=20)
        await scenarios.close_all(conns)
        return out

    async def _ladder(self, name: str, conns: dict[int, ChatConnection]) -> list[dict[str, Any]]:
        """The warm-up, then the 1:1 ladder."""
        await self._warm_up(conns)
        return await self.runner.steps(
            name=f"{name} 1:1",
            senders=scenarios.pair_senders(conns, self.pop.pairs),
            rates=self.config.rates,
            duration=self.config.step_s,
        )

    async def _warm_up(self, conns: dict[int, ChatConnection]) -> None:
        """A short step before the ladder, not reported: the first send of each conversation
        fills caches (send rules, prepared statements, connection pools) on either side."""
        c = self.config
        pairs = self.pop.pairs
        await self.runner.drive(
            name="warm-up",
            senders=scenarios.pair_senders(conns, pairs),
            rate=c.warmup_rate,
            duration=max(c.warmup_s, len(pairs) / c.warmup_rate),
        )

    async def _fanout(self, name: str, conns: dict[int, ChatConnection]) -> list[dict[str, Any]]:
        """Group fan-out: each step's rate is messages/s, each delivered to 99 members."""
        steps = await self.runner.steps(
            name=f"{name} groups",
            senders=scenarios.group_senders(conns, [(g.id, g.member_ids) for g in self.pop.groups]),
            rates=self.config.fanout_rates,
            duration=self.config.fanout_s,
        )
        return [s for s in steps if "skipped" not in s]

    async def _pipeline_urls(self, server_url: str, first: int, count: int) -> list[str]:
        """Idle connections to one chat server, with tickets from the ticket service."""
        start, self.idle_issued = self.idle_issued, self.idle_issued + count  # numbered across servers
        tickets = await asyncio.to_thread(stack.idle_tickets_issue, start, count)
        return [f"{server_url}?ticket={t}" for t in tickets]

    async def _relay_urls(self, server_url: str, first: int, count: int) -> list[str]:
        users = self.pop.users
        return [f"{server_url}?ticket={users[(first + i) % len(users)].user_id}" for i in range(count)]

    async def _connections(
        self, name: str, servers: dict[str, str], progress: Progress, make_urls: scenarios.UrlMaker
    ) -> dict[str, Any]:
        steps, note = _conn_steps(self.config)
        result = await scenarios.connections(
            name=name,
            servers=servers,
            steps=steps,
            make_urls=make_urls,
            progress=progress,
            measure_s=self.config.conn_measure_s,
        )
        result["note"] = note
        return result

    async def baseline(self, progress: Progress) -> dict[str, Any]:
        c = self.config
        target = Target(name="baseline", relay_url=self.relay_url)
        self.runner = scenarios.Runner(self.recorder, progress, self.baseline_traffic, c.drain_s)
        with self._phase("baseline connections"):
            out: dict[str, Any] = {
                "connections": await self._connections(
                    "baseline", {"relay": self.relay_url}, progress, self._relay_urls
                )
            }
        with self._phase("baseline 1:1 ladder and groups"):
            conns = await self._connect(target, progress)
            out["ladder"] = await self._ladder("baseline", conns)
            out["fanout"] = await self._fanout("baseline", conns)
        await scenarios.close_all(conns)
        return out

    async def run(self, console: Console) -> None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            overall = progress.add_task("make bench", total=2)
            self.result["pipeline"] = await self.pipeline(progress)
            progress.advance(overall)
            self.result["baseline"] = await self.baseline(progress)
            progress.advance(overall)
        self.api.close()


def _storage_check(bench: Bench) -> tuple[int, int]:
    """Count every message of the pipeline's run in Cassandra: (lost, duplicated), and per step."""
    counts = stack.stored_counts(
        conversation_ids=bench.pop.conversations().keys(), after_id=bench.pop.run_start_id
    )
    lost = duplicated = 0
    per_traffic: dict[int, tuple[int, int]] = {}
    for traffic in bench.pipeline_traffic:
        t_lost = sum(1 for cmid in traffic.sent if counts.get(cmid, 0) == 0)
        t_dup = sum(1 for cmid in traffic.sent if counts.get(cmid, 0) > 1)
        per_traffic[id(traffic)] = (t_lost, t_dup)
        lost += t_lost
        duplicated += t_dup
    # the ladder's and fan-out's steps carry their own counts
    steps = [s for s in bench.result["pipeline"]["ladder"] if "skipped" not in s]
    ladder_traffic = [t for t in bench.pipeline_traffic if t.name == "pipeline 1:1"]
    for step, traffic in zip(steps, ladder_traffic, strict=False):
        step["stored_lost"], step["stored_duplicated"] = per_traffic[id(traffic)]
    group_traffic = [t for t in bench.pipeline_traffic if t.name == "pipeline groups"]
    for step, traffic in zip(bench.result["pipeline"]["fanout"], group_traffic, strict=False):
        step["stored_lost"], step["stored_duplicated"] = per_traffic[id(traffic)]
    return lost, duplicated


def _headline(side: dict[str, Any]) -> dict[str, Any]:
    ladder = side["ladder"]
    fan = side["fanout"]
    top_fan = max((s for s in fan if s.get("sustained")), key=lambda s: s["offered_per_s"], default=None)
    conns = side["connections"]
    return {
        "max_sustained_msgs_per_s": report.max_sustained(ladder),
        "p99_ms_at_500": report.at_rate(ladder, 500, "receive_p99_ms"),
        "p50_ms_at_500": report.at_rate(ladder, 500, "receive_p50_ms"),
        "ack_p99_ms_at_500": report.at_rate(ladder, 500, "ack_p99_ms"),
        "fanout_max_deliveries_per_s": top_fan["delivered_per_s"] if top_fan else 0.0,
        "fanout_p99_ms": top_fan["receive_p99_ms"] if top_fan else None,
        "connections_per_server": conns["max_per_server"],
        "bytes_per_connection": conns["bytes_per_connection"],
        "heartbeat_cpu_pct": conns["heartbeat_cpu_pct_per_server"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short run (make bench QUICK=1)")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    console = Console(width=None if sys.stdout.isatty() else 130)
    started = time.perf_counter()
    procs.raise_fd_limit()
    stack.django_setup()
    out_dir = stack.output_dir()
    deadline = time.monotonic() + 60  # a stack started just now registers its chat servers first
    while len(servers := stack.chat_servers()) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    if len(servers) < 2:
        console.print(f"[red]bench: {len(servers)} chat server(s) registered; start the stack (make run)")
        sys.exit(1)
    console.print(f"bench ({config.mode}): setting up users and conversations")
    population = stack.bench_setup(
        pairs=config.pairs,
        groups=config.groups,
        group_size=config.group_size,
        sync_partners=config.sync_partners,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    members_file = out_dir / "relay-members.json"
    report.write_json({str(k): list(v) for k, v in population.conversations().items()}, members_file)
    port = _free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.relay", "--port", str(port), "--members", str(members_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        relay.stdout.readline()  # "relay listening ..."
        bench = Bench(config, population, f"ws://127.0.0.1:{port}/ws/chat")
        uvloop.run(bench.run(console))
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    console.print("bench: counting the run's messages in Cassandra")
    lost, duplicated = _storage_check(bench)
    result = bench.result
    pipeline_head = _headline(result["pipeline"])
    baseline_head = _headline(result["baseline"])
    result["pipeline"].update(pipeline_head)
    result["baseline"].update(baseline_head)
    hs = result["pipeline"].pop("history_sync")
    result.update(
        {
            "mode": config.mode,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round(time.perf_counter() - started, 1),
            "phase_s": bench.phase_s,
            "machine": report.machine(),
            "config": {k: v for k, v in config.__dict__.items() if k != "extra"},
            "headline": {"pipeline": pipeline_head, "baseline": baseline_head},
            "ratios": {k: report.ratio(pipeline_head[k], baseline_head[k]) for k in pipeline_head},
            "history": hs["history"],
            "sync": hs["sync"],
            "load_during_history_sync": hs["load"],
            "connections": result["pipeline"]["connections"],
            "baseline_connections": result["baseline"]["connections"],
            "lost": lost,
            "duplicated": duplicated,
        }
    )
    report.print_tables(result, console)
    report.write_json(result, out_dir / "latest.json")
    report.write_chart(result, out_dir / "latest.png")
    console.print(
        f"bench: wrote {out_dir / 'latest.json'} and {out_dir / 'latest.png'} in {result['duration_s']} s"
    )


if __name__ == "__main__":
    main()
