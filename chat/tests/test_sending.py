"""The chat server's sending window (`SendBatcher`): how sends become sync tasks.

A pure unit test: the broker is replaced by a list of what would have been enqueued. The path
through a real broker, worker and delivery channel is pinned in tests/test_chat_servers.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings

from chat.domain.errors import Overloaded
from chat.domain.events import Origin, SyncItem
from chat.domain.records import PendingMessage
from chat.server import sending
from chat.server.sending import SendBatcher


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    async def push(*, kwargs: dict[str, Any], queue: str) -> None:
        assert queue == "sync"
        calls.append(kwargs)

    monkeypatch.setattr(sending.messages_sync, "push", push)
    return calls


def _item(n: int, conversation_id: int = 1) -> SyncItem:
    pending = PendingMessage(
        id=n + 1,
        conversation_id=conversation_id,
        sender_id=1,
        client_msg_id=f"m{n}",
        body="hi",
        mentions=(),
        recipient_ids=(1, 2),
    )
    return SyncItem(pending=pending, origin=Origin(server_id="chat-x", conn_id="conn"))


def _ids(kwargs: dict[str, Any]) -> list[str]:
    return [item["m"]["client_msg_id"] for item in kwargs["items"]]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_sends_wait_for_the_slot_and_leave_together(enqueued: list[dict[str, Any]]) -> None:
    """With one slot: the first send leaves alone; the sends that arrive meanwhile leave as one
    batch once the worker reports the first done, and each batch names its server and id."""
    failed: list[Any] = []

    async def on_failure(items: list[dict[str, Any]]) -> None:
        failed.append(items)

    with override_settings(CHAT_SEND_MAX_INFLIGHT=1, CHAT_SEND_BATCH_MS=1, CHAT_SEND_BATCH_MAX=200):
        batcher = SendBatcher(server_id="chat-x", on_failure=on_failure)
        batcher.add(_item(0))
        await _settle()
        for n in range(1, 6):
            batcher.add(_item(n))
        await _settle()
        assert [_ids(k) for k in enqueued] == [["m0"]]
        assert batcher.waiting == 5
        first = enqueued[0]["batch"]
        assert first["s"] == "chat-x"
        batcher.done("some other server's batch")  # ignored
        await _settle()
        assert len(enqueued) == 1
        batcher.done(first["b"])
        await _settle()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m1", "m2", "m3", "m4", "m5"]]
    assert batcher.waiting == 0
    assert failed == []


async def test_a_batch_never_reported_done_frees_its_slot_after_the_timeout(
    enqueued: list[dict[str, Any]],
) -> None:
    """A worker that died with the batch (redelivered later) does not stop this server sending."""

    async def on_failure(items: list[dict[str, Any]]) -> None:
        raise AssertionError("nothing fails here")

    with override_settings(CHAT_SEND_MAX_INFLIGHT=1, CHAT_SEND_BATCH_MS=1, CHAT_SEND_INFLIGHT_TIMEOUT=0.5):
        batcher = SendBatcher(server_id="chat-x", on_failure=on_failure)
        batcher.add(_item(0))
        await _settle()
        batcher.add(_item(1))
        await _settle()
        assert len(enqueued) == 1
        await asyncio.sleep(0.5)
        await _settle()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m1"]]


async def test_batches_are_capped_and_drain_ignores_the_window(enqueued: list[dict[str, Any]]) -> None:
    """No batch is larger than CHAT_SEND_BATCH_MAX; draining sends everything that waits."""

    async def on_failure(items: list[dict[str, Any]]) -> None:
        raise AssertionError("nothing fails here")

    with override_settings(CHAT_SEND_MAX_INFLIGHT=1, CHAT_SEND_BATCH_MS=1, CHAT_SEND_BATCH_MAX=3):
        batcher = SendBatcher(server_id="chat-x", on_failure=on_failure)
        for n in range(8):
            batcher.add(_item(n))
        await _settle()
        assert [len(k["items"]) for k in enqueued] == [3]
        await batcher.drain()
    assert [len(k["items"]) for k in enqueued] == [3, 3, 2]


async def test_a_failed_enqueue_is_reported_and_frees_the_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker refuses: the devices are told (on_failure), and later sends still go out."""
    calls: list[list[str]] = []

    async def push(*, kwargs: dict[str, Any], queue: str) -> None:
        calls.append(_ids(kwargs))
        if len(calls) == 1:
            raise ConnectionError("broker down")

    monkeypatch.setattr(sending.messages_sync, "push", push)
    failed: list[list[dict[str, Any]]] = []

    async def on_failure(items: list[dict[str, Any]]) -> None:
        failed.append(items)

    with override_settings(CHAT_SEND_MAX_INFLIGHT=1, CHAT_SEND_BATCH_MS=1):
        batcher = SendBatcher(server_id="chat-x", on_failure=on_failure)
        batcher.add(_item(0))
        await _settle()
        batcher.add(_item(1))
        await _settle()
    assert calls == [["m0"], ["m1"]]
    assert [[i["m"]["client_msg_id"] for i in f] for f in failed] == [["m0"]]


async def _no_failure(items: list[dict[str, Any]]) -> None:
    raise AssertionError("nothing fails here")


async def test_the_window_carries_several_batches_but_one_per_conversation(
    enqueued: list[dict[str, Any]],
) -> None:
    """Sends of other conversations leave at once while a batch is in flight; a conversation's
    next sends wait until its batch is done, so its messages are stored in order."""
    with override_settings(
        CHAT_SEND_MAX_INFLIGHT=4, CHAT_SEND_BATCH_MS=0, CHAT_SEND_BATCH_MAX=200, CHAT_SEND_BATCH_FILL=1
    ):
        batcher = SendBatcher(server_id="chat-x", on_failure=_no_failure)
        batcher.add(_item(0, conversation_id=1))
        await _settle()
        batcher.add(_item(1, conversation_id=1))
        batcher.add(_item(2, conversation_id=2))
        batcher.add(_item(3, conversation_id=1))
        await _settle()
        assert [_ids(k) for k in enqueued] == [["m0"], ["m2"]]
        assert batcher.waiting == 2
        batcher.done(enqueued[0]["batch"]["b"])
        await _settle()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m2"], ["m1", "m3"]]
    assert batcher.waiting == 0


async def test_a_backlog_past_its_bounds_refuses_new_sends(enqueued: list[dict[str, Any]]) -> None:
    """Past CHAT_SHED_WAITING waiting sends, or with the oldest waiting CHAT_SHED_AGE_MS, `admit`
    raises `overloaded` with a retry delay; once the backlog leaves, sends are admitted again."""
    with override_settings(
        CHAT_SEND_MAX_INFLIGHT=1, CHAT_SEND_BATCH_MS=0, CHAT_SHED_WAITING=3, CHAT_SHED_AGE_MS=200
    ):
        batcher = SendBatcher(server_id="chat-x", on_failure=_no_failure)
        batcher.admit()
        batcher.add(_item(0, conversation_id=1))
        await _settle()
        for n in range(1, 3):
            batcher.admit()
            batcher.add(_item(n, conversation_id=n + 1))
        batcher.admit()  # two wait, under both bounds
        batcher.add(_item(3, conversation_id=9))
        with pytest.raises(Overloaded) as refused:
            batcher.admit()
        assert 200 <= refused.value.as_frame("x")["retry_after_ms"] <= 400
        assert refused.value.as_frame("x")["code"] == "overloaded"
        batcher.done(enqueued[0]["batch"]["b"])  # all three leave in one batch
        await _settle()
        batcher.admit()
        batcher.add(_item(4, conversation_id=1))  # waits: the window is full
        await asyncio.sleep(0.25)
        with pytest.raises(Overloaded):
            batcher.admit()  # by age


async def test_sends_held_by_their_conversations_batch_do_not_shed_the_others(
    enqueued: list[dict[str, Any]],
) -> None:
    """One slow batch (a worker died with it) holds back only its conversation's next sends: they
    age without making the server refuse the sends of other conversations."""
    with override_settings(
        CHAT_SEND_MAX_INFLIGHT=4, CHAT_SEND_BATCH_MS=0, CHAT_SHED_AGE_MS=100, CHAT_SEND_BATCH_FILL=1
    ):
        batcher = SendBatcher(server_id="chat-x", on_failure=_no_failure)
        batcher.add(_item(0, conversation_id=1))
        await _settle()
        batcher.add(_item(1, conversation_id=1))  # waits for its conversation's batch
        await asyncio.sleep(0.15)
        batcher.admit()  # no Overloaded: nothing waits for the window
        batcher.add(_item(2, conversation_id=2))
        await _settle()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m2"]]


async def test_batches_slow_to_be_done_shed_the_sends_that_would_wait_behind_them(
    enqueued: list[dict[str, Any]],
) -> None:
    """When the last batch took CHAT_SHED_AGE_MS from enqueue to done (the workers are behind),
    a send that would wait behind its conversation's batch is refused; once batches are quick
    again, it is taken."""
    with override_settings(CHAT_SEND_MAX_INFLIGHT=4, CHAT_SEND_BATCH_MS=0, CHAT_SHED_AGE_MS=100):
        batcher = SendBatcher(server_id="chat-x", on_failure=_no_failure)
        batcher.add(_item(0, conversation_id=1))
        await _settle()
        await asyncio.sleep(0.12)
        batcher.done(enqueued[0]["batch"]["b"])  # a round of ~120 ms
        batcher.admit()  # nothing waits: a send leaves at once
        batcher.add(_item(1, conversation_id=1))
        await _settle()
        batcher.add(_item(2, conversation_id=1))  # waits for its conversation's batch
        with pytest.raises(Overloaded):
            batcher.admit()
        batcher.done(enqueued[1]["batch"]["b"])  # a quick round
        await _settle()
        batcher.add(_item(3, conversation_id=1))
        batcher.admit()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m1"], ["m2"]]


async def test_while_a_batch_is_in_flight_only_a_full_enough_batch_joins_it(
    enqueued: list[dict[str, Any]],
) -> None:
    """The first batch leaves at once; while it is in flight, sends of other conversations wait
    until CHAT_SEND_BATCH_FILL of them are ready (then they leave without waiting for the slot),
    or until the batch in flight is done."""
    with override_settings(CHAT_SEND_MAX_INFLIGHT=4, CHAT_SEND_BATCH_MS=0, CHAT_SEND_BATCH_FILL=3):
        batcher = SendBatcher(server_id="chat-x", on_failure=_no_failure)
        batcher.add(_item(0, conversation_id=1))
        await _settle()
        batcher.add(_item(1, conversation_id=2))
        batcher.add(_item(2, conversation_id=3))
        await _settle()
        assert [_ids(k) for k in enqueued] == [["m0"]]  # two ready: too few to join
        batcher.add(_item(3, conversation_id=4))
        await _settle()
        assert [_ids(k) for k in enqueued] == [["m0"], ["m1", "m2", "m3"]]
        batcher.add(_item(4, conversation_id=5))
        await _settle()
        batcher.done(enqueued[0]["batch"]["b"])
        batcher.done(enqueued[1]["batch"]["b"])
        await _settle()
    assert [_ids(k) for k in enqueued] == [["m0"], ["m1", "m2", "m3"], ["m4"]]


def test_the_retry_delay_grows_with_how_far_behind_the_server_is() -> None:
    """Four times the delay, at least CHAT_SHED_AGE_MS, at most 30 s, times 1 to 2 at random."""
    with override_settings(CHAT_SHED_AGE_MS=500):
        for behind_ms, low in ((0, 500), (100, 500), (2_000, 8_000), (60_000, 30_000)):
            waits = [
                sending.overloaded(behind_ms=behind_ms).as_frame("x")["retry_after_ms"] for _ in range(50)
            ]
            assert all(low <= wait <= 2 * low for wait in waits), (behind_ms, min(waits), max(waits))
