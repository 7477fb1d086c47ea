"""Send rules: what validating a send needs to know of a conversation (members, active
members, block state), cached per chat server process and evicted on change."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from django.conf import settings

from accounts.selectors import user_blocked_between
from chat.domain.snowflake import MAX_ID
from chat.models import ConversationKind, Membership


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
