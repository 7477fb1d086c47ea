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
from collections import Counter
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
    MENTIONS_NEWEST_FIRST,
    SELECT_INBOX_MESSAGE,
    SYNC_OLDEST_FIRST,
    Walk,
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


# --- counts (make bench: the rows the feed costs; not on any request path)

_COUNT_PAGE = 5000


def _all_rows_plan(*, spec: Walk, key: int, since: int, id_column: str) -> Plan[Rows]:
    """Every row of a user's partitions with an ID greater than `since`, page by page."""
    got: Rows = []
    lower, upper = since, MAX_ID
    while True:
        rows = yield from walk(spec=spec, key=key, lower=lower, upper=upper, want=_COUNT_PAGE)
        got.extend(rows)
        if len(rows) < _COUNT_PAGE:
            return got
        if spec.newest_first:
            upper = getattr(rows[-1], id_column)
        else:
            lower = getattr(rows[-1], id_column)


def _rows_of_users(
    *, spec: Walk, user_ids: Iterable[int], since: int, conversation_id: int | None, id_column: str
) -> list[Rows]:
    plans = [
        _all_rows_plan(spec=spec, key=uid, since=since, id_column=id_column) for uid in sorted(set(user_ids))
    ]
    return [
        [r for r in rows if conversation_id is None or r.conversation_id == conversation_id]
        for rows in run_plans(plans)
    ]


def changes_count(
    *, user_ids: Iterable[int], since: int, conversation_id: int | None = None
) -> dict[str, int]:
    """How many `changes_by_user` rows the feeds of `user_ids` hold with `feed_id` > `since`
    (of one conversation, or all), by kind."""
    counts: Counter[str] = Counter()
    for rows in _rows_of_users(
        spec=CHANGES_OLDEST_FIRST,
        user_ids=user_ids,
        since=since,
        conversation_id=conversation_id,
        id_column="feed_id",
    ):
        counts.update(r.kind for r in rows)
    return dict(counts)


def inbox_count(*, user_ids: Iterable[int], since: int, conversation_id: int | None = None) -> dict[str, int]:
    """How many inbox rows (`messages_by_user`) and mention rows (`mentions_by_user`) the users
    hold with a message ID > `since` (of one conversation, or all)."""
    users = list(user_ids)
    tables = {"messages_by_user": SYNC_OLDEST_FIRST, "mentions_by_user": MENTIONS_NEWEST_FIRST}
    return {
        table: sum(
            len(rows)
            for rows in _rows_of_users(
                spec=spec,
                user_ids=users,
                since=since,
                conversation_id=conversation_id,
                id_column="message_id",
            )
        )
        for table, spec in tables.items()
    }
