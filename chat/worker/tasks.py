"""Celery tasks of the message sync queue (`sync`: message batches, and feed entries that could
not be written when their change was made) and the chat servers' periodic jobs.

Thin: each parses its arguments and calls one service. Sync tasks acknowledge late and are
redelivered when a worker dies (CELERY_TASK_ACKS_LATE / REJECT_ON_WORKER_LOST); storing is
idempotent, so a redelivered batch stores nothing twice.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from chat.feed import FEED_CHANGE_RETRY, feed_change_send
from chat.store.redis import keys as redis_keys
from chat.sync_queue import SYNC_QUEUE
from chat.worker.pipeline import do_send_messages
from chatproject.redis_client import get_redis


@shared_task(
    bind=True,
    name="chat.messages_sync",
    queue="sync",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=0.2,
    retry_backoff_max=5,
    max_retries=60,
)
def messages_sync(self: Task, *, items: list[dict[str, Any]], batch: dict[str, str] | None = None) -> int:
    """Store, route and acknowledge a batch of messages from the chat servers or the REST API.

    `batch` names the chat server and batch id to report done (the sending window of
    `chat.server.sending.SendBatcher`). A batch the message store cannot take is tried
    CHAT_STORE_ATTEMPTS times, then refused: its senders get `unavailable` and resend.
    """
    last_attempt = self.request.retries + 1 >= settings.CHAT_STORE_ATTEMPTS
    return len(do_send_messages(items=items, batch=batch, last_attempt=last_attempt))


@shared_task(
    name=FEED_CHANGE_RETRY,
    queue=SYNC_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=120,
    ignore_result=True,
)
def feed_change_retry(
    *, kind: str, conversation_id: int, fields: dict[str, Any], user_ids: list[int]
) -> None:
    """Write a change's entry that could not be written when it was made, and send it live
    (`chat.feed.feed_change_retry_enqueue`); tried again with backoff, for about two hours."""
    feed_change_send(kind=kind, conversation_id=conversation_id, fields=fields, user_ids=user_ids)


@shared_task(name="chat.registry_sweep", queue="sweep", ignore_result=True)
def registry_sweep() -> int:
    """Remove the discovery and routing entries of chat servers that stopped refreshing."""
    return len(redis_keys.registry_sweep(get_redis()))
