"""The scenarios of `make bench`, each run the same way against the pipeline and the baseline.

- `ladder`: 1:1 pairs, open loop at each offered rate of the ladder;
- `fanout`: 100-member groups, open loop at each message rate;
- `history_and_sync`: history pages over REST and `sync` after 1,000 missed messages, while the
  1:1 load runs at a fixed rate (pipeline only: the relay stores nothing);
- `connections`: idle connections with heartbeats in steps, held by helper processes
  (`bench.conn_worker`), with the servers' memory and CPU read from /proc.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.progress import Progress

from bench import procs
from bench.client import Api, ChatConnection
from bench.measure import Recorder, Traffic, ms, percentile
from bench.stack import BenchUser

BODY = "bench message: " + "lorem ipsum dolor sit amet " * 3  # about 100 bytes
HEARTBEAT_INTERVAL = 10.0  # DESIGN.md §4: a heartbeat every 10 s
P99_LIMIT_MS = 100.0
SYNC_PROBE_INTERVAL = 1.1  # seconds between the sync probe's frames: the default budget is 10 per 10 s
CONNECT_CHUNK = 1000  # idle connections per server opened per batch of fresh tickets
ALWAYS_RUN_UP_TO = 500  # ladder steps up to this rate run even past saturation (p99 at 500 is a headline)


@dataclass(frozen=True)
class Target:
    """Where clients connect: the pipeline through discovery, or the bare relay."""

    name: str
    relay_url: str | None = None  # baseline: the relay; the ticket is the user id

    async def assign(self, api: Api, user: BenchUser) -> tuple[str, str]:
        if self.relay_url is not None:
            return self.relay_url, str(user.user_id)
        return await api.chat_server(token=user.token)


async def close_all(conns: dict[int, ChatConnection]) -> None:
    gate = asyncio.Semaphore(100)

    async def one(conn: ChatConnection) -> None:
        async with gate:
            await conn.close()

    await asyncio.gather(*(one(c) for c in conns.values()), return_exceptions=True)


def spread(conns: dict[int, ChatConnection]) -> dict[str, int]:
    out: dict[str, int] = {}
    for conn in conns.values():
        out[conn.server_url] = out.get(conn.server_url, 0) + 1
    return out


Sender = tuple[ChatConnection, int, int]  # connection, conversation, receipts expected per message


@dataclass
class Runner:
    """What every traffic step shares: the frame recorder, the progress bars, the steps run so far
    (for the final storage count) and how long a step waits for its last receipts."""

    recorder: Recorder
    progress: Progress
    traffics: list[Traffic]
    drain: float

    async def drive(
        self, *, name: str, senders: list[Sender], rate: float, duration: float, drain: float | None = None
    ) -> tuple[dict[str, Any], Traffic]:
        """Send open loop at `rate` for `duration` s, round robin over `senders`, then wait up to
        the drain time for the last acknowledgements and receipts."""
        traffic = Traffic(name=name)
        self.traffics.append(traffic)
        total = int(rate * duration)
        task = self.progress.add_task(f"{name}: {rate:g}/s", total=total)
        tag = uuid.uuid4().hex[:8]
        start = time.perf_counter()
        traffic.first_due = start
        i = 0
        while i < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while i < due:
                conn, conversation_id, receivers = senders[i % len(senders)]
                cmid = f"{tag}-{i}"
                self.recorder.register(traffic, cmid, start + i / rate, receivers)
                frame = {"type": "message.send", "conversation_id": conversation_id, "client_msg_id": cmid}
                try:
                    await conn.send({**frame, "body": BODY})
                except Exception:
                    traffic.errors["send_failed"] += 1
                i += 1
            self.progress.update(task, completed=i)
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        deadline = time.perf_counter() + (self.drain if drain is None else drain)
        # receipts are counted by frame callbacks: polling them is simpler than an event per step
        while not traffic.complete() and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.progress.remove_task(task)
        result = {"offered_per_s": rate, "duration_s": duration, **traffic.summary()}
        p99 = result["receive_p99_ms"]
        result["sustained"] = bool(
            result["missing_receipts"] == 0
            and not result["errors"]
            and p99 is not None
            and p99 < P99_LIMIT_MS
            and result["acked"] == result["sent"]
        )
        return result, traffic

    async def steps(
        self, *, name: str, senders: list[Sender], rates: list[float], duration: float
    ) -> list[dict[str, Any]]:
        """One step per rate; stops after a step that saturated past ALWAYS_RUN_UP_TO (the rest
        are reported as not run)."""
        out: list[dict[str, Any]] = []
        for rate in rates:
            step, _ = await self.drive(name=name, senders=senders, rate=rate, duration=duration)
            out.append(step)
            if saturated(step) and rate >= ALWAYS_RUN_UP_TO:
                out += [{"offered_per_s": r, "skipped": "a lower rate saturated"} for r in rates[len(out) :]]
                break
        return out


def saturated(step: dict[str, Any]) -> bool:
    """A step so far past capacity that higher rates would only pile up a backlog: receipts
    missing, a p99 over a second, or deliveries falling 5 % or more behind the offered rate."""
    p99 = step["receive_p99_ms"]
    expected_per_s = step["offered_per_s"] * step["expected_receipts"] / max(1, step["sent"])
    return bool(
        step["missing_receipts"] > 0.01 * max(1, step["expected_receipts"])
        or p99 is None
        or p99 > 1000
        or step["delivered_per_s"] < 0.95 * expected_per_s
    )


def pair_senders(
    conns: dict[int, ChatConnection], pairs: list[tuple[BenchUser, BenchUser, int]]
) -> list[Sender]:
    """1:1: the first user of each pair sends to the second."""
    return [(conns[a.user_id], cid, 1) for a, _b, cid in pairs]


def group_senders(
    conns: dict[int, ChatConnection], groups: list[tuple[int, tuple[int, ...]]]
) -> list[Sender]:
    """Groups: every member sends in turn (the groups interleaved); all the others receive."""
    by_group = [[(conns[uid], cid, len(members) - 1) for uid in members] for cid, members in groups]
    return [sender for round_ in zip(*by_group, strict=False) for sender in round_]


async def settle(traffics: list[Traffic], *, within: float) -> int:
    """Wait until every message sent so far is acknowledged (stored); returns how many are not."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        missing = sum(len(t.sent) - len(t.acked) for t in traffics)
        if missing == 0:
            return 0
        await asyncio.sleep(0.2)
    return sum(len(t.sent) - len(t.acked) for t in traffics)


# ---------------------------------------------------------------- history and sync under load


async def history_and_sync(
    *,
    api: Api,
    conns: dict[int, ChatConnection],
    pairs: list[tuple[BenchUser, BenchUser, int]],
    sync_login: dict[str, Any],
    sync_partners: list[tuple[BenchUser, int]],
    missed: int,
    rate: float,
    duration: float,
    runner: Runner,
    since: int,
) -> dict[str, Any]:
    """History pages and `sync` of `missed` messages, timed while the 1:1 load runs at `rate`."""
    _, prep = await runner.drive(
        name="sync prep",
        senders=[(conns[p.user_id], cid, 0) for p, cid in sync_partners],
        rate=250,
        duration=missed / 250,
        drain=15,
    )
    stored_before_sync = len(prep.acked)  # fewer than `missed` when the pipeline is backlogged

    # the sync user was offline while they were sent; now it connects (logged in through the API)
    synced = ChatConnection(user_id=int(sync_login["user"]["id"]))
    got = {"messages": 0}

    def count_batches(_conn: ChatConnection, frame: dict[str, Any], _now: float) -> None:
        if frame.get("type") == "sync.batch":
            got["messages"] += len(frame["messages"])

    synced.on_frame = count_batches
    await synced.open(sync_login["chat_server"]["url"], sync_login["ticket"])

    sync_times: list[float] = []
    sync_short = 0
    history_times: list[float] = []
    history_errors = 0
    stop = asyncio.Event()

    async def sync_probe() -> None:
        nonlocal sync_short
        while not stop.is_set():
            got["messages"] = 0
            done = synced.expect("sync.done")
            start = time.perf_counter()
            await synced.send({"type": "sync", "since": str(since)})
            await asyncio.wait_for(done, timeout=30)
            sync_times.append(time.perf_counter() - start)
            if got["messages"] < stored_before_sync:
                sync_short += 1
            # within the socket's sync budget (CHAT_BUDGET_SYNC per CHAT_FRAME_BUDGET_WINDOW s)
            await asyncio.sleep(SYNC_PROBE_INTERVAL)

    async def history_probe(k: int) -> None:
        nonlocal history_errors
        i = k
        while not stop.is_set():
            user, _other, cid = pairs[i % len(pairs)]
            i += 7
            try:
                history_times.append(
                    await api.timed("GET", f"conversations/{cid}/messages?limit=50", token=user.token)
                )
            except Exception:
                history_errors += 1
            await asyncio.sleep(0.05)

    async def timed_load() -> dict[str, Any]:
        try:
            step, _ = await runner.drive(
                name="1:1 during history/sync",
                senders=pair_senders(conns, pairs),
                rate=rate,
                duration=duration,
            )
            return step
        finally:
            stop.set()

    results = await asyncio.gather(timed_load(), sync_probe(), *(history_probe(k) for k in range(4)))
    await synced.close()
    load_step: dict[str, Any] = results[0]
    return {
        "history": {
            "samples": len(history_times),
            "errors": history_errors,
            "p50_ms": ms(percentile(history_times, 50)),
            "p99_ms": ms(percentile(history_times, 99)),
            "page_size": 50,
        },
        "sync": {
            "samples": len(sync_times),
            "missed_messages": missed,
            "stored_before_first_sync": stored_before_sync,
            "short_syncs": sync_short,
            "p50_ms": ms(percentile(sync_times, 50)),
            "p99_ms": ms(percentile(sync_times, 99)),
        },
        "load": load_step,
    }


# ---------------------------------------------------------------- idle connections


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
