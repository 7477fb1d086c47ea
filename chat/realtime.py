"""Services behind the chat server's frames other than sending: sync, typing, read markers,
rate limits. Each is awaited by the consumer; ORM work runs in Django's thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat import redis_keys
from chat.exceptions import ConversationNotFound
from chat.fanout import publish_to_users_async
from chat.selectors import conversation_member_ids, message_sync, sync_lower_bound
from chat.serializers import message_payload
from chat.services import conversation_mark_read
from chatproject.redis_client import get_async_redis


def _read_receipts_on(*, user_id: int) -> bool:
    from accounts.models import User

    return User.objects.filter(pk=user_id, read_receipts_enabled=True).exists()


def user_may_connect(*, user_id: int) -> bool:
    """A ticket's user still exists and is active (a deactivated user cannot connect)."""
    from accounts.models import User

    return User.objects.filter(pk=user_id, is_active=True).exists()


async def send_allowed(*, user_id: int) -> bool:
    """Count a send against the user's rate window (CHAT_RATE_LIMIT_MESSAGES per ..._WINDOW s)."""
    return await redis_keys.rate_limit_hit(
        get_async_redis(),
        user_id=user_id,
        limit=settings.CHAT_RATE_LIMIT_MESSAGES,
        window=settings.CHAT_RATE_LIMIT_WINDOW,
    )


async def sync_frames(*, user_id: int, since: int) -> AsyncIterator[dict[str, Any]]:
    """The `sync.batch` frames for a device at `since`, ascending, then `sync.done`."""
    cursor = sync_lower_bound(since)
    cur_max = since
    while True:
        page = await database_sync_to_async(message_sync)(
            user_id=user_id, since=cursor, limit=settings.CHAT_SYNC_BATCH
        )
        cursor = page.cur_max_message_id
        cur_max = max(cur_max, cursor)
        yield {
            "type": "sync.batch",
            "messages": [message_payload(m) for m in page.messages],
            "has_more": page.has_more,
        }
        if not page.has_more:
            break
    yield {"type": "sync.done", "cur_max_message_id": str(cur_max)}


async def _members_or_404(*, user_id: int, conversation_id: int) -> set[int]:
    members = await database_sync_to_async(conversation_member_ids)(conversation_id=conversation_id)
    if user_id not in members:
        raise ConversationNotFound()
    return members


async def typing_announce(*, user_id: int, conversation_id: int, skip_conn: str, server_id: str) -> None:
    """Tell the other members' devices that `user_id` is typing (at most once per throttle)."""
    members = await _members_or_404(user_id=user_id, conversation_id=conversation_id)
    if not await redis_keys.typing_throttle(
        get_async_redis(),
        user_id=user_id,
        conversation_id=conversation_id,
        seconds=settings.CHAT_TYPING_THROTTLE,
    ):
        return
    await publish_to_users_async(
        user_ids=members - {user_id},
        frame={"type": "typing", "conversation_id": conversation_id, "user_id": user_id},
        skip_conn=skip_conn,
        server_id=server_id,
    )


async def read_mark(
    *, user_id: int, conversation_id: int, message_id: int, skip_conn: str, server_id: str
) -> None:
    """Store the read marker, then tell the other members (unless the user turned read receipts
    off) and the user's other devices."""
    marker = await database_sync_to_async(conversation_mark_read)(
        user_id=user_id, conversation_id=conversation_id, message_id=message_id
    )
    members = await database_sync_to_async(conversation_member_ids)(conversation_id=conversation_id)
    if not await database_sync_to_async(_read_receipts_on)(user_id=user_id):
        members = {user_id}  # receipts off: only this user's other devices learn of it
    await publish_to_users_async(
        user_ids=members,
        frame={
            "type": "read",
            "conversation_id": conversation_id,
            "user_id": user_id,
            "message_id": str(marker),
        },
        skip_conn=skip_conn,
        server_id=server_id,
    )
