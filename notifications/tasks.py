"""Celery tasks of the push notification server (queue `push`). Thin: parse, call one service."""

from __future__ import annotations

from celery import shared_task

from notifications.services import offline_notifications_record


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
