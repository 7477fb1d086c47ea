"""The records that cross processes: each decodes to what was encoded."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings

from chat.domain.events import (
    BatchDone,
    DeliveryEvent,
    DeviceSocketsClose,
    FrameToSocket,
    FrameToUsers,
    Origin,
    SendRulesStale,
    SocketClose,
    SyncBatch,
    SyncItem,
    deliveries_decode,
    deliveries_encode,
)
from chat.domain.records import PendingMessage
from chat.store.redis import keys as redis_keys
from chatproject.redis_client import get_redis


def test_every_delivery_event_survives_the_channel() -> None:
    """A batch of every kind of delivery event decodes to the same events, in order."""
    events: list[DeliveryEvent] = [
        FrameToUsers(user_ids=[1, 2], text='{"type":"typing"}', skip_conn="c1"),
        FrameToUsers(user_ids=[3], text="{}"),
        FrameToSocket(conn_id="c2", text='{"type":"message.ack"}'),
        BatchDone(batch_id="b1"),
        SendRulesStale(conversation_ids=[7]),
        SendRulesStale(conversation_ids=None),
        SocketClose(conn_id="c3", code=4429),
        DeviceSocketsClose(user_id=5, device_ids=None, except_device="token:x"),
    ]
    assert deliveries_decode(deliveries_encode(events)) == events


def test_an_unknown_delivery_event_is_refused() -> None:
    """A batch with an event of no known kind is not half-applied."""
    with pytest.raises(ValueError, match="unknown delivery event"):
        deliveries_decode(b'[{"k":"done","batch_id":"b"},{"k":"nope"}]')


def test_sync_items_and_batches_survive_the_queue() -> None:
    """What a chat server enqueues is what the worker reads back."""
    pending = PendingMessage(
        id=123,
        conversation_id=4,
        sender_id=1,
        client_msg_id="m1",
        body="hi",
        mentions=(2,),
        recipient_ids=(1, 2),
    )
    item = SyncItem(pending=pending, origin=Origin(server_id="chat-1", conn_id="c1"))
    assert SyncItem.decode(item.encode()) == item
    assert SyncBatch.decode(SyncBatch(server_id="chat-1", batch_id="b").encode()) == SyncBatch("chat-1", "b")
    assert SyncBatch.decode(None) is None


def test_delivery_channels_are_per_redis_database() -> None:
    """Pub/sub ignores the database number: a chat server named `chat-1` of one deployment (or
    test run) on its own Redis database hears nothing published for the `chat-1` of another."""
    mine = get_redis()
    other = redis.Redis(**{**mine.connection_pool.connection_kwargs, "db": (settings.REDIS_DB + 1) % 16})
    subscriber = mine.pubsub(ignore_subscribe_messages=True)
    try:
        subscriber.subscribe(redis_keys.delivery_channel(mine, "chat-1"))
        event = FrameToSocket(conn_id="c1", text="{}")
        redis_keys.deliveries_publish(other, {"chat-1": [event]})  # the other database's chat-1
        redis_keys.deliveries_publish(mine, {"chat-1": [event, BatchDone(batch_id="mine")]})
        received: list[list[DeliveryEvent]] = []
        deadline = time.monotonic() + 5
        while len(received) < 1 and time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.5)
            if message is not None:
                received.append(deliveries_decode(message["data"]))
        assert subscriber.get_message(timeout=0.5) is None, received  # nothing else came
        assert received == [[event, BatchDone(batch_id="mine")]]
    finally:
        subscriber.close()
        other.close()
