"""The message tables' CQL, partitions and rows: every statement the message store prepares, the
bucket arithmetic of the partition keys, the cell timestamps that make writes idempotent, the
decoding of a row and the walk over a partition's non-empty buckets (docs/message-store.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chat.domain.records import StoredMessage
from chat.domain.snowflake import EPOCH_MS, MAX_ID, snowflake_timestamp_ms
from chat.store.cassandra.plans import Plan, Rows

BUCKET_MS = 10 * 24 * 3600 * 1000  # ten days; fixed forever: it is part of every partition key
_BUCKETS_PER_STEP = 8
_MAX_BUCKET = (MAX_ID >> 22) // BUCKET_MS + 1

_MSG = "message_id, sender_id, client_msg_id, body, mentions, edited_at, deleted"
_INBOX_COLUMNS = (
    "(user_id, bucket, message_id, conversation_id, sender_id, client_msg_id, body, mentions, deleted)"
)

INSERT_CLAIM = (
    "INSERT INTO {ks}.message_client_ids (sender_id, client_msg_id, message_id, conversation_id, body, "
    "mentions, recipient_ids) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_CLAIMS_OF_SENDER = (
    "SELECT client_msg_id, message_id, conversation_id, body, mentions, recipient_ids "
    "FROM {ks}.message_client_ids WHERE sender_id = ? AND client_msg_id IN ?"
)
INSERT_CONVERSATION_ROW = (
    "INSERT INTO {ks}.messages_by_conversation (conversation_id, bucket, message_id, sender_id, "
    "client_msg_id, body, mentions, recipient_ids, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, false) "
    "USING TIMESTAMP ?"
)
_INBOX_VALUES = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, false) USING TIMESTAMP ?"
INSERT_INBOX_ROW = f"INSERT INTO {{ks}}.messages_by_user {_INBOX_COLUMNS} {_INBOX_VALUES}"
INSERT_MENTION_ROW = f"INSERT INTO {{ks}}.mentions_by_user {_INBOX_COLUMNS} {_INBOX_VALUES}"
INSERT_CONVERSATION_BUCKET = "INSERT INTO {ks}.conversation_buckets (conversation_id, bucket) VALUES (?, ?)"
INSERT_USER_BUCKET = "INSERT INTO {ks}.user_buckets (user_id, bucket) VALUES (?, ?)"
INSERT_MENTION_BUCKET = "INSERT INTO {ks}.mention_buckets (user_id, bucket) VALUES (?, ?)"

_SET_BODY = (
    "USING TIMESTAMP ? SET body = ?, edited_at = ?, mentions = ? "
    "WHERE {key} = ? AND bucket = ? AND message_id = ?"
)
_SET_DELETED = (
    "USING TIMESTAMP ? SET body = null, deleted = true WHERE {key} = ? AND bucket = ? AND message_id = ?"
)
EDIT_CONVERSATION_ROW = "UPDATE {ks}.messages_by_conversation " + _SET_BODY.format(key="conversation_id")
EDIT_INBOX_ROW = "UPDATE {ks}.messages_by_user " + _SET_BODY.format(key="user_id")
EDIT_MENTION_ROW = "UPDATE {ks}.mentions_by_user " + _SET_BODY.format(key="user_id")
DELETE_CONVERSATION_ROW = "UPDATE {ks}.messages_by_conversation " + _SET_DELETED.format(key="conversation_id")
DELETE_INBOX_ROW = "UPDATE {ks}.messages_by_user " + _SET_DELETED.format(key="user_id")
DELETE_MENTION_ROW = "UPDATE {ks}.mentions_by_user " + _SET_DELETED.format(key="user_id")

DELETE_MENTION = (
    "DELETE FROM {ks}.mentions_by_user USING TIMESTAMP ? WHERE user_id = ? AND bucket = ? AND message_id = ?"
)
SELECT_INBOX_MESSAGE = (
    "SELECT conversation_id, sender_id FROM {ks}.messages_by_user "
    "WHERE user_id = ? AND bucket = ? AND message_id = ?"
)
# the change feed (migrations/0002_change_feed.cql): rows expire after the retention
INSERT_CHANGE_ROW = (
    "INSERT INTO {ks}.changes_by_user (user_id, bucket, feed_id, kind, conversation_id, entry) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
)
INSERT_CHANGE_BUCKET = "INSERT INTO {ks}.change_buckets (user_id, bucket) VALUES (?, ?) USING TTL ?"

SELECT_CONVERSATION_MESSAGE = (
    f"SELECT {_MSG}, recipient_ids FROM {{ks}}.messages_by_conversation "
    "WHERE conversation_id = ? AND bucket = ? AND message_id = ?"
)
_RANGE = "WHERE {key} = ? AND bucket = ? AND {id} > ? AND {id} < ? ORDER BY {id} {order} LIMIT ?"
_BUCKETS = (
    "SELECT bucket FROM {ks}.{table} WHERE {key} = ? AND bucket >= ? AND bucket <= ? "
    "ORDER BY bucket {order} LIMIT ?"
)


@dataclass(frozen=True)
class Walk:
    """The two statements of a bucket walk: the bucket index and the rows of one bucket."""

    buckets: str
    rows: str
    newest_first: bool


def _walk_spec(
    *, table: str, index: str, key: str, columns: str, newest_first: bool, id_column: str = "message_id"
) -> Walk:
    order = "DESC" if newest_first else "ASC"
    return Walk(
        buckets=_BUCKETS.format(ks="{ks}", table=index, key=key, order=order),
        rows=f"SELECT {columns} FROM {{ks}}.{table} " + _RANGE.format(key=key, order=order, id=id_column),
        newest_first=newest_first,
    )


_ROW_COLUMNS = f"{_MSG}, conversation_id"
_CONVERSATION = {
    "table": "messages_by_conversation",
    "index": "conversation_buckets",
    "key": "conversation_id",
}
_INBOX = {"table": "messages_by_user", "index": "user_buckets", "key": "user_id"}
_MENTIONS = {"table": "mentions_by_user", "index": "mention_buckets", "key": "user_id"}
HISTORY_NEWEST_FIRST = _walk_spec(**_CONVERSATION, columns=_ROW_COLUMNS, newest_first=True)
HISTORY_OLDEST_FIRST = _walk_spec(**_CONVERSATION, columns=_ROW_COLUMNS, newest_first=False)
UNREAD_SCAN = _walk_spec(**_CONVERSATION, columns="message_id, sender_id, deleted", newest_first=True)
SYNC_OLDEST_FIRST = _walk_spec(**_INBOX, columns=_ROW_COLUMNS, newest_first=False)
MENTIONS_NEWEST_FIRST = _walk_spec(**_MENTIONS, columns=_ROW_COLUMNS, newest_first=True)
CHANGES_OLDEST_FIRST = _walk_spec(
    table="changes_by_user",
    index="change_buckets",
    key="user_id",
    columns="feed_id, kind, conversation_id, entry",
    newest_first=False,
    id_column="feed_id",
)


def bucket_of(message_id: int) -> int:
    """The 10-day window of a message ID's timestamp (part of every partition key)."""
    return (snowflake_timestamp_ms(message_id) - EPOCH_MS) // BUCKET_MS


def write_timestamp(message_id: int) -> int:
    """Microseconds of the ID's own time: the cell timestamp of every original write."""
    return snowflake_timestamp_ms(message_id) * 1000


def edit_timestamp(message_id: int) -> int:
    """Now in microseconds, but always after the original write of the message."""
    now = int(datetime.now(UTC).timestamp() * 1_000_000)
    return max(now, write_timestamp(message_id) + 1)


# --- rows


def row_message(row: Any, *, conversation_id: int | None = None) -> StoredMessage:
    edited = row.edited_at
    return StoredMessage(
        id=row.message_id,
        conversation_id=conversation_id if conversation_id is not None else row.conversation_id,
        sender_id=row.sender_id,
        client_msg_id=row.client_msg_id or "",
        body="" if row.deleted else (row.body or ""),
        mentions=tuple(row.mentions or ()),
        edited_at=edited.replace(tzinfo=UTC) if edited is not None else None,
        deleted=bool(row.deleted),
        recipient_ids=tuple(sorted(getattr(row, "recipient_ids", None) or ())),
    )


def walk(*, spec: Walk, key: int, lower: int, upper: int, want: int) -> Plan[Rows]:
    """Up to `want` rows with lower < message_id < upper, in the spec's direction."""
    lower, upper = max(lower, -1), min(upper, MAX_ID)
    low_bucket, high_bucket = bucket_of(max(lower, 0)), bucket_of(max(upper, 0))
    got: Rows = []
    while len(got) < want and low_bucket <= high_bucket:
        [buckets] = yield [(spec.buckets, (key, low_bucket, high_bucket, _BUCKETS_PER_STEP))]
        for row in buckets:
            [rows] = yield [(spec.rows, (key, row.bucket, lower, upper, want - len(got)))]
            got.extend(rows)
            if len(got) >= want:
                break
        if len(buckets) < _BUCKETS_PER_STEP:
            break
        if spec.newest_first:
            high_bucket = buckets[-1].bucket - 1
        else:
            low_bucket = buckets[-1].bucket + 1
    return got
