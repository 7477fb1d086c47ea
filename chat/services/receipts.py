"""Read and delivered positions (docs/protocol.md, "Receipts"), shared by the WebSocket and REST.

A member's positions in a conversation live on the membership row and only move forward
(GREATEST); read implies delivered. When a position moves, the change enters the feeds of those
who must learn it (`chat.feed`):
- read: the reader's own devices, and the senders of the messages the marker passed over (they
  show the ticks), when the reader and they both have read receipts on and they have not
  blocked the reader. Only senders: in a group of 100 where everyone reads, a read costs two
  feed rows instead of a hundred (`GET conversations/{id}` gives anyone every position);
- delivered: the senders of the messages just delivered (less those who blocked the recipient).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import F, Value
from django.db.models.functions import Greatest

from accounts.models import User
from accounts.selectors import blocker_ids_among
from chat.domain.snowflake import MAX_ID
from chat.feed import feed_change_send
from chat.models import Membership
from chat.protocol import position_fields
from chat.selectors import conversation_member_ids, membership_get
from chat.store.cassandra import feed_store, message_store


def _receipts_on(user_ids: set[int]) -> set[int]:
    return set(User.objects.filter(pk__in=user_ids, read_receipts_enabled=True).values_list("pk", flat=True))


SENDERS_SCAN_MAX = 500  # messages a read marker's move is read for its senders; past that: every member


def _senders_passed(*, conversation_id: int, after: int, upto: int) -> set[int]:
    """The senders of the messages in (after, upto]: those whose ticks a read marker moves."""
    page = message_store.conversation_history(
        conversation_id=conversation_id, after=after, before=upto + 1, limit=SENDERS_SCAN_MAX
    )
    if page.has_more:
        return conversation_member_ids(conversation_id=conversation_id)
    return {m.sender_id for m in page.messages}


def conversation_mark_read(
    *,
    user_id: int,
    conversation_id: int,
    message_id: int,
    skip_conn: str | None = None,
    server_id: str | None = None,
) -> int:
    """Move my read marker forward to `message_id` (never back) and tell whom it concerns;
    returns the marker now stored.

    The marker is a message of the conversation, or at most the conversation's newest message:
    a made-up ID from the future cannot hide every later message from the unread count.
    `skip_conn` on `server_id`: the socket that sent the read frame, which knows already.
    """
    membership = membership_get(user_id=user_id, conversation_id=conversation_id)
    marker = max(0, min(message_id, membership.conversation.last_message_id))
    if marker < message_id <= MAX_ID and message_store.message_get(
        conversation_id=conversation_id, message_id=message_id
    ):
        marker = message_id  # stored, though the conversation row has not caught up yet
    before = membership.last_read_message_id
    moved = Membership.objects.filter(pk=membership.pk, last_read_message_id__lt=marker).update(
        last_read_message_id=Value(marker),
        last_delivered_message_id=Greatest(F("last_delivered_message_id"), Value(marker)),
    )
    if not moved:
        membership.refresh_from_db(fields=["last_read_message_id"])
        return membership.last_read_message_id
    others = _senders_passed(conversation_id=conversation_id, after=before, upto=marker) - {user_id}
    if others and user_id in _receipts_on({user_id}):
        others = _receipts_on(others) - blocker_ids_among(blocked_id=user_id, user_ids=others)
    else:
        others = set()  # receipts off: only my other devices learn of it
    feed_change_send(
        kind="read",
        conversation_id=conversation_id,
        fields=position_fields(conversation_id=conversation_id, user_id=user_id, message_id=marker),
        user_ids=others | {user_id},
        skip_conn=skip_conn,
        server_id=server_id,
    )
    return marker


def messages_mark_delivered(*, user_id: int, message_ids: Sequence[int]) -> dict[int, int]:
    """A device of mine received these messages: my delivered position moves forward in each
    conversation they belong to, and their senders learn it. IDs that are not in my inbox are
    ignored. Returns conversation → the position now stored, for the positions that moved."""
    located = feed_store.inbox_messages_locate(user_id=user_id, message_ids=message_ids)
    newest: dict[int, int] = {}
    senders: dict[int, set[int]] = defaultdict(set)
    for message_id, (conversation_id, sender_id) in located.items():
        newest[conversation_id] = max(newest.get(conversation_id, 0), message_id)
        if sender_id != user_id:
            senders[conversation_id].add(sender_id)
    moved: dict[int, int] = {}
    for conversation_id, position in sorted(newest.items()):
        if Membership.objects.filter(
            user_id=user_id, conversation_id=conversation_id, last_delivered_message_id__lt=position
        ).update(last_delivered_message_id=position):
            moved[conversation_id] = position
            to = senders[conversation_id]
            feed_change_send(
                kind="delivered",
                conversation_id=conversation_id,
                fields=position_fields(conversation_id=conversation_id, user_id=user_id, message_id=position),
                user_ids=to - blocker_ids_among(blocked_id=user_id, user_ids=to),
            )
    return moved
