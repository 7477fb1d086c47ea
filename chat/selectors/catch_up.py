"""Catch-up: a device's change feed from its `cur_max_message_id` (docs/protocol.md, "The
change feed"), with the look-back that keeps late entries visible and the retention past which a
device must reload."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from chat.domain.records import FeedEntry, StoredMessage, feed_id_of
from chat.domain.snowflake import MAX_ID, TIMESTAMP_SHIFT, snowflake_min_for_time
from chat.selectors.conversations import _member_conversation_ids
from chat.store.cassandra import feed_store


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
