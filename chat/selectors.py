"""Reads on conversations and messages, with access control: only members read a conversation.

A conversation that does not exist and one the caller is not in raise the same
`ConversationNotFound`, so IDs of other people's conversations reveal nothing.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from accounts.selectors import blocked_either_way_ids, user_blocked_between
from chat.domain.errors import ConversationNotFound
from chat.domain.records import AroundPage, FeedEntry, MessagePage, StoredMessage, feed_id_of
from chat.domain.snowflake import MAX_ID, TIMESTAMP_SHIFT, snowflake_min_for_time
from chat.models import Conversation, ConversationKind, Membership
from chat.store.cassandra import feed_store, message_store


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


@dataclass(frozen=True)
class SyncPage:
    """Feed entries for a device, oldest first; `cur_max_message_id` is where the next sync starts.
    `reset_required`: the device is further behind than the feed keeps (no entries then)."""

    entries: list[FeedEntry]
    has_more: bool
    cur_max_message_id: int
    reset_required: bool = False

    @property
    def messages(self) -> list[StoredMessage]:
        return [e for e in self.entries if isinstance(e, StoredMessage)]


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


def feed_sync(*, user_id: int, since: int, limit: int) -> SyncPage:
    """My feed's entries with `feed_id` > `since`, oldest first, of conversations I am still in
    (and the `conversation.left` entries of those I left).

    `cur_max_message_id` is the newest feed ID this page looked at (or `since` when there was
    none): the `since` of the next call.
    """
    page = feed_store.feed_read(user_id=user_id, since=since, limit=limit)
    mine = _member_conversation_ids(user_id)
    return SyncPage(
        entries=[
            e
            for e in page.entries
            if e.conversation_id in mine
            or (not isinstance(e, StoredMessage) and e.kind == "conversation.left")
        ],
        has_more=page.has_more,
        cur_max_message_id=feed_id_of(page.entries[-1]) if page.entries else since,
    )


def mention_list(*, user_id: int, before: int | None, limit: int) -> MessagePage:
    """Messages that mention me, newest first, from conversations I am still in."""
    page = message_store.user_mentions(user_id=user_id, before=before, limit=limit)
    mine = _member_conversation_ids(user_id)
    return MessagePage(
        messages=[m for m in page.messages if m.conversation_id in mine], has_more=page.has_more
    )


def _late_window() -> int:
    """CHAT_LATE_ID_SECONDS expressed in ID space."""
    return int(settings.CHAT_LATE_ID_SECONDS * 1000) << TIMESTAMP_SHIFT


def catch_up_lower_bound(since: int) -> int:
    """Where a sync from `since` really starts: CHAT_LATE_ID_SECONDS of ID space earlier.

    A message may be stored after a device saw a larger ID, but never with an ID older than
    CHAT_LATE_ID_SECONDS at storage time (the worker renumbers it), so looking back that far
    finds it; the client de-duplicates what it already has by ID.
    """
    return max(0, since - _late_window())


def catch_up_page(*, user_id: int, since: int, limit: int) -> tuple[SyncPage, int]:
    """One page of a device's sync from `since` (its cur_max_message_id), looking back the late
    window; returns the page and the `since` of the next call.

    While the page is not the last, the next `since` is chosen so that the next call starts right
    after this page (its look-back lands on the page's last ID), so paging never repeats itself;
    after the last page it is the newest ID seen (or `since`).
    """
    now_ms = int(time.time() * 1000)
    if 0 < since < snowflake_min_for_time(now_ms - int(settings.CHAT_FEED_RETENTION_DAYS * 86_400_000)):
        # older than the feed keeps: the device reloads, then syncs on from now
        return SyncPage(entries=[], has_more=False, cur_max_message_id=0, reset_required=True), (
            snowflake_min_for_time(now_ms)
        )
    page = feed_sync(user_id=user_id, since=catch_up_lower_bound(since), limit=limit)
    last = page.cur_max_message_id
    if page.has_more:
        return page, min(MAX_ID, last + _late_window())
    return page, max(since, last)


@dataclass(frozen=True)
class SendRules:
    """What validating a send needs to know of a conversation."""

    members: dict[str, int]  # lower-cased username -> user id (mentions are case-insensitive)
    member_ids: frozenset[int]
    blocked: bool  # a direct conversation whose two users have blocked one another
    active_ids: frozenset[int] = frozenset()  # members whose account is active (may send)
    archived: bool = False  # archived by an operator: no sends


@dataclass(frozen=True)
class _CachedRules:
    rules: SendRules
    expires: float  # time.monotonic()
    refresh_at: float  # from here on a send uses the rules and has them read again meanwhile


_send_rules_cache: dict[int, _CachedRules] = {}
_SEND_RULES_CACHE_MAX = 50_000
_send_rules_refreshing: set[int] = set()
_send_rules_generation = 0  # moves on at each eviction: a read begun before it is not kept


def conversation_send_rules_cached(*, conversation_id: int) -> SendRules | None:
    """The rules a chat server keeps for the conversation, if it has them (no I/O)."""
    cached = _send_rules_cache.get(conversation_id)
    if cached is not None and cached.expires > time.monotonic():
        return cached.rules
    return None


def send_rules_refresh_due(*, conversation_id: int) -> bool:
    """True once when the cached rules near their expiry: the caller reads them again in the
    background (`conversation_send_rules(..., refresh=True)`), so that sends keep finding them in
    the cache instead of waiting for the database at the expiry."""
    cached = _send_rules_cache.get(conversation_id)
    if cached is None or cached.refresh_at > time.monotonic() or conversation_id in _send_rules_refreshing:
        return False
    _send_rules_refreshing.add(conversation_id)
    return True


def conversation_send_rules(*, conversation_id: int, cache: bool = False, refresh: bool = False) -> SendRules:
    """Members and block state of a conversation, for validating a send.

    With `cache` (the chat servers, for every message they receive) the answer is kept in process
    for CHAT_SEND_RULES_CACHE_SECONDS; changes of members and blocks evict it at once through the
    chat servers' delivery channels (`send_rules_forget`), the expiry bounds a missed eviction.
    `refresh`: read them even if cached (`send_rules_refresh_due`).
    """
    if cache and not refresh and (rules := conversation_send_rules_cached(conversation_id=conversation_id)):
        return rules
    generation = _send_rules_generation
    try:
        rules = _send_rules_read(conversation_id=conversation_id)
    finally:
        _send_rules_refreshing.discard(conversation_id)
    ttl = settings.CHAT_SEND_RULES_CACHE_SECONDS
    if cache and ttl > 0 and generation == _send_rules_generation:
        if len(_send_rules_cache) >= _SEND_RULES_CACHE_MAX:
            _send_rules_cache.clear()
        # expiries spread over the last fifth of the time: conversations first seen together
        # (a burst of logins) are not all read again in the same instant
        now, ttl = time.monotonic(), ttl * random.uniform(0.8, 1.0)
        _send_rules_cache[conversation_id] = _CachedRules(
            rules, expires=now + ttl, refresh_at=now + ttl * 0.75
        )
    return rules


def _send_rules_read(*, conversation_id: int) -> SendRules:
    rows = (
        list(
            Membership.objects.filter(conversation_id=conversation_id).values_list(
                "user__username",
                "user_id",
                "conversation__kind",
                "user__is_active",
                "conversation__archived_at",
            )
        )
        if 0 < conversation_id <= MAX_ID
        else []
    )
    members = {name.lower(): uid for name, uid, *_ in rows}
    blocked = False
    if rows and rows[0][2] == ConversationKind.DIRECT and len(rows) == 2:
        first, second = (uid for _, uid, *_ in rows)
        blocked = user_blocked_between(user_id=first, other_id=second)
    return SendRules(
        members=members,
        member_ids=frozenset(uid for _, uid, *_ in rows),
        blocked=blocked,
        active_ids=frozenset(uid for _, uid, _, active, _ in rows if active),
        archived=bool(rows) and rows[0][4] is not None,
    )


def send_rules_forget(*, conversation_ids: list[int] | None) -> None:
    """Evict cached send rules: of these conversations, or (None) of all. A read that began
    before the eviction is not kept (it may predate the change)."""
    global _send_rules_generation
    _send_rules_generation += 1
    if conversation_ids is None:
        _send_rules_cache.clear()
        return
    for conversation_id in conversation_ids:
        _send_rules_cache.pop(conversation_id, None)
