"""The sync worker when Cassandra cannot store at the configured consistency (too few replicas):
retried, then refused with `unavailable` to each sender, nothing acknowledged (chat/worker/pipeline.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest

from accounts.models import User
from chat.domain.errors import MessageStoreUnavailable
from chat.domain.events import BatchDone, DeliveryEvent, FrameToSocket, Origin, SyncBatch, sync_item
from chat.domain.records import PendingMessage, StoredResult
from chat.services import check_message_send_blocking, conversation_direct_open
from chat.store.cassandra import message_store
from chat.store.redis import claims
from chat.worker import pipeline
from chatproject.redis_client import get_redis

pytestmark = pytest.mark.usefixtures("cassandra_clean")

SERVER = "chat-test"


@pytest.fixture
def pending(alice: User, bob: User) -> PendingMessage:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    return check_message_send_blocking(
        sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="cm-1", body="hello"
    )


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, list[DeliveryEvent]]]:
    sent: list[dict[str, list[DeliveryEvent]]] = []

    def capture(client: Any, batches: Mapping[str, Sequence[DeliveryEvent]], **_: Any) -> None:
        sent.append({k: list(v) for k, v in batches.items()})

    monkeypatch.setattr(pipeline.redis_keys, "deliveries_publish", capture)
    return sent


def _store_down(*, nothing_written: bool) -> Callable[..., Callable[[], list[StoredResult]]]:
    """A message store that takes the claims, as the real one does, then cannot write."""

    def start(*, pending: Sequence[PendingMessage]) -> Callable[[], list[StoredResult]]:
        claims.message_claims(get_redis(), pending, ttl=600)
        raise MessageStoreUnavailable(nothing_written=nothing_written)

    return start


def _items(pending: PendingMessage) -> list[dict[str, Any]]:
    return [sync_item(pending=pending, origin=Origin(server_id=SERVER, conn_id="conn-1"))]


def test_store_unavailable_raises_for_a_retry_before_the_last_attempt(
    pending: PendingMessage, published: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that is not the last raises (Celery retries it) and tells nobody anything."""
    monkeypatch.setattr(pipeline, "messages_write_start", _store_down(nothing_written=True))
    with pytest.raises(MessageStoreUnavailable):
        pipeline.do_send_messages(items=_items(pending), batch=SyncBatch(SERVER, "b-1").encode())
    assert published == []


def test_last_attempt_refuses_with_unavailable_and_frees_the_claim(
    pending: PendingMessage, published: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last attempt answers the sender `unavailable` (ref = client_msg_id), acknowledges
    nothing, frees the chat server's slot and drops the claim; the resend, under a new ID, is
    then stored as a new message with that ID."""
    monkeypatch.setattr(pipeline, "messages_write_start", _store_down(nothing_written=True))
    stored = pipeline.do_send_messages(
        items=_items(pending), batch=SyncBatch(SERVER, "b-1").encode(), last_attempt=True
    )
    assert stored == []
    [events] = [batches[SERVER] for batches in published]
    frame, done = events
    assert isinstance(frame, FrameToSocket)
    assert frame.conn_id == "conn-1"
    body = orjson.loads(frame.text)
    assert (body["type"], body["code"], body["ref"]) == ("error", "unavailable", "cm-1")
    assert done == BatchDone(batch_id="b-1")

    monkeypatch.undo()
    resend = dataclasses.replace(pending, id=pending.id + 1)
    [result] = message_store.messages_write(pending=[resend])
    assert (result.message.id, result.duplicate) == (resend.id, False)


def test_after_a_timeout_the_claim_stays(
    pending: PendingMessage, published: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out store may be half written: the claim stays, so the resend completes the same
    message (same ID) rather than storing a second one."""
    monkeypatch.setattr(pipeline, "messages_write_start", _store_down(nothing_written=False))
    pipeline.do_send_messages(items=_items(pending), batch=None, last_attempt=True)
    monkeypatch.undo()
    resend = dataclasses.replace(pending, id=pending.id + 1)
    [result] = message_store.messages_write(pending=[resend])
    assert (result.message.id, result.duplicate) == (pending.id, True)


def test_a_refusal_after_an_earlier_timeout_keeps_the_claim(
    pending: PendingMessage, published: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt timed out (rows perhaps written), the last one is refused outright: the claim
    stays, so the resend completes the same message instead of storing a second copy."""
    monkeypatch.setattr(pipeline, "messages_write_start", _store_down(nothing_written=False))
    with pytest.raises(MessageStoreUnavailable):
        pipeline.do_send_messages(items=_items(pending), batch=None)
    monkeypatch.setattr(pipeline, "messages_write_start", _store_down(nothing_written=True))
    pipeline.do_send_messages(items=_items(pending), batch=None, last_attempt=True)
    monkeypatch.undo()
    resend = dataclasses.replace(pending, id=pending.id + 1)
    [result] = message_store.messages_write(pending=[resend])
    assert (result.message.id, result.duplicate) == (pending.id, True)
