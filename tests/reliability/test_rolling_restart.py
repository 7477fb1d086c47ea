"""Fault 3: a rolling restart (SIGTERM) of every process kind under load."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PROGRAMS = ["chat-1", "chat-2", "worker-sync", "worker-push", "worker-sweep", "worker-presence", "beat"]
PROGRAMS += ["api-1", "api-2"]
# what a client may see during the roll: a draining server's close, a going-away, a dropped socket
ROLL_CLOSE_CODES = {4503, 1001, 1006}
# the one error frame a roll may cause: a chat server whose sync queue is behind (a worker being
# restarted) sheds new sends with `overloaded`, which the outbox resends after retry_after_ms
ROLL_ERRORS = {"overloaded"}


async def test_rolling_sigterm_of_every_process_loses_nothing(faults: FaultStack) -> None:
    """Each process of each program gets SIGTERM in turn (supervisord restarts it) while clients
    send: chat servers drain with server.draining and close 4503, workers finish their batch;
    every message is stored once and reaches every device, and no client sees an error frame
    other than `overloaded` or a close other than a reconnect."""
    stack = faults.stack
    crowd = await crowd_connected(stack, prefix="rr", groups=3, senders_per_group=3)
    traffic = Traffic(crowd.sending, rate=20, count=20 * 300)
    traffic.start()
    await asyncio.sleep(3)
    rolled = []
    for program in PROGRAMS:
        for name in faults.process_names(program):
            stack.ctl("restart", name)  # SIGTERM, wait for the exit, start again
            faults.wait_healthy()
            rolled.append(name)
    rolled_at = time.monotonic()
    await asyncio.sleep(3)
    await traffic.stop()
    row = await reconcile(
        fault=f"rolling SIGTERM of {len(rolled)} processes",
        conversations=crowd.conversations,
        fault_ended_at=rolled_at,
        report=faults.report,
    )
    codes = [code for m in crowd.members for code in m.device.close_codes]
    errors = [e["code"] for m in crowd.members for e in m.device.errors]
    print(f"rolled {rolled}; closes {sorted(set(codes), key=str)}; errors {sorted(set(errors))}")
    await crowd.stop()
    assert_clean(row)
    assert set(codes) <= ROLL_CLOSE_CODES
    assert 4503 in codes  # both chat servers drained, and their clients heard of it
    assert set(errors) <= ROLL_ERRORS
