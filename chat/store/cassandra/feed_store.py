"""The change feed's storage (docs/protocol.md, "The change feed"; docs/message-store.md).

A user's feed is two tables read as one: the inbox (`messages_by_user`, one row per new message,
written by the sync worker with the message) and `changes_by_user` (one row per other change:
edits, deletes, read and delivered positions, membership, renames). Both are clustered by a
Snowflake, so a page of the feed is the merge of an ascending walk over each. A new message
costs no extra row; a change costs one row per user whose feed it enters.

Change rows expire after CHAT_FEED_RETENTION_DAYS (TTL); a device further behind is told to
reload (`chat.selectors.catch_up_page`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

import orjson
from django.conf import settings

from chat.domain.records import FeedChange, FeedEntry, FeedPage, feed_id_of
from chat.domain.snowflake import MAX_ID
from chat.store.cassandra.plans import Plan, Query, Rows, run_plan, run_plans
from chat.store.cassandra.tables import (
    BUCKET_MS,
    CHANGES_OLDEST_FIRST,
    INSERT_CHANGE_BUCKET,
    INSERT_CHANGE_ROW,
    SELECT_INBOX_MESSAGE,
    SYNC_OLDEST_FIRST,
    bucket_of,
    row_message,
    walk,
    write_timestamp,
)


def retention_seconds() -> int:
    return int(settings.CHAT_FEED_RETENTION_DAYS * 24 * 3600)


def _writes_plan(queries: list[Query]) -> Plan[None]:
    yield queries


def changes_write(*, change: FeedChange, user_ids: Iterable[int]) -> int:
    """Append `change` to each user's feed (idempotent: the same change, the same cells); returns
    how many rows it wrote."""
    ttl = retention_seconds()
    index_ttl = ttl + BUCKET_MS // 1000  # the bucket index outlives the rows it points to
    bucket = bucket_of(change.feed_id)
    entry = orjson.dumps(change.fields).decode()
    ts = write_timestamp(change.feed_id)
    queries: list[Query] = []
    for uid in sorted(set(user_ids)):
        queries.append(
            (
                INSERT_CHANGE_ROW,
                (uid, bucket, change.feed_id, change.kind, change.conversation_id, entry, ttl, ts),
            )
        )
        queries.append((INSERT_CHANGE_BUCKET, (uid, bucket, index_ttl)))
    if queries:
        run_plan(_writes_plan(queries))
    return len(queries) // 2


def _change(row: object) -> FeedChange:
    return FeedChange(
        feed_id=row.feed_id,  # type: ignore[attr-defined]
        kind=row.kind,  # type: ignore[attr-defined]
        conversation_id=row.conversation_id,  # type: ignore[attr-defined]
        fields=orjson.loads(row.entry or "{}"),  # type: ignore[attr-defined]
    )


def feed_read(*, user_id: int, since: int, limit: int) -> FeedPage:
    """Up to `limit` entries of the user's feed with `feed_id` > `since`, oldest first.

    Each table is walked for `limit + 1` rows; the first `limit` of their merge are exactly the
    feed's first `limit` entries (an entry among those is among the first `limit` of its table).
    """
    want = limit + 1
    messages, changes = run_plans(
        [
            walk(spec=SYNC_OLDEST_FIRST, key=user_id, lower=since, upper=MAX_ID, want=want),
            walk(spec=CHANGES_OLDEST_FIRST, key=user_id, lower=since, upper=MAX_ID, want=want),
        ]
    )
    inbox: list[FeedEntry] = [row_message(r) for r in messages[:want]]
    others: list[FeedEntry] = [_change(r) for r in changes[:want]]
    merged = list(heapq.merge(inbox, others, key=feed_id_of))
    return FeedPage(entries=merged[:limit], has_more=len(merged) > limit)


def _inbox_plan(user_id: int, ids: Sequence[int]) -> Plan[dict[int, tuple[int, int]]]:
    rows_list: list[Rows] = yield [(SELECT_INBOX_MESSAGE, (user_id, bucket_of(m), m)) for m in ids]
    return {
        m: (rows[0].conversation_id, rows[0].sender_id)
        for m, rows in zip(ids, rows_list, strict=True)
        if rows
    }


def inbox_messages_locate(*, user_id: int, message_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """For each of these message IDs found in the user's inbox: (conversation, sender). IDs not
    there (someone else's messages, made-up IDs) are left out."""
    return run_plan(_inbox_plan(user_id, list(message_ids))) if message_ids else {}
