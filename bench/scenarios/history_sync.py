"""History and catch-up under load: 50-message history pages over REST and `sync` of a user who
missed `missed` messages, timed while the 1:1 load runs at a fixed rate (pipeline only: the relay
stores nothing)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import Api, ChatConnection
from bench.measure import ms, percentile
from bench.scenarios.traffic import Runner, pair_senders
from bench.stack import BenchUser

SYNC_PROBE_INTERVAL = 1.1  # seconds between the sync probe's frames: the default budget is 10 per 10 s


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
        measured=False,
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
