"""Fault 4: the stack's Redis crashes (kill -9) and restarts under load.

Routing, the discovery registry, presence, the Celery broker's queues and the send claims lose
what was written after the last fsync of the append-only file (at most a second), and every
connection to Redis breaks. The stack's Redis is its own (fault_stack.py), so nothing else on the
machine notices. This replaces tests/test_redis_restart.py, which restarted it cleanly.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def test_redis_crash_and_restart_loses_no_acknowledged_message(faults: FaultStack) -> None:
    """Redis dies for 3 s while clients send: the service recovers by itself within 30 s (both
    chat servers back in discovery, new sends acknowledged), and every message is stored once
    and reaches every member device."""
    stack = faults.stack
    crowd = await crowd_connected(
        stack, prefix="rc", groups=3, senders_per_group=3, sender_url=stack.chat_url(0)
    )
    traffic = Traffic(crowd.sending, rate=30, count=30 * 25)
    traffic.start()
    await asyncio.sleep(5)
    faults.redis.crash()
    await asyncio.sleep(3)
    faults.redis.start()
    restarted_at = time.monotonic()
    await asyncio.to_thread(faults.wait_registered, 2, 30)
    registered_s = time.monotonic() - restarted_at
    await traffic.finish()
    row = await reconcile(
        fault="Redis crashed (kill -9) for 3 s and restarted",
        conversations=crowd.conversations,
        fault_ended_at=restarted_at,
        report=faults.report,
    )
    print(f"chat servers back in discovery {registered_s:.1f} s after the restart")
    await crowd.stop()
    assert_clean(row, recovered_within=30)
    faults.assert_no_fatal()
