"""The change feed (docs/protocol.md, "The change feed"): the merged read of the inbox and
`changes_by_user`, a device's catch-up (look-back, retention, left conversations), the entries
each service writes to whose feeds, and the late-entry rewrite of `chat.feed.feed_change_send`."""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Block
from accounts.services import block_create, block_remove
from accounts.tests.factories import UserFactory
from chat import feed, selectors, services
from chat.domain.events import Origin, sync_item
from chat.domain.records import FeedChange, FeedEntry, PendingMessage, StoredMessage, feed_id_of
from chat.domain.snowflake import snowflake_min_for_time, snowflake_next_id, snowflake_next_ids
from chat.protocol import feed_entry_frame
from chat.store.cassandra import feed_store, message_store
from chat.sync_queue import SYNC_QUEUE
from chat.tests.test_apis import client_for
from chat.worker import pipeline
from chatproject.celery import app as celery_app
from chatproject.redis_client import get_redis

pytestmark = pytest.mark.usefixtures("cassandra_clean")

DAY_MS = 86_400_000
Committed = Callable[..., AbstractContextManager[Any]]  # django_capture_on_commit_callbacks

# feeds of users that exist only in Cassandra (the store does not know PostgreSQL)
_store_users = itertools.count(7_000_000_000)


# ---------------------------------------------------------------- helpers (test_receipts uses them)


def say(sender: Any, conversation_id: int, body: str) -> StoredMessage:
    """A message sent and stored as the sync worker does it (inbox rows included)."""
    pending = services.check_message_send_blocking(
        sender_id=sender.pk, conversation_id=conversation_id, client_msg_id=uuid.uuid4().hex, body=body
    )
    [result] = message_store.messages_write(pending=[pending])
    services.conversations_touch(messages=[result.message])
    return result.message


def feed_frames(user: Any, *, since: int = 0) -> list[dict[str, Any]]:
    """The user's feed after `since` as a device gets it from a sync (the frames, in order)."""
    page = selectors.feed_sync(user_id=user.pk, since=since, limit=500)
    assert not page.has_more
    return [feed_entry_frame(e) for e in page.entries]


def entries_of(user: Any, kind: str, *, since: int = 0) -> list[dict[str, Any]]:
    """The user's feed entries of type `kind`, without their `type` and `feed_id`."""
    return [
        {k: v for k, v in frame.items() if k not in ("type", "feed_id")}
        for frame in feed_frames(user, since=since)
        if frame["type"] == kind
    ]


def _change(feed_id: int, conversation_id: int, kind: str = "read") -> FeedChange:
    return FeedChange(feed_id=feed_id, kind=kind, conversation_id=conversation_id, fields={"n": feed_id})


def _message(message_id: int, conversation_id: int, user_id: int) -> PendingMessage:
    return PendingMessage(
        id=message_id,
        conversation_id=conversation_id,
        sender_id=user_id,
        client_msg_id=f"f-{message_id}",
        body=f"message {message_id}",
        recipient_ids=(user_id,),
    )


def _write_interleaved(*, user_id: int, conversation_id: int, is_message: list[bool]) -> list[int]:
    """Feed entries of the user in ID order, each a message (True) or a change (False); their IDs."""
    ids = snowflake_next_ids(count=len(is_message)) if is_message else []
    messages = [_message(i, conversation_id, user_id) for i, m in zip(ids, is_message, strict=True) if m]
    if messages:
        message_store.messages_write(pending=messages)
    for i, m in zip(ids, is_message, strict=True):
        if not m:
            feed_store.changes_write(change=_change(i, conversation_id), user_ids=[user_id])
    return ids


def _pages(read: Callable[[int], tuple[list[FeedEntry], bool, int]]) -> Iterator[list[FeedEntry]]:
    """Pages of `read(since) -> (entries, has_more, next since)` from 0 until has_more is false."""
    since, has_more = 0, True
    while has_more:
        entries, has_more, since = read(since)
        yield entries


# ---------------------------------------------------------------- the store: feed_read


def test_feed_read_merges_inbox_and_changes_in_feed_id_order() -> None:
    """Messages of the inbox and change rows come back as one feed, ordered by feed_id."""
    user = next(_store_users)
    kinds = [True, False, False, True, False, True, True, False]
    ids = _write_interleaved(user_id=user, conversation_id=41, is_message=kinds)
    page = feed_store.feed_read(user_id=user, since=0, limit=100)
    assert [feed_id_of(e) for e in page.entries] == ids
    assert [isinstance(e, StoredMessage) for e in page.entries] == kinds
    assert not page.has_more
    after = feed_store.feed_read(user_id=user, since=ids[3], limit=100)
    assert [feed_id_of(e) for e in after.entries] == ids[4:]
    assert feed_store.feed_read(user_id=next(_store_users), since=0, limit=10).entries == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.booleans(), max_size=14), limit=st.integers(min_value=1, max_value=5))
def test_feed_read_pages_cover_every_entry_once(kinds: list[bool], limit: int) -> None:
    """Paging with `limit` from the last feed_id seen returns each entry once, in order; has_more
    is true exactly while entries remain."""
    user = next(_store_users)
    ids = _write_interleaved(user_id=user, conversation_id=42, is_message=kinds)

    def read(since: int) -> tuple[list[FeedEntry], bool, int]:
        page = feed_store.feed_read(user_id=user, since=since, limit=limit)
        assert len(page.entries) <= limit
        return page.entries, page.has_more, feed_id_of(page.entries[-1]) if page.entries else since

    pages = list(_pages(read))
    assert [feed_id_of(e) for page in pages for e in page] == ids
    assert all(len(page) == limit for page in pages[:-1])


def test_changes_write_is_idempotent() -> None:
    """Writing the same change twice leaves one entry per user."""
    users = [next(_store_users), next(_store_users)]
    change = _change(snowflake_next_id(), 43)
    assert feed_store.changes_write(change=change, user_ids=users) == 2
    feed_store.changes_write(change=change, user_ids=users)
    for user in users:
        assert feed_store.feed_read(user_id=user, since=0, limit=10).entries == [change]


# ---------------------------------------------------------------- a device's catch-up


def test_catch_up_looks_back_the_late_window_and_no_further(alice: Any) -> None:
    """A sync from `since` finds an entry numbered shortly before it (written late), but not one
    older than CHAT_LATE_ID_SECONDS before it."""
    group = services.conversation_group_create(owner=alice, title="solo", member_ids=[])
    now_ms = int(time.time() * 1000)
    too_old = snowflake_min_for_time(now_ms - 30_000) + 1
    late = snowflake_next_id()
    since = snowflake_next_id()
    for feed_id in (too_old, late):
        feed_store.changes_write(change=_change(feed_id, group.pk), user_ids=[alice.pk])
    page, next_since = selectors.catch_up_page(user_id=alice.pk, since=since, limit=10)
    assert [feed_id_of(e) for e in page.entries] == [late]
    assert (page.reset_required, page.has_more, next_since) == (False, False, since)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.booleans(), min_size=1, max_size=12), limit=st.integers(min_value=1, max_value=4))
def test_catch_up_pages_neither_repeat_nor_skip(db: None, kinds: list[bool], limit: int) -> None:
    """Paging a sync with catch_up_page's next `since` (look-back included) returns each entry
    once, in order."""
    user: Any = UserFactory()
    group = services.conversation_group_create(owner=user, title="solo", member_ids=[])
    ids = _write_interleaved(user_id=user.pk, conversation_id=group.pk, is_message=kinds)

    def read(since: int) -> tuple[list[FeedEntry], bool, int]:
        page, next_since = selectors.catch_up_page(user_id=user.pk, since=since, limit=limit)
        return page.entries, page.has_more, next_since

    assert [feed_id_of(e) for page in _pages(read) for e in page] == ids


def test_since_older_than_the_retention_requires_a_reset(alice: Any) -> None:
    """A `since` from 31 days ago gets reset_required (no entries) and a next since of now; 29
    days ago and 0 (a new device) get the feed."""
    group = services.conversation_group_create(owner=alice, title="solo", member_ids=[])
    entry = _change(snowflake_next_id(), group.pk)
    feed_store.changes_write(change=entry, user_ids=[alice.pk])
    now_ms = int(time.time() * 1000)
    stale = snowflake_min_for_time(now_ms - 31 * DAY_MS)
    page, next_since = selectors.catch_up_page(user_id=alice.pk, since=stale, limit=10)
    assert (page.reset_required, page.entries, page.has_more) == (True, [], False)
    assert next_since >= snowflake_min_for_time(now_ms)
    for since in (0, snowflake_min_for_time(now_ms - 29 * DAY_MS)):
        page, _ = selectors.catch_up_page(user_id=alice.pk, since=since, limit=10)
        assert (page.reset_required, page.entries) == (False, [entry])
    response = client_for(alice).get("/api/v1/sync", {"since": str(stale)}).json()
    assert (response["reset_required"], response["entries"], response["messages"]) == (True, [], [])
    response = client_for(alice).get("/api/v1/sync", {"since": "0"}).json()
    assert response["reset_required"] is False
    assert [e["feed_id"] for e in response["entries"]] == [str(entry.feed_id)]


def test_sync_drops_a_left_conversation_but_its_conversation_left(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """After Bob leaves a group, his feed keeps only `conversation.left` of it: not its messages,
    its creation or its edits."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    first = say(alice, group.pk, "before bob leaves")
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_member_remove(actor_id=bob.pk, conversation_id=group.pk, user_id=bob.pk)
    services.message_edit(editor_id=alice.pk, conversation_id=group.pk, message_id=first.id, body="edited")
    assert [(f["type"], f.get("conversation_id")) for f in feed_frames(bob)] == [
        ("conversation.left", group.pk)
    ]
    assert [f["type"] for f in feed_frames(carol)] == [
        "conversation.created",
        "message.new",
        "member.removed",
        "message.updated",
    ]


# ---------------------------------------------------------------- what each service writes


def test_group_create_enters_every_members_feed(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """A new group is `conversation.created` (id, type, title, member_ids) in each member's feed."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="trio", member_ids=[bob.pk, carol.pk])
    created = {
        "conversation": {
            "id": group.pk,
            "type": "group",
            "title": "trio",
            "member_ids": sorted([alice.pk, bob.pk, carol.pk]),
        }
    }
    for user in (alice, bob, carol):
        assert entries_of(user, "conversation.created") == [created]
    # one change, one feed_id in every feed
    assert len({feed_frames(u)[0]["feed_id"] for u in (alice, bob, carol)}) == 1


def test_direct_open_enters_both_feeds_once(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """Opening a direct conversation is `conversation.created` for both users; opening it again
    adds nothing."""
    with django_capture_on_commit_callbacks(execute=True):
        conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
        services.conversation_direct_open(user=bob, other_id=alice.pk)
    created = {
        "conversation": {
            "id": conversation.pk,
            "type": "direct",
            "title": "",
            "member_ids": sorted([alice.pk, bob.pk]),
        }
    }
    for user in (alice, bob):
        assert [(f["type"], {"conversation": f.get("conversation")}) for f in feed_frames(user)] == [
            ("conversation.created", created)
        ]
    assert feed_frames(carol) == []


def test_rename_is_conversation_updated_for_every_member(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """Renaming a group writes `conversation.updated` with the new title to each member; muting
    writes nothing."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="old", member_ids=[bob.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_update(user_id=alice.pk, conversation_id=group.pk, title=" new ")
        services.conversation_update(user_id=bob.pk, conversation_id=group.pk, muted=True)
    updated = {"conversation_id": group.pk, "title": "new", "blocked": False}
    for user in (alice, bob):
        assert entries_of(user, "conversation.updated") == [updated]
    assert feed_frames(carol) == []


def test_member_add_is_member_added_for_the_others_and_joined_for_the_new_one(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """Carol added: Alice and Bob get `member.added`, Carol `conversation.joined` with every
    member; adding her again writes nothing."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_member_add(actor_id=bob.pk, conversation_id=group.pk, user_id=carol.pk)
        services.conversation_member_add(actor_id=alice.pk, conversation_id=group.pk, user_id=carol.pk)
    for user in (alice, bob):
        assert entries_of(user, "member.added") == [{"conversation_id": group.pk, "user_id": carol.pk}]
        assert entries_of(user, "conversation.joined") == []
    assert [f["type"] for f in feed_frames(carol)] == ["conversation.joined"]
    assert entries_of(carol, "conversation.joined") == [
        {
            "conversation": {
                "id": group.pk,
                "type": "group",
                "title": "g",
                "member_ids": sorted([alice.pk, bob.pk, carol.pk]),
            }
        }
    ]


def test_remove_and_leave_are_member_removed_for_the_rest_and_left_for_the_one_gone(
    alice: Any, bob: Any, carol: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """Bob removed by the owner, then Carol leaving: the remaining members get `member.removed`,
    the one gone `conversation.left`."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    start = int(feed_frames(alice)[-1]["feed_id"])
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_member_remove(actor_id=alice.pk, conversation_id=group.pk, user_id=bob.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_member_remove(actor_id=carol.pk, conversation_id=group.pk, user_id=carol.pk)
    assert entries_of(alice, "member.removed", since=start) == [
        {"conversation_id": group.pk, "user_id": bob.pk},
        {"conversation_id": group.pk, "user_id": carol.pk},
    ]
    assert [f["type"] for f in feed_frames(alice, since=start)] == ["member.removed", "member.removed"]
    # the group's earlier entries are gone from Bob's feed, the conversation.left stays
    assert entries_of(bob, "conversation.left") == [{"conversation_id": group.pk}]
    assert [f["type"] for f in feed_frames(bob)] == ["conversation.left"]
    # Carol was still a member when Bob was removed, but that entry is of a group she left since
    assert [f["type"] for f in feed_frames(carol)] == ["conversation.left"]


def test_edit_and_delete_are_message_updated_except_for_who_blocked_the_sender(
    alice: Any, bob: Any, carol: Any
) -> None:
    """An edit and a delete are `message.updated` (the message as it now is) for every member but
    Carol, who blocked Alice."""
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    message = say(alice, group.pk, "first")
    Block.objects.create(blocker=carol, blocked=alice)
    services.message_edit(editor_id=alice.pk, conversation_id=group.pk, message_id=message.id, body="second")
    services.message_delete(actor_id=alice.pk, conversation_id=group.pk, message_id=message.id)
    for user in (alice, bob):
        updates = [e["message"] for e in entries_of(user, "message.updated")]
        assert [(m["id"], m["body"], m["deleted"]) for m in updates] == [
            (str(message.id), "second", False),
            (str(message.id), "", True),
        ]
        assert updates[0]["edited_at"] is not None
    assert entries_of(carol, "message.updated") == []
    assert len(entries_of(carol, "message.new")) == 1


def test_an_unchanged_edit_and_a_second_delete_write_nothing(alice: Any, bob: Any) -> None:
    """Editing to the same body and deleting a tombstone again add no entry."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    message = say(alice, conversation.pk, "same")
    services.message_edit(
        editor_id=alice.pk, conversation_id=conversation.pk, message_id=message.id, body="same"
    )
    assert entries_of(bob, "message.updated") == []
    for _ in range(2):
        services.message_delete(actor_id=alice.pk, conversation_id=conversation.pk, message_id=message.id)
    assert len(entries_of(bob, "message.updated")) == 1


def test_block_and_unblock_are_conversation_updated_in_the_blockers_feed_only(
    alice: Any, bob: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """block_create / block_remove put `conversation.updated` with blocked true / false in the
    blocker's feed, after the commit; the blocked user's feed learns nothing."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        block_create(blocker=alice, blocked_id=bob.pk)
        assert entries_of(alice, "conversation.updated") == []  # not before the commit
    assert callbacks
    with django_capture_on_commit_callbacks(execute=True):
        block_remove(blocker=alice, blocked_id=bob.pk)
    assert entries_of(alice, "conversation.updated") == [
        {"conversation_id": conversation.pk, "title": "", "blocked": True},
        {"conversation_id": conversation.pk, "title": "", "blocked": False},
    ]
    assert feed_frames(bob) == []


def test_block_without_a_direct_conversation_writes_nothing(
    alice: Any, bob: Any, django_capture_on_commit_callbacks: Committed
) -> None:
    """A block between users who never talked directly enters no feed (nor fails)."""
    with django_capture_on_commit_callbacks(execute=True):
        group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk])
    with django_capture_on_commit_callbacks(execute=True):
        block_create(blocker=bob, blocked_id=alice.pk)
    assert entries_of(bob, "conversation.updated") == []
    assert [f["conversation"]["id"] for f in feed_frames(bob)] == [group.pk]


# ---------------------------------------------------------------- edits recompute mentions


def test_an_edit_recomputes_mentions(alice: Any, bob: Any, carol: Any) -> None:
    """Editing `@bob` into `@carol`: the message leaves Bob's mentions and enters Carol's, and its
    `mentions` field follows in history and in the message.updated entry."""
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    message = say(alice, group.pk, "hi @bob")
    assert message.mentions == (bob.pk,)

    def mentioned(user: Any) -> list[int]:
        return [m.id for m in selectors.mention_list(user_id=user.pk, before=None, limit=10).messages]

    assert (mentioned(bob), mentioned(carol)) == ([message.id], [])
    edited = services.message_edit(
        editor_id=alice.pk, conversation_id=group.pk, message_id=message.id, body="hi @Carol"
    )
    assert edited.mentions == (carol.pk,)
    assert (mentioned(bob), mentioned(carol)) == ([], [message.id])
    stored = selectors.message_history(user_id=bob.pk, conversation_id=group.pk, limit=5).messages
    assert [(m.id, m.body, m.mentions) for m in stored] == [(message.id, "hi @Carol", (carol.pk,))]
    assert [e["message"]["mentions"] for e in entries_of(bob, "message.updated")] == [[carol.pk]]
    synced = [m for m in selectors.feed_sync(user_id=carol.pk, since=0, limit=10).messages]
    assert [(m.body, m.mentions) for m in synced] == [("hi @Carol", (carol.pk,))]


# ---------------------------------------------------------------- the late-entry rewrite


def test_a_change_written_late_is_written_again_under_a_newer_feed_id(
    alice: Any, bob: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the first write ends later than CHAT_LATE_ID_SECONDS after the ID was taken, the entry
    is written again under a newer feed_id, and that one is sent live."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    settings.CHAT_LATE_ID_SECONDS = 0.05
    real_write = feed_store.changes_write
    writes: list[int] = []

    def slow_write(*, change: FeedChange, user_ids: Any) -> int:
        writes.append(change.feed_id)
        if len(writes) == 1:
            time.sleep(0.2)  # the first write is slow: by its end the ID is older than the window
        return real_write(change=change, user_ids=user_ids)

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(feed_store, "changes_write", slow_write)
    monkeypatch.setattr(feed, "publish_to_users", lambda **kw: published.append(kw["frame"]))
    sent = feed.feed_change_send(
        kind="conversation.updated",
        conversation_id=conversation.pk,
        fields={"conversation_id": conversation.pk, "title": "", "blocked": False},
        user_ids=[alice.pk, bob.pk],
    )
    assert sent is not None
    assert len(writes) == 2
    assert writes[1] == sent.feed_id > writes[0]
    for user in (alice, bob):
        assert [int(f["feed_id"]) for f in feed_frames(user)] == writes
    assert [f["feed_id"] for f in published] == [str(sent.feed_id)]


def test_a_change_written_in_time_is_written_once(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the default window, feed_change_send writes one entry and sends that one live; no
    users, nothing at all."""
    group = services.conversation_group_create(owner=alice, title="solo", member_ids=[])
    published: list[dict[str, Any]] = []
    monkeypatch.setattr(feed, "publish_to_users", lambda **kw: published.append(kw["frame"]))
    fields = {"conversation_id": group.pk, "user_id": alice.pk, "message_id": "1"}
    sent = feed.feed_change_send(kind="read", conversation_id=group.pk, fields=fields, user_ids=[alice.pk])
    assert sent is not None
    assert feed_frames(alice) == published == [{"type": "read", "feed_id": str(sent.feed_id), **fields}]
    assert feed.feed_change_send(kind="read", conversation_id=group.pk, fields=fields, user_ids=[]) is None
    assert len(published) == 1


def test_a_message_stored_late_reaches_a_device_that_synced_past_its_id(
    alice: Any, bob: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message whose store ends later than CHAT_LATE_ID_SECONDS after its ID was taken (a slow or
    failing Cassandra) is put in its members' feeds again under a fresh feed_id: a device whose
    cursor passed the message's ID meanwhile (its look-back no longer reaches the inbox row) finds
    it in its next sync, once it de-duplicates by message ID."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    settings.CHAT_LATE_ID_SECONDS = 1.0
    pending = services.check_message_send_blocking(
        sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="late-1", body="slow"
    )
    real_start = message_store.messages_write_start

    def slow_start(*, pending: Any) -> Callable[[], Any]:
        wait = real_start(pending=pending)

        def slow() -> Any:
            time.sleep(1.5)  # by the time the rows are written the ID is older than the window
            return wait()

        return slow

    monkeypatch.setattr(pipeline, "messages_write_start", slow_start)
    monkeypatch.setattr(pipeline.redis_keys, "deliveries_publish", lambda *a, **kw: None)
    item = sync_item(pending=pending, origin=Origin(server_id="chat-test", conn_id="conn-1"))
    [stored] = pipeline.do_send_messages(items=[item])
    assert stored.id == pending.id  # not renumbered: it was in time when the task started
    cursor = snowflake_next_id()  # bob's device saw a newer ID while the store was slow
    page, _ = selectors.catch_up_page(user_id=bob.pk, since=cursor, limit=50)
    found = [e for e in page.entries if feed_entry_frame(e)["type"] == "message.new"]
    assert [feed_entry_frame(e)["message"]["id"] for e in found] == [str(stored.id)]
    assert feed_id_of(found[0]) > stored.id


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task skips eager
def test_an_entry_not_written_after_its_commit_goes_to_the_sync_queue_and_its_task_writes_it(
    alice: Any, bob: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """Cassandra failing when a committed change's entry is written: the entry goes to the sync
    queue (a real message in Redis), and the task that a sync worker runs from it writes the entry
    to every user's feed; nothing is lost."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    real_write = feed_store.changes_write

    def failing_write(**kwargs: Any) -> int:
        raise OSError("Cassandra is not answering")

    monkeypatch.setattr(feed, "publish_to_users", lambda **kw: None)
    monkeypatch.setattr(feed_store, "changes_write", failing_write)
    fields = {"conversation_id": conversation.pk, "title": "renamed", "blocked": False}
    client = get_redis()
    client.delete(SYNC_QUEUE)
    with django_capture_on_commit_callbacks(execute=True):
        feed.feed_change_send_on_commit(
            kind="conversation.updated",
            conversation_id=conversation.pk,
            fields=fields,
            user_ids=[alice.pk, bob.pk],
        )
    assert entries_of(bob, "conversation.updated") == []
    queued = [orjson.loads(raw) for raw in cast(list[bytes], client.lrange(SYNC_QUEUE, 0, -1))]
    client.delete(SYNC_QUEUE)
    [task] = [m for m in queued if m["headers"]["task"] == feed.FEED_CHANGE_RETRY]
    _, kwargs, _ = orjson.loads(base64.b64decode(task["body"]))
    assert kwargs == {
        "kind": "conversation.updated",
        "conversation_id": conversation.pk,
        "fields": fields,
        "user_ids": sorted([alice.pk, bob.pk]),
    }
    monkeypatch.setattr(feed_store, "changes_write", real_write)  # Cassandra is back
    celery_app.tasks[feed.FEED_CHANGE_RETRY].apply(kwargs=kwargs).get()
    for user in (alice, bob):
        assert [e["title"] for e in entries_of(user, "conversation.updated")] == ["renamed"]
