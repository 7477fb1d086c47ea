"""Fault 8: network faults between the processes and Redis, Cassandra and PostgreSQL, through
the suite's TCP proxy (proxy.py): added latency, every connection reset, new ones refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def test_network_faults_crash_nothing_and_lose_nothing(faults: FaultStack) -> None:
    """Under load: 150 ms more latency to all three for 5 s; each one's connections reset in
    turn; Cassandra, then Redis, refusing connections for 4 s. No process ends FATAL, the service
    takes new messages again within 30 s of the last fault, every message is stored once."""
    stack = faults.stack
    crowd = await crowd_connected(stack, prefix="nf", groups=3, senders_per_group=3)
    before = faults.snapshot()
    traffic = Traffic(crowd.sending, rate=30, count=30 * 40)
    traffic.start()
    await asyncio.sleep(3)
    with faults.fault("latency", "*", ms=150):
        await asyncio.sleep(5)
    for route in ("redis", "cassandra", "postgres"):
        faults.proxy.command("reset", route)
        await asyncio.sleep(2)
    for route in ("cassandra", "redis"):
        with faults.fault("refuse", route):
            await asyncio.sleep(4)
        await asyncio.sleep(2)
    ended_at = time.monotonic()
    await traffic.finish()
    row = await reconcile(
        fault="latency +150 ms, connection resets, refused connections (Redis, Cassandra, PostgreSQL)",
        conversations=crowd.conversations,
        fault_ended_at=ended_at,
        report=faults.report,
    )
    await asyncio.to_thread(faults.wait_healthy, 30)
    restarts = faults.restarts(before, faults.snapshot())
    errors = sorted({e["code"] for m in crowd.members for e in m.device.errors})
    print(f"process restarts: {restarts}; error frames: {errors}")
    await crowd.stop()
    assert_clean(row, recovered_within=30)
    faults.assert_no_fatal()
