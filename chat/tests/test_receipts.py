"""Read and delivered positions (docs/protocol.md, "Receipts"): markers only move forward, read
implies delivered, who gets `read` and `delivered` entries, what the conversation details reveal,
and the WebSocket `delivered` frame."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from accounts.models import Block, User
from chat import services
from chat.models import Membership
from chat.services import receipts
from chat.tests.test_apis import client_for, conversation
from chat.tests.test_consumer import _connect, _msg, _recv, _recv_type, _send
from chat.tests.test_feed import entries_of, say
from chatproject.redis_client import get_redis

pytestmark = pytest.mark.usefixtures("cassandra_clean")


def _receipts_off(user: Any) -> None:
    user.read_receipts_enabled = False
    user.save(update_fields=["read_receipts_enabled"])


def _positions(user: Any, conversation_id: int) -> tuple[int, int]:
    """(read marker, delivered position) of the user in the conversation."""
    membership = Membership.objects.get(user=user, conversation_id=conversation_id)
    return membership.last_read_message_id, membership.last_delivered_message_id


def _position(conversation_id: int, user: Any, message_id: int) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "user_id": user.pk, "message_id": str(message_id)}


def _direct(alice: Any, bob: Any) -> int:
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    return int(conversation.pk)


# ---------------------------------------------------------------- read


def test_read_marker_moves_forward_only(alice: Any, bob: Any) -> None:
    """Marking an older message, or the same one again, keeps the marker and writes no entry."""
    cid = _direct(alice, bob)
    first, second = say(alice, cid, "one"), say(alice, cid, "two")
    for message, expected in ((second, second.id), (first, second.id), (second, second.id)):
        marker = receipts.conversation_mark_read(user_id=bob.pk, conversation_id=cid, message_id=message.id)
        assert marker == expected
    assert _positions(bob, cid)[0] == second.id
    assert entries_of(bob, "read") == entries_of(alice, "read") == [_position(cid, bob, second.id)]


def test_a_marker_past_the_newest_message_is_clamped(alice: Any, bob: Any) -> None:
    """A made-up ID from the future stores (and announces) the conversation's newest message."""
    cid = _direct(alice, bob)
    newest = say(alice, cid, "newest")
    marker = receipts.conversation_mark_read(
        user_id=bob.pk, conversation_id=cid, message_id=newest.id + 10**9
    )
    assert marker == newest.id == _positions(bob, cid)[0]
    assert entries_of(alice, "read") == [_position(cid, bob, newest.id)]


def test_reading_moves_the_delivered_position_but_never_back(alice: Any, bob: Any) -> None:
    """Read implies delivered: reading moves the delivered position up to the marker, not below
    where it already was."""
    cid = _direct(alice, bob)
    first, second, third = (say(alice, cid, body) for body in ("a", "b", "c"))
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=cid, message_id=first.id)
    assert _positions(bob, cid) == (first.id, first.id)
    receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[third.id])
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=cid, message_id=second.id)
    assert _positions(bob, cid) == (second.id, third.id)


def _nothing(alice: Any, bob: Any) -> None:
    """Both have read receipts on and no block."""


def _reader_off(alice: Any, bob: Any) -> None:
    _receipts_off(bob)


def _other_off(alice: Any, bob: Any) -> None:
    _receipts_off(alice)


def _other_blocked_reader(alice: Any, bob: Any) -> None:
    Block.objects.create(blocker=alice, blocked=bob)


@pytest.mark.parametrize(
    ("arrange", "alice_learns", "carol_learns"),
    [
        (_nothing, True, True),
        (_reader_off, False, False),
        (_other_off, False, True),
        (_other_blocked_reader, False, True),
    ],
)
def test_read_entry_goes_to_the_reader_and_to_senders_receipts_permitting(
    alice: Any,
    bob: Any,
    carol: Any,
    arrange: Callable[[Any, Any], None],
    alice_learns: bool,
    carol_learns: bool,
) -> None:
    """Bob reads past messages of Alice and Carol: his own feed always gets `read`; a sender only
    when Bob and they both have read receipts on and they have not blocked Bob."""
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    say(carol, group.pk, "from carol")
    message = say(alice, group.pk, "from alice")
    arrange(alice, bob)
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=group.pk, message_id=message.id)
    entry = [_position(group.pk, bob, message.id)]
    assert entries_of(bob, "read") == entry
    assert entries_of(alice, "read") == (entry if alice_learns else [])
    assert entries_of(carol, "read") == (entry if carol_learns else [])


def test_read_entry_goes_only_to_the_senders_the_marker_passed(alice: Any, bob: Any, carol: Any) -> None:
    """A member none of whose messages the marker passed gets no `read` entry (they see positions
    in the conversation details)."""
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    from_carol = say(carol, group.pk, "first")
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=group.pk, message_id=from_carol.id)
    from_alice = say(alice, group.pk, "second")
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=group.pk, message_id=from_alice.id)
    assert entries_of(carol, "read") == [_position(group.pk, bob, from_carol.id)]
    assert entries_of(alice, "read") == [_position(group.pk, bob, from_alice.id)]
    assert entries_of(bob, "read") == [
        _position(group.pk, bob, from_carol.id),
        _position(group.pk, bob, from_alice.id),
    ]


def test_a_read_past_more_messages_than_are_scanned_goes_to_every_member(
    alice: Any, bob: Any, carol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the marker passed more messages than SENDERS_SCAN_MAX, every member (receipts
    permitting) gets the `read` entry."""
    monkeypatch.setattr(receipts, "SENDERS_SCAN_MAX", 1)
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    say(alice, group.pk, "one")
    message = say(alice, group.pk, "two")
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=group.pk, message_id=message.id)
    for user in (alice, bob, carol):
        assert entries_of(user, "read") == [_position(group.pk, bob, message.id)]


def test_read_over_rest_enters_my_feed_for_my_other_devices(alice: Any, bob: Any) -> None:
    """POST conversations/{id}/read answers the marker and writes the `read` entry that Bob's
    other devices sync (and Alice's)."""
    cid = _direct(alice, bob)
    message = say(alice, cid, "read me")
    response = client_for(bob).post(
        f"/api/v1/conversations/{cid}/read", {"message_id": str(message.id)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"conversation_id": cid, "last_read_message_id": str(message.id)}
    for user in (bob, alice):
        synced = client_for(user).get("/api/v1/sync", {"since": str(message.id)}).json()
        reads = [e for e in synced["entries"] if e["type"] == "read"]
        assert [{k: v for k, v in e.items() if k != "feed_id"} for e in reads] == [
            {"type": "read", **_position(cid, bob, message.id)}
        ]
        assert int(reads[0]["feed_id"]) > message.id


# ---------------------------------------------------------------- the conversation details


def _member(details: dict[str, Any], user: Any) -> tuple[str | None, str]:
    member = next(m for m in details["members"] if m["user_id"] == user.pk)
    return member["last_read_message_id"], member["last_delivered_message_id"]


def test_conversation_details_show_positions_receipts_permitting(alice: Any, bob: Any) -> None:
    """GET conversations/{id}: each member's delivered position; their read marker unless they or
    the viewer turned read receipts off (the viewer's own marker is always shown)."""
    cid = _direct(alice, bob)
    first, second = say(alice, cid, "one"), say(alice, cid, "two")
    receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[second.id])
    receipts.conversation_mark_read(user_id=bob.pk, conversation_id=cid, message_id=first.id)
    a, b = client_for(alice), client_for(bob)
    assert _member(conversation(a, cid), bob) == (str(first.id), str(second.id))
    assert _member(conversation(a, cid), alice) == (str(second.id), str(second.id))
    _receipts_off(bob)
    assert _member(conversation(a, cid), bob) == (None, str(second.id))  # the member's are off
    assert _member(conversation(b, cid), alice) == (None, str(second.id))  # the viewer's are off
    assert _member(conversation(b, cid), bob) == (str(first.id), str(second.id))  # my own
    bob.read_receipts_enabled = True
    bob.save(update_fields=["read_receipts_enabled"])
    _receipts_off(alice)
    assert _member(conversation(a, cid), bob) == (None, str(second.id))
    assert _member(conversation(a, cid), alice) == (str(second.id), str(second.id))
    listed = next(c for c in a.get("/api/v1/conversations").json()["conversations"] if c["id"] == cid)
    assert _member(listed, bob) == (None, str(second.id))


# ---------------------------------------------------------------- delivered


def test_delivered_moves_each_conversation_and_tells_only_the_senders(
    alice: Any, bob: Any, carol: Any
) -> None:
    """Bob's device acknowledges messages of two conversations: each position moves to the newest
    of them, and their senders (not Bob, not Alice for Carol's message) get `delivered`."""
    cid = _direct(alice, bob)
    group = services.conversation_group_create(owner=alice, title="g", member_ids=[bob.pk, carol.pk])
    direct_first, direct_second = say(alice, cid, "1"), say(alice, cid, "2")
    from_carol, from_alice = say(carol, group.pk, "3"), say(alice, group.pk, "4")
    moved = receipts.messages_mark_delivered(
        user_id=bob.pk, message_ids=[direct_second.id, direct_first.id, from_carol.id]
    )
    assert moved == {cid: direct_second.id, group.pk: from_carol.id}
    assert _positions(bob, cid) == (0, direct_second.id)
    assert _positions(bob, group.pk) == (0, from_carol.id)
    assert entries_of(alice, "delivered") == [_position(cid, bob, direct_second.id)]
    assert entries_of(carol, "delivered") == [_position(group.pk, bob, from_carol.id)]
    assert entries_of(bob, "delivered") == []
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[from_alice.id]) == {
        group.pk: from_alice.id
    }
    assert entries_of(alice, "delivered")[-1] == _position(group.pk, bob, from_alice.id)
    assert len(entries_of(carol, "delivered")) == 1


def test_delivered_ignores_ids_outside_my_inbox(alice: Any, bob: Any, carol: Any) -> None:
    """A message of a conversation Bob is not in and a made-up ID move nothing and tell no one."""
    _direct(alice, bob)
    theirs = say(carol, _direct(alice, carol), "not for bob")
    made_up = theirs.id + 12345
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[theirs.id, made_up]) == {}
    assert entries_of(carol, "delivered") == entries_of(alice, "delivered") == []
    assert _positions(alice, _direct(alice, carol))[1] == 0


def test_delivered_that_does_not_move_the_position_writes_nothing(alice: Any, bob: Any) -> None:
    """Acknowledging the same or an older message again leaves the position and adds no entry;
    my own message moves my delivered position without telling anyone."""
    cid = _direct(alice, bob)
    first, second = say(alice, cid, "1"), say(alice, cid, "2")
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[second.id]) == {cid: second.id}
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[second.id]) == {}
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[first.id]) == {}
    assert entries_of(alice, "delivered") == [_position(cid, bob, second.id)]
    own = say(bob, cid, "mine")
    assert receipts.messages_mark_delivered(user_id=bob.pk, message_ids=[own.id]) == {cid: own.id}
    assert _positions(bob, cid) == (own.id, own.id)  # a sender has read their own message
    assert entries_of(alice, "delivered") == [_position(cid, bob, second.id)]
    assert entries_of(bob, "delivered") == []


# ---------------------------------------------------------------- the WebSocket delivered frame


@pytest.fixture
def _socket_state(fresh_chat_runtime: None) -> None:
    """A chat server runtime of the test's own and no routes left over in Redis."""
    client = get_redis()
    for key in client.scan_iter("chat:*"):
        client.delete(key)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_socket_state")
async def test_delivered_frame_reaches_the_sender_live(alice: User, bob: User) -> None:
    """Bob's device sends `delivered` for Alice's message: Alice's socket gets the `delivered`
    entry with Bob's new position."""
    cid = await database_sync_to_async(_direct)(alice, bob)
    a1, b1 = await _connect(alice), await _connect(bob)
    await _send(a1, _msg(cid, "did it arrive?"))
    message_id = (await _recv_type(a1, "message.ack"))["message_id"]
    assert (await _recv_type(b1, "message.new"))["message"]["id"] == message_id
    await _send(b1, {"type": "delivered", "message_ids": [message_id]})
    frame = await _recv_type(a1, "delivered")
    assert int(frame.pop("feed_id")) > int(message_id)
    assert frame == {"type": "delivered", **_position(cid, bob, int(message_id))}
    assert await database_sync_to_async(_positions)(bob, cid) == (0, int(message_id))
    for comm in (a1, b1):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_socket_state")
async def test_bad_delivered_frames_get_an_error_and_the_socket_stays_open(alice: User) -> None:
    """A `delivered` frame whose message_ids is not a non-empty list of at most 100 ids gets an
    `error` frame (bad_request, too_large); the socket keeps working."""
    cases: list[tuple[Any, str]] = [
        ("123", "bad_request"),
        (None, "bad_request"),
        ({"id": "1"}, "bad_request"),
        ([], "bad_request"),
        ([str(i) for i in range(1, 102)], "too_large"),
        (["abc"], "bad_request"),
        ([-1], "bad_request"),
        ([0], "bad_request"),
        ([True], "bad_request"),
        ([1.5], "bad_request"),
        ([str(2**63)], "bad_request"),
    ]
    comm = await _connect(alice)
    for message_ids, code in cases:
        await comm.send_to(text_data=json.dumps({"type": "delivered", "message_ids": message_ids}))
        frame = await _recv(comm)
        assert (frame["type"], frame["code"]) == ("error", code), message_ids
    await _send(comm, {"type": "delivered", "message_ids": ["1"] * 100})  # made up: ignored, no answer
    await _send(comm, {"type": "heartbeat"})
    assert await _recv(comm) == {"type": "heartbeat.ack"}
    await comm.disconnect()
