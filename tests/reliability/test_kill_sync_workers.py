"""Fault 2: `kill -9` of every sync worker process during 1,000 in-flight messages."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

MESSAGES = 1000


async def test_killed_sync_workers_lose_nothing_and_store_nothing_twice(faults: FaultStack) -> None:
    """Every worker-sync process dies while 1,000 messages stream in: the tasks they held come
    back to the queue (late ack, visibility timeout), the clients resend what waits for an ack,
    and once supervisord has restarted the workers the backlog drains within 30 s; each message
    is stored once and reaches every member device."""
    stack = faults.stack
    crowd = await crowd_connected(
        stack, prefix="kw", groups=4, senders_per_group=3, sender_url=stack.chat_url(0)
    )
    traffic = Traffic(crowd.sending, rate=100, count=MESSAGES)
    traffic.start()
    await asyncio.sleep(3)
    killed = faults.kill("worker-sync", signal.SIGKILL)
    assert killed
    # until supervisord runs every sync worker again, under new pids
    deadline = time.monotonic() + 60
    while True:
        procs = stack.processes()["worker-sync"]
        if all(state == "RUNNING" and pid not in killed for state, pid in procs):
            break
        assert time.monotonic() < deadline, procs
        await asyncio.sleep(0.2)
    restarted_at = time.monotonic()
    await traffic.finish()
    await asyncio.gather(*(m.settle(wait=60) for m in crowd.members))
    drained_s = time.monotonic() - restarted_at
    row = await reconcile(
        fault=f"kill -9 of every sync worker during {MESSAGES} messages",
        conversations=crowd.conversations,
        fault_ended_at=restarted_at,
        report=faults.report,
    )
    await crowd.stop()
    print(f"backlog drained {drained_s:.1f} s after the workers' restart")
    assert_clean(row)
    assert drained_s < 30
