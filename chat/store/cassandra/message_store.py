"""The message store: reads and writes of chat history (STYLE.md rule 2; the CQL itself is in `tables.py`).

Tables (chat/store/cassandra/migrations/0001_messages.cql, described in docs/message-store.md):
messages by conversation and by recipient inbox, mentions by user, one "non-empty buckets" index
per partition key, and the (sender, client_msg_id) claim table.

Design points:
- Every query is a prepared statement (`cassandra_prepare`), run at the consistency of
  CASSANDRA_CONSISTENCY.
- Idempotency of (sender, client_msg_id): concurrent stores are arbitrated by an atomic claim in
  Redis (`chat.store.redis.claims`, kept CHAT_CLAIM_TTL seconds, holding the whole winning
  message); the claim row in `message_client_ids` is its durable record, read for any claim Redis
  calls new (Redis may have expired or lost an older one) and written before the message's rows.
  This costs a read and a plain write per message where a lightweight transaction (Paxos: four
  round trips inside Cassandra) cost several times more of the node's CPU; see
  docs/message-store.md for the argument.
- Reads and writes are plans (`chat.store.cassandra.plans`), run with `execute_concurrent`; the
  statements, partitions and row decoding are in `chat.store.cassandra.tables`.
- Message rows are written `USING TIMESTAMP` derived from the message ID, so storing a message
  again writes identical cells (idempotent), while an edit or delete, written at the current
  time, always wins over a late re-store of the original.
- A read spanning buckets first asks the bucket index for the next few non-empty buckets in its
  direction, then reads only those partitions, stopping once the page is full: empty windows
  cost nothing, and a page costs one index query per `_BUCKETS_PER_STEP` buckets it touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from chat.domain.records import (
    AroundPage,
    MessagePage,
    PendingMessage,
    StoredMessage,
    StoredResult,
    pending_as_stored,
)
from chat.domain.snowflake import MAX_ID
from chat.store.cassandra.claim_table import claim_reads, claim_row, claim_rows, claim_winner
from chat.store.cassandra.plans import Plan, Query, plan_start, run_plan, run_plans, statements_start
from chat.store.cassandra.tables import (
    DELETE_CONVERSATION_ROW,
    DELETE_INBOX_ROW,
    DELETE_MENTION,
    DELETE_MENTION_ROW,
    EDIT_CONVERSATION_ROW,
    EDIT_INBOX_ROW,
    EDIT_MENTION_ROW,
    HISTORY_NEWEST_FIRST,
    HISTORY_OLDEST_FIRST,
    INSERT_CONVERSATION_BUCKET,
    INSERT_CONVERSATION_ROW,
    INSERT_INBOX_ROW,
    INSERT_MENTION_BUCKET,
    INSERT_MENTION_ROW,
    INSERT_USER_BUCKET,
    MENTIONS_NEWEST_FIRST,
    SELECT_CONVERSATION_MESSAGE,
    SYNC_OLDEST_FIRST,
    UNREAD_SCAN,
    Walk,
    bucket_of,
    edit_timestamp,
    row_message,
    walk,
    write_timestamp,
)
from chat.store.redis import claims
from chatproject.redis_client import get_redis

# --- writes


@dataclass
class _BucketCache:
    """Bucket-index rows this process has written already (they never go away), to skip them."""

    seen: set[tuple[str, str, int, int]]
    limit: int = 200_000

    def missing(self, statement: str, key: int, bucket: int) -> bool:
        return (settings.CASSANDRA_KEYSPACE, statement, key, bucket) not in self.seen

    def add(self, entries: Iterable[tuple[str, int, int]]) -> None:
        if len(self.seen) > self.limit:
            self.seen.clear()
        self.seen.update((settings.CASSANDRA_KEYSPACE, t, k, b) for t, k, b in entries)


_bucket_cache = _BucketCache(seen=set())


def message_store_forget_cache() -> None:
    """Forget which bucket-index rows were written (call after truncating the tables)."""
    _bucket_cache.seen.clear()


def _common(message: PendingMessage | StoredMessage) -> tuple[Any, ...]:
    """The columns an inbox or mention row shares with the message, after its keys."""
    return (
        message.id,
        message.conversation_id,
        message.sender_id,
        message.client_msg_id,
        message.body,
        list(message.mentions),
    )


def _row_writes(message: PendingMessage, new_index_rows: list[tuple[str, int, int]]) -> list[Query]:
    """Every row of one message, and the bucket-index rows not yet known to exist."""
    ts = write_timestamp(message.id)
    bucket = bucket_of(message.id)
    mentions = list(message.mentions)
    common = _common(message)
    queries: list[Query] = [
        (
            INSERT_CONVERSATION_ROW,
            (
                message.conversation_id,
                bucket,
                message.id,
                message.sender_id,
                message.client_msg_id,
                message.body,
                mentions,
                set(message.recipient_ids),
                ts,
            ),
        ),
        *((INSERT_INBOX_ROW, (uid, bucket, *common, ts)) for uid in message.recipient_ids),
        *((INSERT_MENTION_ROW, (uid, bucket, *common, ts)) for uid in message.mentions),
    ]
    index_rows = [
        (INSERT_CONVERSATION_BUCKET, message.conversation_id),
        *((INSERT_USER_BUCKET, uid) for uid in message.recipient_ids),
        *((INSERT_MENTION_BUCKET, uid) for uid in message.mentions),
    ]
    for cql, key in index_rows:
        if _bucket_cache.missing(cql, key, bucket) and (cql, key, bucket) not in new_index_rows:
            new_index_rows.append((cql, key, bucket))
            queries.append((cql, (key, bucket)))
    return queries


@dataclass(frozen=True)
class _Stored:
    results: list[StoredResult]
    forgotten: list[PendingMessage]  # winners found only in the claim table: Redis must learn them


def _store_plan(
    pending: Sequence[PendingMessage],
    claimed: Sequence[PendingMessage],
    claim_rows: dict[tuple[int, str], Any],
) -> Plan[_Stored]:
    """`claimed[i]`: the message that holds pending[i]'s claim in Redis (pending[i] itself when
    the claim was new there, or was its own from an earlier delivery of the same task);
    `claim_rows`: the rows of the claim table by (sender, client_msg_id)."""
    winners = list(claimed)
    forgotten: list[PendingMessage] = []
    for i, (p, c) in enumerate(zip(pending, claimed, strict=True)):
        row = claim_rows.get((p.sender_id, p.client_msg_id)) if c.id == p.id else None
        if row is not None and row.message_id != p.id:
            winners[i] = claim_winner(p, row)  # an older claim that Redis forgot
            forgotten.append(winners[i])
    # write each winner's claim row and rows; a loser writes the winner's too, in case the
    # winner's writer died between its claim and its rows (same cells, same timestamps: nothing
    # changes if it did not). Claim row and rows go in one round: should a writer die having
    # written the rows but not the claim row, its task is redelivered (CELERY_VISIBILITY_TIMEOUT)
    # well before Redis forgets the claim (CHAT_CLAIM_TTL), and writes the claim row then.
    writes: list[Query] = []
    bucket_rows: list[tuple[str, int, int]] = []
    written: set[int] = set()
    for w in winners:
        if w.id not in written:
            written.add(w.id)
            writes += [claim_row(w), *_row_writes(w, bucket_rows)]
    yield writes
    _bucket_cache.add(bucket_rows)
    # a duplicate reports the message as it is now (it may have been edited or deleted since)
    duplicates = [(p, w) for p, w in zip(pending, winners, strict=True) if w.id != p.id]
    current: dict[int, StoredMessage] = {}
    if duplicates:
        rows_list = yield [
            (SELECT_CONVERSATION_MESSAGE, (w.conversation_id, bucket_of(w.id), w.id)) for _, w in duplicates
        ]
        for (_, w), rows in zip(duplicates, rows_list, strict=True):
            if rows:
                current[w.id] = row_message(rows[0], conversation_id=w.conversation_id)
    results = []
    for p, w in zip(pending, winners, strict=True):
        stored = current.get(w.id) or pending_as_stored(w)
        results.append(StoredResult(pending_id=p.id, message=stored, duplicate=w.id != p.id))
    return _Stored(results=results, forgotten=forgotten)


def messages_write_start(*, pending: Sequence[PendingMessage]) -> Callable[[], list[StoredResult]]:
    """Store messages idempotently in every table; calling the result waits for the writes and
    returns one result per input, in order. In between, the caller may do other work (the worker
    reads the routes) while Cassandra writes.

    For each message the (sender_id, client_msg_id) claim is taken in Redis and checked against
    the claim table (the two at once); if an earlier message holds it, that message is (re)written
    and returned instead, so concurrent stores of one client_msg_id all end with the one message
    that won.
    """
    if not pending:
        return list
    client = get_redis()
    reads = claim_reads(pending)
    read_rows = statements_start(reads)
    claimed = claims.message_claims(client, pending, ttl=settings.CHAT_CLAIM_TTL)
    finish = plan_start(_store_plan(pending, claimed, claim_rows(reads, read_rows())))

    def results() -> list[StoredResult]:
        stored = finish()
        if stored.forgotten:
            claims.message_claims_restore(client, stored.forgotten, ttl=settings.CHAT_CLAIM_TTL)
        return stored.results

    return results


def messages_write(*, pending: Sequence[PendingMessage]) -> list[StoredResult]:
    """`messages_write_start`, waited for."""
    return messages_write_start(pending=pending)()


def _change_plan(message: StoredMessage, writes: Callable[[int, int], list[Query]]) -> Plan[None]:
    yield writes(edit_timestamp(message.id), bucket_of(message.id))


def message_update_body(*, message: StoredMessage, body: str, mentions: tuple[int, ...]) -> StoredMessage:
    """Set a new body, its `mentions` and `edited_at` on every copy of `message` (conversation,
    inboxes, mentions); a member the edit no longer mentions loses the mention row, one it newly
    mentions gets one."""
    now = datetime.now(UTC)
    edited_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Cassandra keeps ms
    edited = replace(message, body=body, edited_at=edited_at, mentions=mentions)

    def writes(ts: int, bucket: int) -> list[Query]:
        head, tail = (ts, body, edited_at, list(mentions)), (bucket, message.id)
        added = [uid for uid in mentions if uid not in message.mentions]
        return [
            (EDIT_CONVERSATION_ROW, (*head, message.conversation_id, *tail)),
            *((EDIT_INBOX_ROW, (*head, uid, *tail)) for uid in message.recipient_ids),
            *((DELETE_MENTION, (ts, uid, *tail)) for uid in message.mentions if uid not in mentions),
            *((INSERT_MENTION_ROW, (uid, bucket, *_common(edited), ts)) for uid in added),
            *((INSERT_MENTION_BUCKET, (uid, bucket)) for uid in added),
            *((EDIT_MENTION_ROW, (*head, uid, *tail)) for uid in mentions),
        ]

    run_plan(_change_plan(message, writes))
    return edited


def message_tombstone(*, message: StoredMessage) -> StoredMessage:
    """Delete: remove the body and mark every copy `deleted` (the row stays, as a tombstone)."""

    def writes(ts: int, bucket: int) -> list[Query]:
        return [
            (DELETE_CONVERSATION_ROW, (ts, message.conversation_id, bucket, message.id)),
            *((DELETE_INBOX_ROW, (ts, uid, bucket, message.id)) for uid in message.recipient_ids),
            *((DELETE_MENTION_ROW, (ts, uid, bucket, message.id)) for uid in message.mentions),
        ]

    run_plan(_change_plan(message, writes))
    return replace(message, body="", deleted=True)


# --- reads


def _get_many_plan(keys: Sequence[tuple[int, int]]) -> Plan[dict[tuple[int, int], StoredMessage]]:
    rows_list = yield [(SELECT_CONVERSATION_MESSAGE, (c, bucket_of(m), m)) for c, m in keys]
    return {
        (c, m): row_message(rows[0], conversation_id=c)
        for (c, m), rows in zip(keys, rows_list, strict=True)
        if rows
    }


def messages_get(*, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], StoredMessage]:
    """Point reads of (conversation_id, message_id) pairs; missing ones are left out."""
    return run_plan(_get_many_plan(list(keys))) if keys else {}


def message_get(*, conversation_id: int, message_id: int) -> StoredMessage | None:
    return messages_get(keys=[(conversation_id, message_id)]).get((conversation_id, message_id))


def _page_plan(*, spec: Walk, key: int, lower: int, upper: int, limit: int) -> Plan[MessagePage]:
    rows = yield from walk(spec=spec, key=key, lower=lower, upper=upper, want=limit + 1)
    return MessagePage(messages=[row_message(r) for r in rows[:limit]], has_more=len(rows) > limit)


def _history_plan(
    *, conversation_id: int, before: int | None, after: int | None, limit: int
) -> Plan[MessagePage]:
    if after is not None:
        upper = before if before is not None else MAX_ID
        page = yield from _page_plan(
            spec=HISTORY_OLDEST_FIRST, key=conversation_id, lower=after, upper=upper, limit=limit
        )
        return MessagePage(messages=page.messages[::-1], has_more=page.has_more)
    return (
        yield from _page_plan(
            spec=HISTORY_NEWEST_FIRST,
            key=conversation_id,
            lower=-1,
            upper=before if before is not None else MAX_ID,
            limit=limit,
        )
    )


def conversation_history(
    *, conversation_id: int, before: int | None = None, after: int | None = None, limit: int
) -> MessagePage:
    """A history page, newest first.

    Without `after`: the `limit` newest messages older than `before` (or the newest of all);
    `has_more` says older ones exist. With `after`: the `limit` oldest messages newer than `after`
    (and older than `before` if given), still listed newest first; `has_more` says newer ones exist.
    """
    return run_plan(_history_plan(conversation_id=conversation_id, before=before, after=after, limit=limit))


def conversation_history_around(*, conversation_id: int, around: int, limit: int) -> AroundPage:
    """Jump to a message: it (if it exists) with the messages just newer and just older, newest first.

    Up to `limit // 2` older messages and up to `limit - limit // 2` of the anchor and newer ones.
    """
    older_count = limit // 2
    newer, older = run_plans(
        [
            _history_plan(
                conversation_id=conversation_id, before=None, after=around - 1, limit=limit - older_count
            ),
            _history_plan(conversation_id=conversation_id, before=around, after=None, limit=older_count),
        ]
    )
    return AroundPage(
        messages=newer.messages + older.messages,
        has_more_before=older.has_more if older_count else bool(_peek_older(conversation_id, around)),
        has_more_after=newer.has_more,
    )


def _peek_older(conversation_id: int, around: int) -> bool:
    return bool(conversation_history(conversation_id=conversation_id, before=around, limit=1).messages)


def user_sync(*, user_id: int, since: int, limit: int) -> MessagePage:
    """The user's inbox: up to `limit` messages with ID > `since`, oldest first."""
    return run_plan(_page_plan(spec=SYNC_OLDEST_FIRST, key=user_id, lower=since, upper=MAX_ID, limit=limit))


def user_mentions(*, user_id: int, before: int | None, limit: int) -> MessagePage:
    """Messages that mention the user, newest first, older than `before`."""
    upper = before if before is not None else MAX_ID
    return run_plan(_page_plan(spec=MENTIONS_NEWEST_FIRST, key=user_id, lower=-1, upper=upper, limit=limit))


@dataclass(frozen=True)
class UnreadQuery:
    conversation_id: int
    user_id: int
    last_read_message_id: int


def _unread_plan(query: UnreadQuery, cap: int) -> Plan[int]:
    rows = yield from walk(
        spec=UNREAD_SCAN,
        key=query.conversation_id,
        lower=query.last_read_message_id,
        upper=MAX_ID,
        want=cap,
    )
    if len(rows) >= cap:
        return cap  # at least this many came after the marker: the count saturates
    return sum(1 for r in rows if r.sender_id != query.user_id and not r.deleted)


def unread_counts(*, queries: Sequence[UnreadQuery], cap: int) -> list[int]:
    """Per query, the messages after the read marker not sent by the user and not deleted.

    At most `cap` messages are read per conversation: when that many came after the marker the
    count is `cap` ("cap or more"), otherwise it is exact. All conversations are scanned at once.
    """
    return [int(n) for n in run_plans([_unread_plan(q, cap) for q in queries])]
