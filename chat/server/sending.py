"""The sending side of the message sync queue.

A chat server validates and numbers each `message.send` (`queue_message_send`), then hands it to the
process's `SendBatcher`, which enqueues sends together as one `chat.messages_sync` task: one broker
round trip, one storage round and one PostgreSQL update for many messages (DESIGN.md §7). The REST
API enqueues the same task with a reply key and waits for the stored message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain.events import Origin, sync_item
from chat.domain.records import PendingMessage
from chat.domain.snowflake import snowflake_next_id_async
from chat.selectors import conversation_send_rules, conversation_send_rules_cached
from chat.services import check_message_input, check_message_send
from chat.sync_queue import SYNC_QUEUE, messages_sync

log = logging.getLogger(__name__)


OnFailure = Callable[[list[dict[str, Any]]], Awaitable[None]]


class SendBatcher:
    """Collects sync items and enqueues them as tasks, with at most CHAT_SEND_MAX_INFLIGHT tasks of
    this chat server in the queue at once.

    The window makes batches adapt to the load (as Nagle's algorithm does): when the workers keep
    up, a send leaves after CHAT_SEND_BATCH_MS in a small batch; when they fall behind, sends wait
    here for a free slot and leave together, so each task carries more messages and the fixed cost
    of a task (broker round trips, one storage round, one PostgreSQL transaction) is shared. The
    queue never holds more than the window, so a backlog cannot build up where nobody can see it.
    A slot frees when the worker reports the batch done (a `done` event on this server's delivery
    channel, after the batch's acks) or, if that report never comes (the worker died and the task
    waits for redelivery), after CHAT_SEND_INFLIGHT_TIMEOUT seconds.
    """

    def __init__(self, *, server_id: str, on_failure: OnFailure) -> None:
        self._server_id = server_id
        self._items: list[dict[str, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: dict[str, asyncio.TimerHandle] = {}  # batch id -> its timeout

    @property
    def waiting(self) -> int:
        """Sends waiting for a free slot (or for the batching delay)."""
        return len(self._items)

    def add(self, item: dict[str, Any]) -> None:
        self._items.append(item)
        if len(self._inflight) >= settings.CHAT_SEND_MAX_INFLIGHT:
            return  # leaves when a slot frees
        if len(self._items) >= settings.CHAT_SEND_BATCH_MAX:
            self._flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(settings.CHAT_SEND_BATCH_MS / 1000, self._flush)

    def done(self, batch_id: str) -> None:
        """The worker finished the batch (stored, routed and acknowledged every message)."""
        timeout = self._inflight.pop(batch_id, None)
        if timeout is not None:
            timeout.cancel()
            self._flush()  # what waited for the slot has waited long enough

    def _flush(self, *, ignore_window: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._items and (ignore_window or len(self._inflight) < settings.CHAT_SEND_MAX_INFLIGHT):
            items = self._items[: settings.CHAT_SEND_BATCH_MAX]
            del self._items[: len(items)]
            batch_id = uuid.uuid4().hex[:16]
            self._inflight[batch_id] = loop.call_later(
                settings.CHAT_SEND_INFLIGHT_TIMEOUT, self._expire, batch_id
            )
            task = loop.create_task(self._enqueue(batch_id, items))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _expire(self, batch_id: str) -> None:
        if self._inflight.pop(batch_id, None) is not None:
            log.warning("sync batch %s not reported done in time; its slot is freed", batch_id)
            self._flush()

    async def _enqueue(self, batch_id: str, items: list[dict[str, Any]]) -> None:
        batch = {"s": self._server_id, "b": batch_id}
        try:
            await asyncio.to_thread(
                messages_sync.apply_async, kwargs={"items": items, "batch": batch}, queue=SYNC_QUEUE
            )
        except Exception:
            log.exception("could not enqueue %d messages on the sync queue", len(items))
            self.done(batch_id)
            await self._on_failure(items)

    async def drain(self) -> None:
        """Enqueue everything that waits, window or not (the server is going away)."""
        self._flush(ignore_window=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def queue_message_send(
    *,
    batcher: SendBatcher,
    sender_id: int,
    conversation_id: int,
    client_msg_id: str,
    body: str,
    origin: Origin,
) -> PendingMessage:
    """Validate and number a message from a chat server's socket and queue it for storage.

    On the event loop when the conversation's send rules are in the process's cache (the common
    case: no I/O at all); otherwise they are read in a worker thread first.

    Raises the ServiceError of a refused message (not a member, blocked, too long...).
    """
    check_message_input(client_msg_id=client_msg_id, body=body)
    rules = conversation_send_rules_cached(conversation_id=conversation_id)
    if rules is None:
        # not thread-sensitive: the sends of many sockets are validated in parallel threads (each
        # with its own database connection) instead of queueing for the one thread-sensitive
        # thread; one socket's sends stay in order because the consumer awaits each frame
        rules = await database_sync_to_async(conversation_send_rules, thread_sensitive=False)(
            conversation_id=conversation_id, cache=True
        )
    pending = check_message_send(
        rules=rules,
        message_id=await snowflake_next_id_async(),
        sender_id=sender_id,
        conversation_id=conversation_id,
        client_msg_id=client_msg_id,
        body=body,
    )
    batcher.add(sync_item(pending=pending, origin=origin))
    return pending
