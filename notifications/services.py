"""The push notification server's decisions (design note §1.3, DESIGN.md §4 "Push notifications").

For each member who had no live device when a message was routed, decide whether to notify
(notifications on, not in do-not-disturb, conversation not muted) and coalesce it into the one
pending notification of that user, so a burst becomes a single notification. Sending it to the
user's devices (Web Push, FCM/APNs) is not built yet: the pending notification is what a sender
will deliver.
"""

from __future__ import annotations

from datetime import UTC, datetime

from accounts.models import User
from accounts.selectors import user_in_do_not_disturb
from chat.models import Membership
from chatproject.redis_client import get_redis
from notifications import redis_keys

PENDING_TTL = 7 * 24 * 3600


def offline_notifications_record(*, messages_by_user: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """Record the notifications due for offline members.

    Args:
        messages_by_user: user id → [(conversation id, message id)] of messages they missed.
    Returns:
        user id → number of messages added to that user's pending notification.
    """
    now = datetime.now(UTC)
    users = User.objects.filter(pk__in=messages_by_user, is_active=True, notifications_enabled=True)
    muted = set(
        Membership.objects.filter(user_id__in=messages_by_user, muted=True).values_list(
            "user_id", "conversation_id"
        )
    )
    client = get_redis()
    recorded: dict[int, int] = {}
    for user in users:
        if user_in_do_not_disturb(user=user, at=now):
            continue
        for conversation_id, message_id in messages_by_user[user.pk]:
            if (user.pk, conversation_id) in muted:
                continue
            redis_keys.pending_add(
                client,
                user_id=user.pk,
                conversation_id=conversation_id,
                message_id=message_id,
                ttl=PENDING_TTL,
            )
            recorded[user.pk] = recorded.get(user.pk, 0) + 1
    return recorded
