"""The Cassandra message store: idempotent and race-safe writes, edits and tombstones, and reads
that span buckets (history before/after/around, sync, mentions, unread counts)."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.domain.records import PendingMessage
from chat.domain.snowflake import EPOCH_MS, snowflake_compose
from chat.store.cassandra import message_store as store
from chat.store.cassandra import plans
from chat.store.redis import claims
from chatproject.redis_client import get_redis

DAY_MS = 24 * 3600 * 1000
T0 = EPOCH_MS + 400 * DAY_MS
_ids = itertools.count(1)
_keys = itertools.count(1_000_000)


def at(ms: int) -> int:
    """A message ID made at Unix time `ms` (unique within the test run)."""
    n = next(_ids)
    return snowflake_compose(timestamp_ms=ms, worker_id=(n // 4096) % 1024, sequence=n % 4096)


def pending(
    conversation_id: int,
    message_id: int,
    *,
    sender: int = 1,
    recipients: tuple[int, ...] = (1, 2),
    mentions: tuple[int, ...] = (),
    client_msg_id: str | None = None,
    body: str | None = None,
) -> PendingMessage:
    return PendingMessage(
        id=message_id,
        conversation_id=conversation_id,
        sender_id=sender,
        client_msg_id=client_msg_id or f"c-{message_id}",
        body=body if body is not None else f"message {message_id}",
        mentions=mentions,
        recipient_ids=recipients,
    )


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every CQL statement the store executes, in order."""
    seen: list[str] = []
    real = plans.execute_statements

    def counting(batch: list[plans.Query]) -> list[plans.Rows]:
        seen.extend(cql for cql, _ in batch)
        return real(batch)

    monkeypatch.setattr(plans, "execute_statements", counting)
    return seen


@pytest.fixture(autouse=True)
def _clean(cassandra_clean: str) -> None:
    """Every test starts from empty tables."""


def test_storing_the_same_message_twice_changes_nothing() -> None:
    """A redelivered message is stored once: one row in history, one per inbox, one mention."""
    msg = pending(10, at(T0), mentions=(2,))
    first = store.messages_write(pending=[msg])
    again = store.messages_write(pending=[msg])
    assert [r.duplicate for r in first + again] == [False, False]
    assert [m.id for m in store.conversation_history(conversation_id=10, limit=10).messages] == [msg.id]
    for user in (1, 2):
        assert [m.id for m in store.user_sync(user_id=user, since=0, limit=10).messages] == [msg.id]
    assert [m.id for m in store.user_mentions(user_id=2, before=None, limit=10).messages] == [msg.id]


def test_resend_with_a_new_id_returns_the_first_message() -> None:
    """The same (sender, client_msg_id) under a new ID stores nothing and reports the first ID."""
    first = pending(11, at(T0), client_msg_id="abc")
    resend = pending(11, at(T0 + 5), client_msg_id="abc", body="other text")
    store.messages_write(pending=[first])
    [result] = store.messages_write(pending=[resend])
    assert result.duplicate
    assert result.pending_id == resend.id
    assert result.message.id == first.id
    assert result.message.body == first.body
    assert [m.id for m in store.conversation_history(conversation_id=11, limit=10).messages] == [first.id]
    # another sender may use the same client_msg_id
    other = pending(11, at(T0 + 6), sender=2, client_msg_id="abc")
    assert not store.messages_write(pending=[other])[0].duplicate


def test_one_batch_with_a_message_twice_stores_it_once() -> None:
    """Two entries of one batch sharing a client_msg_id end as one message."""
    a = pending(12, at(T0), client_msg_id="dup")
    b = pending(12, at(T0 + 1), client_msg_id="dup")
    results = store.messages_write(pending=[a, b])
    assert results[0].message.id == results[1].message.id
    assert len(store.conversation_history(conversation_id=12, limit=10).messages) == 1


def test_concurrent_stores_of_one_client_msg_id_agree_on_one_message() -> None:
    """Racing persists with different IDs: exactly one message stored, every caller learns it."""
    candidates = [pending(13, at(T0 + i), client_msg_id="race", body=f"try {i}") for i in range(8)]
    results: list[int] = []
    barrier = threading.Barrier(len(candidates))

    def persist(msg: PendingMessage) -> None:
        barrier.wait()
        [result] = store.messages_write(pending=[msg])
        results.append(result.message.id)

    threads = [threading.Thread(target=persist, args=(m,)) for m in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.conversation_history(conversation_id=13, limit=10).messages
    assert len(history) == 1
    assert set(results) == {history[0].id}
    assert len(store.user_sync(user_id=2, since=0, limit=10).messages) == 1


async def test_concurrent_async_stores_agree_on_one_message() -> None:
    """Stores raced from an event loop (each in a thread) agree too, and reads see the single winner."""
    candidates = [pending(14, at(T0 + i), client_msg_id="race-async") for i in range(6)]
    outcomes = await asyncio.gather(
        *(asyncio.to_thread(store.messages_write, pending=[m]) for m in candidates)
    )
    ids = {outcome[0].message.id for outcome in outcomes}
    history = await asyncio.to_thread(store.conversation_history, conversation_id=14, limit=10)
    assert ids == {m.id for m in history.messages}
    assert len(ids) == 1
    synced = await asyncio.to_thread(store.user_sync, user_id=1, since=0, limit=10)
    assert [m.id for m in synced.messages] == list(ids)


def test_loser_finishes_storing_a_winner_whose_writer_died() -> None:
    """A claim taken by a writer that died before its rows: the resend stores and returns it."""
    orphan = pending(15, at(T0), client_msg_id="orphan", mentions=(2,))
    [holder] = claims.message_claims(get_redis(), [orphan], ttl=60)  # then the writer died
    assert holder == orphan
    assert store.conversation_history(conversation_id=15, limit=10).messages == []
    [result] = store.messages_write(pending=[pending(15, at(T0 + 9), client_msg_id="orphan")])
    assert result.duplicate
    assert result.message.id == orphan.id
    assert [m.id for m in store.conversation_history(conversation_id=15, limit=10).messages] == [orphan.id]
    assert [m.id for m in store.user_mentions(user_id=2, before=None, limit=10).messages] == [orphan.id]


def test_a_claim_redis_forgot_is_found_in_the_claim_table_and_given_back() -> None:
    """After the Redis claims are gone (expired, or Redis lost them), a resend still finds the
    first message through the claim table, and Redis holds that first message's claim again."""
    first = pending(16, at(T0), client_msg_id="forgotten")
    store.messages_write(pending=[first])
    assert claims.message_claims_clear(get_redis()) == 1
    [result] = store.messages_write(pending=[pending(16, at(T0 + 3), client_msg_id="forgotten")])
    assert (result.duplicate, result.message.id) == (True, first.id)
    [holder] = claims.message_claims(
        get_redis(), [pending(16, at(T0 + 4), client_msg_id="forgotten")], ttl=60
    )
    assert holder.id == first.id
    assert [m.id for m in store.conversation_history(conversation_id=16, limit=10).messages] == [first.id]


def test_redelivery_after_an_edit_does_not_undo_it() -> None:
    """Edits and deletes are written later than the original, so a late re-store loses to them."""
    msg = pending(16, at(T0), mentions=(2,))
    store.messages_write(pending=[msg])
    stored = store.message_get(conversation_id=16, message_id=msg.id)
    assert stored is not None
    edited = store.message_update_body(message=stored, body="fixed", mentions=stored.mentions)
    store.messages_write(pending=[msg])
    again = store.message_get(conversation_id=16, message_id=msg.id)
    assert again is not None
    assert (again.body, again.edited_at) == ("fixed", edited.edited_at)
    assert store.user_sync(user_id=2, since=0, limit=1).messages[0].body == "fixed"
    assert store.user_mentions(user_id=2, before=None, limit=1).messages[0].body == "fixed"


def test_tombstone_is_visible_everywhere_and_survives_redelivery() -> None:
    """A deleted message stays as a tombstone without body in history, sync and mentions."""
    msg = pending(17, at(T0), mentions=(2,))
    store.messages_write(pending=[msg])
    stored = store.message_get(conversation_id=17, message_id=msg.id)
    assert stored is not None
    store.message_tombstone(message=stored)
    store.messages_write(pending=[msg])
    views = [
        store.conversation_history(conversation_id=17, limit=5).messages,
        store.user_sync(user_id=1, since=0, limit=5).messages,
        store.user_sync(user_id=2, since=0, limit=5).messages,
        store.user_mentions(user_id=2, before=None, limit=5).messages,
    ]
    for view in views:
        assert [(m.id, m.deleted, m.body) for m in view] == [(msg.id, True, "")]


def _store_at(conversation_id: int, times: list[int]) -> list[int]:
    ids = sorted(at(t) for t in times)
    store.messages_write(pending=[pending(conversation_id, i) for i in ids])
    return ids


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    days=st.lists(st.integers(min_value=0, max_value=300), min_size=0, max_size=40),
    limit=st.integers(min_value=1, max_value=12),
)
def test_paging_before_reaches_every_message_once(days: list[int], limit: int) -> None:
    """Across many buckets with gaps, `before` paging lists every message exactly once, newest first."""
    conversation = next(_keys)
    ids = _store_at(conversation, [T0 + d * DAY_MS + i for i, d in enumerate(days)])
    seen: list[int] = []
    before = None
    while True:
        page = store.conversation_history(conversation_id=conversation, before=before, limit=limit)
        seen += [m.id for m in page.messages]
        assert len(page.messages) <= limit
        if not page.has_more:
            break
        assert len(page.messages) == limit
        before = page.messages[-1].id
    assert seen == sorted(ids, reverse=True)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    days=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=30),
    pick=st.integers(min_value=0),
    limit=st.integers(min_value=1, max_value=10),
)
def test_after_and_around_windows(days: list[int], pick: int, limit: int) -> None:
    """`after` gives the oldest newer messages; `around` the anchor with its neighbours on each side."""
    conversation = next(_keys)
    ids = _store_at(conversation, [T0 + d * DAY_MS + i for i, d in enumerate(days)])
    anchor_index = pick % len(ids)
    anchor = ids[anchor_index]
    after = store.conversation_history(conversation_id=conversation, after=anchor, limit=limit)
    newer = ids[anchor_index + 1 :]
    assert [m.id for m in after.messages] == newer[:limit][::-1]
    assert after.has_more == (len(newer) > limit)
    around = store.conversation_history_around(conversation_id=conversation, around=anchor, limit=limit)
    older_n = limit // 2
    start = max(0, anchor_index - older_n)
    expected = ids[start : anchor_index + (limit - older_n)]
    assert [m.id for m in around.messages] == expected[::-1]
    assert around.has_more_before == (start > 0)
    assert around.has_more_after == (anchor_index + (limit - older_n) < len(ids))


def test_before_and_after_together_bound_a_range() -> None:
    """`after` with `before` lists only messages strictly between them."""
    ids = _store_at(20, [T0 + i * DAY_MS for i in range(6)])
    page = store.conversation_history(conversation_id=20, after=ids[1], before=ids[4], limit=10)
    assert [m.id for m in page.messages] == [ids[3], ids[2]]


def test_empty_buckets_cost_nothing(statements: list[str]) -> None:
    """Messages 1,000 days apart: a page spanning them runs one index query and two partition reads."""
    old = _store_at(21, [T0 + i for i in range(3)])
    new = _store_at(21, [T0 + 1000 * DAY_MS + i for i in range(3)])
    statements.clear()
    # from the oldest new message back over 100 empty buckets: index, new bucket (empty), old bucket
    page = store.conversation_history(conversation_id=21, before=new[0], limit=4)
    assert [m.id for m in page.messages] == old[::-1]
    assert not page.has_more
    assert len(statements) == 3
    statements.clear()
    page = store.conversation_history(conversation_id=21, limit=5)
    assert [m.id for m in page.messages] == [*new[::-1], *old[::-1]][:5]
    assert len(statements) == 3
    statements.clear()
    synced = store.user_sync(user_id=2, since=0, limit=6)
    assert [m.id for m in synced.messages] == old + new
    assert len(statements) == 3


def test_sync_returns_exactly_my_messages_after_since_ascending() -> None:
    """Sync across conversations: every message for me with id > since, ascending, paginated."""
    mine_a = _store_ids(30, [T0 + i * DAY_MS for i in range(0, 40, 3)], recipients=(1, 2))
    mine_b = _store_ids(31, [T0 + i * DAY_MS + 1 for i in range(0, 40, 4)], recipients=(2, 3))
    _store_ids(32, [T0 + i * DAY_MS + 2 for i in range(0, 40, 5)], recipients=(1, 3))
    everything = sorted(mine_a + mine_b)
    since = everything[4]
    got: list[int] = []
    cursor = since
    while True:
        page = store.user_sync(user_id=2, since=cursor, limit=3)
        got += [m.id for m in page.messages]
        if not page.has_more:
            break
        cursor = page.messages[-1].id
    assert got == [i for i in everything if i > since]
    assert {m.conversation_id for m in store.user_sync(user_id=2, since=0, limit=100).messages} == {30, 31}


def _store_ids(conversation_id: int, times: list[int], *, recipients: tuple[int, ...]) -> list[int]:
    ids = [at(t) for t in times]
    store.messages_write(pending=[pending(conversation_id, i, recipients=recipients) for i in ids])
    return ids


def test_mentions_page_newest_first() -> None:
    """Mentions of a user across conversations, newest first, paged with `before`."""
    ids = [at(T0 + i * 7 * DAY_MS) for i in range(5)]
    store.messages_write(pending=[pending(40 + i % 2, mid, mentions=(2,)) for i, mid in enumerate(ids)])
    store.messages_write(pending=[pending(40, at(T0 + 1), mentions=(3,))])
    first = store.user_mentions(user_id=2, before=None, limit=3)
    assert [m.id for m in first.messages] == ids[::-1][:3]
    assert first.has_more
    rest = store.user_mentions(user_id=2, before=first.messages[-1].id, limit=3)
    assert [m.id for m in rest.messages] == ids[::-1][3:]
    assert not rest.has_more


def test_unread_counts_skip_own_and_deleted_messages_and_cap() -> None:
    """Unread = others' live messages after the read marker, capped."""
    ids = [at(T0 + i * DAY_MS) for i in range(8)]
    store.messages_write(pending=[pending(50, mid, sender=1 if i % 4 else 2) for i, mid in enumerate(ids)])
    deleted = store.message_get(conversation_id=50, message_id=ids[5])
    assert deleted is not None
    store.message_tombstone(message=deleted)
    queries = [
        store.UnreadQuery(conversation_id=50, user_id=2, last_read_message_id=0),
        store.UnreadQuery(conversation_id=50, user_id=2, last_read_message_id=ids[3]),
        store.UnreadQuery(conversation_id=50, user_id=1, last_read_message_id=0),
        store.UnreadQuery(conversation_id=51, user_id=2, last_read_message_id=0),
    ]
    # user 2 sent ids[0] and ids[4]; ids[5] is deleted
    assert store.unread_counts(queries=queries, cap=100) == [5, 2, 2, 0]
    assert store.unread_counts(queries=queries[:1], cap=3) == [3]
