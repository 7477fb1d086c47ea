"""Fault 6: PostgreSQL goes away and comes back under load.

The PostgreSQL server is shared with other test runs on the machine, so it is not restarted:
the stack reaches it through the suite's proxy, which resets every open connection and refuses
new ones for the outage — what a restart looks like to the application — then lets them through.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

OUTAGE_S = 6
# what a send may get while PostgreSQL is away: the service is shedding or could not queue it;
# both say "resend with the same client_msg_id", which the outbox does
OUTAGE_ERRORS = {"overloaded", "unavailable"}


async def test_postgres_outage_keeps_known_conversations_going_and_loses_nothing(
    faults: FaultStack,
) -> None:
    """Sends to conversations the chat servers know go on through a 6 s PostgreSQL outage or
    fail with a clear error frame and go through when it ends; nothing is lost or stored twice."""
    stack = faults.stack
    crowd = await crowd_connected(stack, prefix="pg", groups=3, senders_per_group=3)
    traffic = Traffic(crowd.sending, rate=30, count=30 * 25)
    traffic.start()
    await asyncio.sleep(5)
    acked_before = sum(len(m.device.acks) for m in crowd.senders)
    with faults.fault("refuse", "postgres"):
        await asyncio.sleep(OUTAGE_S)
        acked_during = sum(len(m.device.acks) for m in crowd.senders) - acked_before
    restored_at = time.monotonic()
    await traffic.finish()
    row = await reconcile(
        fault=f"PostgreSQL unreachable for {OUTAGE_S} s (connections reset, new ones refused)",
        conversations=crowd.conversations,
        fault_ended_at=restored_at,
        report=faults.report,
    )
    errors = sorted({e["code"] for m in crowd.members for e in m.device.errors})
    print(f"acknowledged during the outage: {acked_during}; error frames: {errors}")
    await crowd.stop()
    assert_clean(row, recovered_within=30)
    assert set(errors) <= OUTAGE_ERRORS
    faults.assert_no_fatal()
