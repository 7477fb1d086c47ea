"""The REST send: the same message sync queue as a WebSocket send, waited for in the request."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from chat.domain.errors import ClientMsgIdReused, StoreTimeout, StoreUnavailable
from chat.domain.events import Origin, sync_item
from chat.services import check_message_send_blocking
from chat.store.redis import keys as redis_keys
from chat.sync_queue import SYNC_QUEUE, messages_sync
from chatproject.redis_client import get_redis


def queue_message_send_and_wait(
    *, sender_id: int, conversation_id: int, client_msg_id: str, body: str, timeout: float = 10.0
) -> tuple[dict[str, Any], bool]:
    """The REST send: the same sync queue as a WebSocket send.

    Blocks until the worker has stored the message and returns its payload and whether it was a
    resend of a stored one; raises StoreTimeout when the worker does not answer in time, and
    StoreUnavailable when the message store could not take it (the client resends with the same
    client_msg_id, which is idempotent).
    """
    pending = check_message_send_blocking(
        sender_id=sender_id, conversation_id=conversation_id, client_msg_id=client_msg_id, body=body
    )
    reply_key = uuid.uuid4().hex
    try:
        messages_sync.apply_async(
            kwargs={"items": [sync_item(pending=pending, origin=Origin(reply_key=reply_key))]},
            queue=SYNC_QUEUE,
        )
    except Exception as exc:
        raise StoreUnavailable() from exc
    reply = redis_keys.reply_wait(get_redis(), reply_key, timeout=timeout)
    if reply is None:
        raise StoreTimeout()
    answer = orjson.loads(reply)
    if "error" in answer:  # the message store could not take it (chat.worker.pipeline.do_send_refuse)
        raise StoreUnavailable()
    payload: dict[str, Any] = answer["message"]
    if payload["conversation_id"] != conversation_id:
        raise ClientMsgIdReused()
    return payload, bool(answer["duplicate"])
