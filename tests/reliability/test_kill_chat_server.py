"""Fault 1: `kill -9` of a chat server while 20 clients on it send (DESIGN.md §5)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.reliability.fault_stack import FaultStack
from tests.reliability.fleet import Traffic, crowd_connected
from tests.reliability.reconcile import assert_clean, reconcile

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def test_killed_chat_server_loses_nothing_and_shows_nothing_twice(faults: FaultStack) -> None:
    """20 senders on chat-1, their groups' receivers on chat-2; chat-1 dies mid-stream: the
    senders reconnect through discovery, catch up and resend their outboxes; every message is
    stored once and on every member device; supervisord brings chat-1 back."""
    stack = faults.stack
    crowd = await crowd_connected(
        stack,
        prefix="kc",
        groups=5,
        senders_per_group=4,
        sender_url=stack.chat_url(0),
        receiver_url=stack.chat_url(1),
    )
    traffic = Traffic(crowd.sending, rate=40, count=800)
    traffic.start()
    await asyncio.sleep(5)
    (victim,) = faults.kill("chat-1", signal.SIGKILL)
    killed_at = time.monotonic()
    await traffic.finish()
    row = await reconcile(
        fault="kill -9 of the chat server of 20 sending clients",
        conversations=crowd.conversations,
        fault_ended_at=killed_at,
        report=faults.report,
    )
    assert {m.device.close_codes[0] for m in crowd.senders} == {1006}  # no close frame: it died
    assert all(m.connects >= 2 for m in crowd.senders)
    await crowd.stop()
    assert_clean(row, recovered_within=30)
    faults.wait_healthy()
    assert victim not in faults.pids("chat-1")  # a new chat-1, started by supervisord
