"""The chat server's sending window (`SendBatcher`): how sends become sync tasks.

A pure unit test: the broker is replaced by a list of what would have been enqueued. The path
through a real broker, worker and delivery channel is pinned in tests/test_chat_servers.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings

from chat.server import sending
from chat.server.sending import SendBatcher


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def apply_async(*, kwargs: dict[str, Any], queue: str) -> None:
        assert queue == "sync"
        calls.append(kwargs)

    monkeypatch.setattr(sending.messages_sync, "apply_async", apply_async)
    return calls


def _item(n: int) -> dict[str, Any]:
    return {"m": {"client_msg_id": f"m{n}"}, "o": {"s": "chat-x", "c": "conn"}}


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

    def apply_async(*, kwargs: dict[str, Any], queue: str) -> None:
        calls.append(_ids(kwargs))
        if len(calls) == 1:
            raise ConnectionError("broker down")

    monkeypatch.setattr(sending.messages_sync, "apply_async", apply_async)
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
