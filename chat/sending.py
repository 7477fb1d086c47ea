"""The sending side of the message sync queue.

A chat server validates and numbers each `message.send` (`message_prepare`), then hands it to the
process's `SendBatcher`, which collects sends for CHAT_SEND_BATCH_MS (or CHAT_SEND_BATCH_MAX
messages) and enqueues them as one `chat.messages_sync` task: one broker round trip for many
messages (DESIGN.md §7). The REST API enqueues the same task with a reply key and waits for the
stored message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.conf import settings

from chat import redis_keys
from chat.delivery import Origin, sync_item
from chat.exceptions import ClientMsgIdReused
from chat.records import PendingMessage
from chat.services import message_prepare
from chat.tasks import messages_sync
from chatproject.errors import ServiceError
from chatproject.redis_client import get_redis

log = logging.getLogger(__name__)


class StoreUnavailable(ServiceError):
    code = "unavailable"
    http_status = 503
    default_message = (
        "The message could not be queued for storage; send it again with the same client_msg_id."
    )


class StoreTimeout(ServiceError):
    code = "store_timeout"
    http_status = 503
    default_message = "The message was not stored in time; send it again with the same client_msg_id."


OnFailure = Callable[[list[dict[str, Any]]], Awaitable[None]]


class SendBatcher:
    """Collects sync items for a few milliseconds and enqueues them as one task."""

    def __init__(self, *, on_failure: OnFailure) -> None:
        self._items: list[dict[str, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._on_failure = on_failure
        self._inflight: set[asyncio.Task[None]] = set()

    def add(self, item: dict[str, Any]) -> None:
        self._items.append(item)
        if len(self._items) >= settings.CHAT_SEND_BATCH_MAX:
            self._flush_now()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(settings.CHAT_SEND_BATCH_MS / 1000, self._flush_now)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        if items:
            task = asyncio.get_running_loop().create_task(self._enqueue(items))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _enqueue(self, items: list[dict[str, Any]]) -> None:
        try:
            await asyncio.to_thread(messages_sync.apply_async, kwargs={"items": items}, queue="sync")
        except Exception:
            log.exception("could not enqueue %d messages on the sync queue", len(items))
            await self._on_failure(items)

    async def drain(self) -> None:
        self._flush_now()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)


async def message_submit(
    *,
    batcher: SendBatcher,
    sender_id: int,
    conversation_id: int,
    client_msg_id: str,
    body: str,
    origin: Origin,
) -> PendingMessage:
    """Validate and number a message from a chat server's socket and queue it for storage.

    Raises the ServiceError of a refused message (not a member, blocked, too long...).
    """
    # not thread-sensitive: the sends of many sockets are validated in parallel threads (each with
    # its own database connection) instead of queueing for the one thread-sensitive thread; one
    # socket's sends stay in order because the consumer awaits each frame before the next
    pending = await database_sync_to_async(message_prepare, thread_sensitive=False)(
        sender_id=sender_id, conversation_id=conversation_id, client_msg_id=client_msg_id, body=body
    )
    batcher.add(sync_item(pending=pending, origin=origin))
    return pending


def message_send_queued(
    *, sender_id: int, conversation_id: int, client_msg_id: str, body: str, timeout: float = 10.0
) -> tuple[dict[str, Any], bool]:
    """The REST send: the same sync queue as a WebSocket send.

    Blocks until the worker has stored the message and returns its payload and whether it was a
    resend of a stored one; raises StoreTimeout when the worker does not answer in time (the
    client resends with the same client_msg_id, which is idempotent).
    """
    pending = message_prepare(
        sender_id=sender_id, conversation_id=conversation_id, client_msg_id=client_msg_id, body=body
    )
    reply_key = uuid.uuid4().hex
    try:
        messages_sync.apply_async(
            kwargs={"items": [sync_item(pending=pending, origin=Origin(reply_key=reply_key))]}, queue="sync"
        )
    except Exception as exc:
        raise StoreUnavailable() from exc
    reply = redis_keys.reply_wait(get_redis(), reply_key, timeout=timeout)
    if reply is None:
        raise StoreTimeout()
    answer = orjson.loads(reply)
    payload: dict[str, Any] = answer["message"]
    if payload["conversation_id"] != conversation_id:
        raise ClientMsgIdReused()
    return payload, bool(answer["duplicate"])
