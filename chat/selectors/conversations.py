"""Reads on conversations and messages, with access control: only members read a conversation.

A conversation that does not exist and one the caller is not in raise the same
`ConversationNotFound`, so IDs of other people's conversations reveal nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from accounts.selectors import blocked_either_way_ids
from chat.domain.errors import ConversationNotFound
from chat.domain.records import AroundPage, MessagePage, StoredMessage
from chat.domain.snowflake import MAX_ID
from chat.models import Conversation, ConversationKind, Membership
from chat.store.cassandra import message_store


@dataclass(frozen=True)
class MemberInfo:
    user_id: int
    username: str
    display_name: str
    role: str
    joined_at: datetime
    # the member's read marker (0: nothing read); None when they or the viewer turned read
    # receipts off (the viewer's own marker is always there)
    last_read_message_id: int | None = None
    last_delivered_message_id: int = 0


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation as one member sees it."""

    conversation: Conversation
    membership: Membership
    members: list[MemberInfo]
    last_message: StoredMessage | None
    unread_count: int
    blocked: bool = False  # a direct conversation whose pair blocked one another: no sends


def membership_get(*, user_id: int, conversation_id: int) -> Membership:
    """My membership of the conversation (with it loaded), or ConversationNotFound."""
    if not 0 < conversation_id <= MAX_ID:
        raise ConversationNotFound()
    membership = (
        Membership.objects.select_related("conversation")
        .filter(user_id=user_id, conversation_id=conversation_id)
        .first()
    )
    if membership is None:
        raise ConversationNotFound()
    return membership


def conversation_member_ids(*, conversation_id: int) -> set[int]:
    return set(Membership.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True))


def _members_of(conversation_ids: list[int], *, viewer_id: int) -> dict[int, list[MemberInfo]]:
    rows = (
        Membership.objects.filter(conversation_id__in=conversation_ids)
        .order_by("joined_at", "id")
        .values_list(
            "conversation_id",
            "user_id",
            "user__username",
            "user__display_name",
            "role",
            "joined_at",
            "last_read_message_id",
            "user__read_receipts_enabled",
            "last_delivered_message_id",
        )
    )
    # receipts both ways: a viewer who turned them off sees no one's read marker but their own
    viewer_receipts = any(row[1] == viewer_id and row[7] for row in rows) or not rows
    members: dict[int, list[MemberInfo]] = defaultdict(list)
    for (
        conversation_id,
        user_id,
        username,
        display_name,
        role,
        joined_at,
        last_read,
        receipts,
        delivered,
    ) in rows:
        shown = user_id == viewer_id or (receipts and viewer_receipts)
        members[conversation_id].append(
            MemberInfo(
                user_id=user_id,
                username=username,
                display_name=display_name,
                role=role,
                joined_at=joined_at,
                last_read_message_id=last_read if shown else None,
                last_delivered_message_id=max(delivered, last_read),
            )
        )
    return members


def _summaries(memberships: list[Membership]) -> list[ConversationSummary]:
    """Members, last message and unread count of each, with one round of Cassandra reads."""
    members = _members_of(
        [m.conversation_id for m in memberships], viewer_id=memberships[0].user_id if memberships else 0
    )
    last = message_store.messages_get(
        keys=[
            (m.conversation_id, m.conversation.last_message_id)
            for m in memberships
            if m.conversation.last_message_id
        ]
    )
    # only conversations with something after the read marker need counting
    to_count = [m for m in memberships if m.conversation.last_message_id > m.last_read_message_id]
    counts = message_store.unread_counts(
        queries=[
            message_store.UnreadQuery(
                conversation_id=m.conversation_id,
                user_id=m.user_id,
                last_read_message_id=m.last_read_message_id,
            )
            for m in to_count
        ],
        cap=settings.CHAT_UNREAD_COUNT_CAP,
    )
    unread = {m.conversation_id: n for m, n in zip(to_count, counts, strict=True)}
    blocked = blocked_either_way_ids(user_id=memberships[0].user_id) if memberships else set()
    return [
        ConversationSummary(
            conversation=m.conversation,
            membership=m,
            members=members.get(m.conversation_id, []),
            last_message=last.get((m.conversation_id, m.conversation.last_message_id)),
            unread_count=unread.get(m.conversation_id, 0),
            blocked=m.conversation.kind == ConversationKind.DIRECT
            and bool({m.conversation.direct_low_id, m.conversation.direct_high_id} & blocked),
        )
        for m in memberships
    ]


def conversation_get_for_user(*, user_id: int, conversation_id: int) -> ConversationSummary:
    return _summaries([membership_get(user_id=user_id, conversation_id=conversation_id)])[0]


def conversation_list_for_user(
    *, user_id: int, limit: int, before: int | None = None
) -> tuple[list[ConversationSummary], bool]:
    """My conversations, most recently active first; `before` continues after that conversation.

    Returns the page and whether more conversations follow.
    """
    memberships = Membership.objects.select_related("conversation").filter(user_id=user_id)
    if before is not None:
        cursor = membership_get(user_id=user_id, conversation_id=before).conversation
        memberships = memberships.filter(
            Q(conversation__last_activity_at__lt=cursor.last_activity_at)
            | Q(conversation__last_activity_at=cursor.last_activity_at, conversation_id__lt=cursor.pk)
        )
    page = list(memberships.order_by("-conversation__last_activity_at", "-conversation_id")[: limit + 1])
    return _summaries(page[:limit]), len(page) > limit


def message_history(
    *,
    user_id: int,
    conversation_id: int,
    limit: int,
    before: int | None = None,
    after: int | None = None,
    around: int | None = None,
) -> MessagePage | AroundPage:
    """A page of a conversation's history (newest first) for a member; see message_store."""
    membership_get(user_id=user_id, conversation_id=conversation_id)
    if around is not None:
        return message_store.conversation_history_around(
            conversation_id=conversation_id, around=around, limit=limit
        )
    return message_store.conversation_history(
        conversation_id=conversation_id, before=before, after=after, limit=limit
    )


def message_find(*, conversation_id: int, message_id: int) -> StoredMessage | None:
    """Any message of any conversation, for an operator (no membership check)."""
    if not (0 < conversation_id <= MAX_ID and 0 < message_id <= MAX_ID):
        return None
    return message_store.message_get(conversation_id=conversation_id, message_id=message_id)


def messages_find_by_sender(
    *, conversation_id: int, sender_id: int, limit: int, scan: int
) -> tuple[list[StoredMessage], bool]:
    """For an operator: the newest `limit` messages of `sender_id` among the newest `scan` of the
    conversation, newest first, and whether older ones were left unread (history is partitioned
    by conversation, not by sender, so this walks pages back)."""
    found: list[StoredMessage] = []
    before: int | None = None
    seen = 0
    while seen < scan and len(found) < limit:
        page = message_store.conversation_history(
            conversation_id=conversation_id, before=before, limit=min(200, scan - seen)
        )
        seen += len(page.messages)
        found.extend(m for m in page.messages if m.sender_id == sender_id)
        if not page.has_more or not page.messages:
            return found[:limit], False
        before = page.messages[-1].id
    return found[:limit], True


def _member_conversation_ids(user_id: int) -> set[int]:
    return set(Membership.objects.filter(user_id=user_id).values_list("conversation_id", flat=True))


def mention_list(*, user_id: int, before: int | None, limit: int) -> MessagePage:
    """Messages that mention me, newest first, from conversations I am still in."""
    page = message_store.user_mentions(user_id=user_id, before=before, limit=limit)
    mine = _member_conversation_ids(user_id)
    return MessagePage(
        messages=[m for m in page.messages if m.conversation_id in mine], has_more=page.has_more
    )
