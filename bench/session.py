"""One run of `make bench`: the scenarios in order against the pipeline, then against the relay.

Pipeline: idle connections, then the users connect through discovery; the 1:1 ladder of the many
users, history and sync under load, group fan-out, the 20 pairs' ladder, and overload followed by
a normal step, then the cost of the change feed (rows per message, catch-up) and a slow consumer
(a member whose socket stops reading), each with users of its own. Baseline (the bare relay): idle
connections, the 1:1 ladder, group fan-out, the 20 pairs' ladder and the slow consumer. Every
pipeline step is metered (hop samples, the stack's CPU: `bench.meter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import procs, stack
from bench.client import Api, ChatConnection
from bench.config import Config
from bench.measure import Recorder
from bench.meter import StepMeter
from bench.scenarios import connections, feed, history_sync, overload, slow_consumer, traffic
from bench.scenarios.traffic import Runner, Target

IDLE_S = 2.0  # the stack's CPU with the users connected and no traffic, before the first ladder


def settings_registry_refresh() -> float:
    from django.conf import settings

    return float(settings.CHAT_REGISTRY_REFRESH)


def _conn_steps(config: Config) -> tuple[list[int], str | None]:
    """The connection steps, capped by the file-descriptor hard limit of one process."""
    hard = procs.raise_fd_limit()
    cap = hard - 200  # the server's own files, listening sockets, database connections
    if config.conn_steps[-1] <= cap:
        return config.conn_steps, None
    steps = sorted({min(s, cap) for s in config.conn_steps})
    return steps, f"capped at {cap} per server by the file-descriptor hard limit ({hard})"


async def feed_scenario(api: Api, config: Config, population: stack.FeedPopulation) -> dict[str, Any]:
    """The change feed's cost (pipeline only: the relay has no feed)."""
    return await feed.feed_cost(
        api=api,
        pop=population,
        messages=config.feed_messages,
        interval=config.feed_interval_s,
        missed=config.feed_missed,
        samples=config.feed_samples,
    )


class Bench:
    def __init__(
        self,
        config: Config,
        population: stack.Population,
        relay_url: str,
        meter: StepMeter,
        feed_population: stack.FeedPopulation,
    ) -> None:
        self.config = config
        self.pop = population
        self.feed_pop = feed_population
        self.relay_url = relay_url
        self.meter = meter
        self.api = Api(stack.api_base_url())
        self.recorder = Recorder()
        self.runner: Runner
        self.pipeline_runner: Runner | None = None
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
        users = self.pop.traffic_users()
        gate = asyncio.Semaphore(32)
        conns: dict[int, ChatConnection] = {}
        task = progress.add_task(f"{target.name}: connect {len(users)} users", total=len(users))

        async def one(user: stack.BenchUser) -> None:
            async with gate:
                if first and user.user_id in first:
                    url, ticket = first[user.user_id]
                else:
                    url, ticket = await target.assign(self.api, user)
                conn = ChatConnection(
                    user_id=user.user_id,
                    on_frame=self.recorder.on_frame,
                    on_resend=self.recorder.on_resend,
                )
                await conn.open(url, ticket)
                conns[user.user_id] = conn
                progress.advance(task)

        await asyncio.gather(*(one(u) for u in users))
        progress.remove_task(task)
        return conns

    async def pipeline(self, progress: Progress) -> dict[str, Any]:
        c = self.config
        target = Target(name="pipeline")
        self.runner = self.pipeline_runner = Runner(self.recorder, progress, c.drain_s, meter=self.meter)
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
        out["spread"] = traffic.spread(conns)
        out["idle_cpu"] = await self.meter.idle(IDLE_S)
        with self._phase("pipeline 1:1 ladder"):
            out["ladder"] = await self._ladder("pipeline", conns, fast=False)
            out["unsettled_after_ladder"] = await traffic.settle(self.runner.traffics, within=20)
        sync_login = await self.api.login(
            username=self.pop.sync_user.username, password=stack.BENCH_PASSWORD, device_name="bench-sync"
        )
        from chat.domain.snowflake import snowflake_min_for_time

        since = snowflake_min_for_time(int(time.time() * 1000))
        with self._phase("pipeline history and sync"):
            out["history_sync"] = await history_sync.history_and_sync(
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
            await traffic.settle(self.runner.traffics, within=20)  # the next steps start clean
        with self._phase("pipeline groups"):
            out["fanout"] = await self._fanout("pipeline", conns)
            await traffic.settle(self.runner.traffics, within=20)
        with self._phase("pipeline 20 pairs"):
            out["fast"] = await self._ladder("pipeline", conns, fast=True)
            await traffic.settle(self.runner.traffics, within=20)
        with self._phase("pipeline overload"):
            out["overload"] = await overload.overload_then_normal(
                runner=self.runner,
                senders=traffic.pair_senders(conns, self.pop.fast_pairs),
                overload_rate=c.overload_rate,
                overload_s=c.overload_s,
                normal_rate=c.normal_rate,
                normal_s=c.normal_s,
                drain_s=c.overload_drain_s,
            )
            out["unsettled"] = await traffic.settle(self.runner.traffics, within=20)
        await traffic.close_all(conns)
        with self._phase("pipeline feed"):  # the users above are gone: their frames do not mix in
            out["feed"] = await feed_scenario(self.api, self.config, self.feed_pop)
        with self._phase("pipeline slow consumer"):
            out["slow_consumer"] = await self._slow_consumer("pipeline", self._pipeline_place())
        return out

    def _pipeline_place(self) -> slow_consumer.Place:
        """The slow consumer's senders on one chat server, its readers on another, each at its
        own port; tickets through discovery (`GET chat/server`)."""
        servers = stack.chat_servers_direct()
        readers_id, senders_id = sorted(servers)[:2]

        async def ticket(user: stack.BenchUser) -> str:
            return (await self.api.chat_server(token=user.token))[1]

        return slow_consumer.Place(
            senders_url=servers[senders_id], readers_url=servers[readers_id], ticket=ticket
        )

    async def _slow_consumer(self, name: str, place: slow_consumer.Place) -> dict[str, Any]:
        assert self.pop.slow is not None  # bench_setup made the group (config.slow_senders)
        return await slow_consumer.slow_consumer(
            name=name,
            runner=self.runner,
            group=self.pop.slow,
            place=place,
            rounds=self.config.slow_rounds,
            phase_s=self.config.slow_phase_s,
        )

    async def _ladder(
        self, name: str, conns: dict[int, ChatConnection], *, fast: bool
    ) -> list[dict[str, Any]]:
        """A ladder of pairs: the many users' 1:1 pairs, or (`fast`) the 20 pairs sending fast."""
        c = self.config
        if fast:
            label, pairs, rates, warmup = (
                f"{c.fast_pairs} pairs",
                self.pop.fast_pairs,
                c.fast_rates,
                c.fast_warmup,
            )
        else:
            label, pairs, rates, warmup = "1:1", self.pop.pairs, c.rates, c.warmup
        return await traffic.ladder(
            self.runner,
            name=f"{name} {label}",
            senders=traffic.pair_senders(conns, pairs),
            rates=rates,
            duration=c.step_s,
            warmup=warmup,
        )

    async def _fanout(self, name: str, conns: dict[int, ChatConnection]) -> list[dict[str, Any]]:
        """Group fan-out: each step's rate is messages/s, each delivered to 99 members."""
        steps = await self.runner.steps(
            name=f"{name} groups",
            senders=traffic.group_senders(conns, [(g.id, g.member_ids) for g in self.pop.groups]),
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
        self, name: str, servers: dict[str, str], progress: Progress, make_urls: connections.UrlMaker
    ) -> dict[str, Any]:
        steps, note = _conn_steps(self.config)
        result = await connections.connections(
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
        target = Target(name="baseline", relay_url=self.relay_url)
        self.runner = Runner(self.recorder, progress, self.config.drain_s)
        with self._phase("baseline connections"):
            out: dict[str, Any] = {
                "connections": await self._connections(
                    "baseline", {"relay": self.relay_url}, progress, self._relay_urls
                )
            }
        with self._phase("baseline 1:1 ladder, groups and 20 pairs"):
            conns = await self._connect(target, progress)
            out["ladder"] = await self._ladder("baseline", conns, fast=False)
            out["fanout"] = await self._fanout("baseline", conns)
            out["fast"] = await self._ladder("baseline", conns, fast=True)
        await traffic.close_all(conns)
        with self._phase("baseline slow consumer"):  # one process: senders and readers alike

            async def ticket(user: stack.BenchUser) -> str:
                return str(user.user_id)

            out["slow_consumer"] = await self._slow_consumer(
                "baseline", slow_consumer.Place(self.relay_url, self.relay_url, ticket)
            )
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
