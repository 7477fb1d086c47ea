"""The sending side of the message sync queue.

A chat server validates and numbers each `message.send` (`queue_message_send`), then hands it to the
process's `SendBatcher`, which enqueues sends together as one `chat.messages_sync` task: one broker
round trip, one storage round and one PostgreSQL update for many messages (DESIGN.md §7). The REST
API enqueues the same task with a reply key and waits for the stored message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain.errors import Overloaded
from chat.domain.events import Origin, SyncItem
from chat.domain.hops import Hops, hops_mark
from chat.domain.records import PendingMessage
from chat.domain.snowflake import snowflake_next_id_async
from chat.selectors import (
    conversation_send_rules,
    conversation_send_rules_cached,
    send_rules_refresh_due,
)
from chat.server.metrics import SEND_BATCH_SIZE, counts
from chat.services import check_message_input, check_message_send
from chat.sync_queue import SYNC_QUEUE, messages_sync
from chatproject.logs import log_context

log = logging.getLogger(__name__)


OnFailure = Callable[[list[dict[str, Any]]], Awaitable[None]]


SHED_RETRY_MAX_MS = 30_000


def overloaded(*, behind_ms: float = 0.0) -> Overloaded:
    """The refusal of a send while shedding. The wait grows with how far behind the server is
    (`behind_ms`: its event loop's lag, its oldest send's wait, its last batch's round): four
    times that, at least CHAT_SHED_AGE_MS, at most 30 s, times 1 to 2 at random. A server far
    behind gets the resends of what it refused later and spread out, so that the sends of the
    moment find it caught up instead of queued behind a storm of resends."""
    wait = min(SHED_RETRY_MAX_MS, max(settings.CHAT_SHED_AGE_MS, 4 * behind_ms))
    return Overloaded(retry_after_ms=int(wait * (1 + random.random())))


@dataclass(slots=True)
class _Waiting:
    conversation_id: int
    item: SyncItem
    since: float  # the event loop's clock when it was added


@dataclass(slots=True)
class _Slot:
    timeout: asyncio.TimerHandle
    conversation_ids: set[int]
    sent_at: float  # the event loop's clock


class SendBatcher:
    """Collects sends and enqueues them as sync tasks, with at most CHAT_SEND_MAX_INFLIGHT tasks of
    this chat server in the queue at once (its sending window).

    With no batch in flight, what arrived leaves at once (at the end of the event loop's turn, or
    after CHAT_SEND_BATCH_MS when that is set); while batches are in flight, another leaves only
    with CHAT_SEND_BATCH_FILL sends or more, and when the window is full, sends wait here for a
    free slot and leave together: the batches grow with the load (as Nagle's algorithm does) and
    the fixed cost of a task is shared, while a large backlog still moves several batches at once.
    A conversation has at most one batch in flight: its messages are stored and delivered in the
    order the chat server numbered them. A slot frees
    when the worker reports the batch done (a `done` event on this server's delivery channel,
    after the batch's acks) or, if that report never comes (the worker died and the task waits
    for redelivery), after CHAT_SEND_INFLIGHT_TIMEOUT seconds.

    What waits here is the backlog of this server's sends. `admit` refuses new sends
    (`Overloaded`) while more than CHAT_SHED_WAITING wait, or the oldest send waiting for a slot
    has waited CHAT_SHED_AGE_MS, or the last batch reported done took that long from here to done
    (the workers fall behind: a send would wait that long behind its conversation's batch).
    """

    def __init__(self, *, server_id: str, on_failure: OnFailure) -> None:
        self._server_id = server_id
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: dict[str, _Slot] = {}  # by batch id
        self._busy: set[int] = set()  # conversations with a batch in flight
        self._last_round_ms = 0.0  # from enqueue to done, of the last batch reported done

    @property
    def waiting(self) -> int:
        """Sends waiting for a free slot (or for the end of the loop's turn)."""
        return len(self._waiting)

    @property
    def inflight(self) -> int:
        """Sync tasks of this server in the queue (its window's slots taken)."""
        return len(self._inflight)

    def admit(self) -> None:
        """Raise Overloaded while the backlog is past its bounds (a send would only wait): too
        many sends wait, the oldest send waiting for a slot of the window waited too long, or
        the batches take too long to be done. (A send held back by its own conversation's batch
        does not count by its age: one batch lost with a dead worker holds back one conversation
        until its timeout, which is no reason to refuse everyone's sends.)"""
        if not self._waiting:
            return
        oldest = next((w.since for w in self._waiting if w.conversation_id not in self._busy), None)
        age_ms = 0.0 if oldest is None else (asyncio.get_running_loop().time() - oldest) * 1000
        bound = settings.CHAT_SHED_AGE_MS
        behind_ms = max(age_ms, self._last_round_ms)
        if len(self._waiting) >= settings.CHAT_SHED_WAITING or behind_ms >= bound:
            raise overloaded(behind_ms=behind_ms)

    def add(self, item: SyncItem) -> None:
        loop = asyncio.get_running_loop()
        self._waiting.append(_Waiting(item.pending.conversation_id, item, loop.time()))
        if len(self._inflight) >= settings.CHAT_SEND_MAX_INFLIGHT:
            return  # leaves when a slot frees
        if len(self._waiting) >= settings.CHAT_SEND_BATCH_MAX:
            self._flush()
        elif self._timer is None:
            delay = settings.CHAT_SEND_BATCH_MS / 1000
            self._timer = loop.call_later(delay, self._flush) if delay > 0 else loop.call_soon(self._flush)

    def done(self, batch_id: str) -> None:
        """The worker finished the batch (stored, routed and acknowledged every message)."""
        slot = self._inflight.pop(batch_id, None)
        if slot is not None:
            slot.timeout.cancel()
            self._busy -= slot.conversation_ids
            self._last_round_ms = (asyncio.get_running_loop().time() - slot.sent_at) * 1000
            self._flush()  # what waited for the slot has waited long enough

    def _take(self, *, ignore_window: bool) -> list[_Waiting]:
        """The next batch: up to CHAT_SEND_BATCH_MAX sends, in order, of conversations without a
        batch in flight (all of them when the server is going away). While another batch is in
        flight, only a batch of CHAT_SEND_BATCH_FILL sends or more leaves: a smaller one waits to
        grow (each task has a fixed cost in every process: a task per message would spend the
        CPU that the messages need)."""
        ready = [w for w in self._waiting if ignore_window or w.conversation_id not in self._busy]
        if not ignore_window and self._inflight and len(ready) < settings.CHAT_SEND_BATCH_FILL:
            return []
        taken = ready[: settings.CHAT_SEND_BATCH_MAX]
        chosen = {id(w) for w in taken}
        self._waiting = [w for w in self._waiting if id(w) not in chosen]
        return taken

    def _flush(self, *, ignore_window: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._waiting and (ignore_window or len(self._inflight) < settings.CHAT_SEND_MAX_INFLIGHT):
            taken = self._take(ignore_window=ignore_window)
            if not taken:
                break  # what waits belongs to conversations with a batch in flight, or is too few
            batch_id = uuid.uuid4().hex[:16]
            conversation_ids = {w.conversation_id for w in taken}
            self._busy |= conversation_ids
            # the batch's timer and task get a context of their own: their log lines are the
            # batch's, not those of the connection whose send happened to flush it
            self._inflight[batch_id] = _Slot(
                loop.call_later(
                    settings.CHAT_SEND_INFLIGHT_TIMEOUT, self._expire, batch_id, context=contextvars.Context()
                ),
                conversation_ids,
                loop.time(),
            )
            for waiting in taken:
                hops_mark(waiting.item.hops, "queued")
            counts.messages_accepted += len(taken)
            SEND_BATCH_SIZE.observe(len(taken))
            task = loop.create_task(
                self._enqueue(batch_id, [w.item.encode() for w in taken]), context=contextvars.Context()
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _expire(self, batch_id: str) -> None:
        slot = self._inflight.pop(batch_id, None)
        if slot is not None:
            self._busy -= slot.conversation_ids
            log.warning(
                "sync batch %s not reported done in time; its slot is freed",
                batch_id,
                extra={"batch_id": batch_id},
            )
            self._flush()

    async def _enqueue(self, batch_id: str, items: list[dict[str, Any]]) -> None:
        batch = {"s": self._server_id, "b": batch_id}
        try:
            await messages_sync.push(kwargs={"items": items, "batch": batch}, queue=SYNC_QUEUE)
        except Exception:
            counts.enqueue_errors += 1
            with log_context(batch_id=batch_id, message_ids=[item["m"]["id"] for item in items]):
                log.exception("could not enqueue %d messages on the sync queue", len(items))
            self.done(batch_id)
            await self._on_failure(items)

    async def drain(self) -> None:
        """Enqueue everything that waits, window or not (the server is going away)."""
        self._flush(ignore_window=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


_refreshes: set[asyncio.Task[Any]] = set()


def _send_rules_refresh(conversation_id: int) -> None:
    """Read a conversation's send rules again in a thread, while sends keep using the cached ones."""
    read = database_sync_to_async(conversation_send_rules, thread_sensitive=False)
    task = asyncio.get_running_loop().create_task(
        read(conversation_id=conversation_id, cache=True, refresh=True)
    )
    _refreshes.add(task)
    task.add_done_callback(_refreshes.discard)


async def queue_message_send(
    *,
    batcher: SendBatcher,
    sender_id: int,
    conversation_id: int,
    client_msg_id: str,
    body: str,
    origin: Origin,
    hops: Hops | None = None,
) -> PendingMessage:
    """Validate and number a message from a chat server's socket and queue it for storage.

    On the event loop when the conversation's send rules are in the process's cache (the common
    case: no I/O at all); otherwise they are read in a worker thread first.

    Raises the ServiceError of a refused message (not a member, blocked, too long...).
    """
    check_message_input(client_msg_id=client_msg_id, body=body)
    rules = conversation_send_rules_cached(conversation_id=conversation_id)
    if rules is not None and send_rules_refresh_due(conversation_id=conversation_id):
        _send_rules_refresh(conversation_id)
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
    batcher.add(SyncItem(pending=pending, origin=origin, hops=hops))
    return pending
