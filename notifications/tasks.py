"""Celery tasks of the push notification server (queue `push`). Thin: parse, call one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from notifications.exceptions import PushDeliveryFailed
from notifications.services import offline_notifications_record, pending_notification_send

# with backoff from 5 s doubling up to 45 s (the default visibility timeout is 60 s), eight
# retries span about four minutes; the pending notification outlives them for the next message
SEND_MAX_RETRIES = 8


@shared_task(
    name="notifications.notify_offline_members", queue="push", acks_late=True, reject_on_worker_lost=True
)
def notify_offline_members(*, messages_by_user: dict[str, list[list[int]]]) -> int:
    """Messages routed while their members had no live device (user id → [[conversation, message]])."""
    recorded = offline_notifications_record(
        messages_by_user={
            int(uid): [(int(c), int(m)) for c, m in pairs] for uid, pairs in messages_by_user.items()
        }
    )
    return sum(recorded.values())


@shared_task(
    bind=True,
    name="notifications.send_pending_notification",
    queue="push",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=SEND_MAX_RETRIES,
)
def send_pending_notification(self: Any, *, user_id: int) -> int:
    """Push a user's coalesced pending notification to their devices; retry with backoff."""
    try:
        return pending_notification_send(user_id=int(user_id), attempt=self.request.retries)
    except PushDeliveryFailed as exc:
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc
