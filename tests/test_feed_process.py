"""The change feed across real processes (docs/protocol.md, "The change feed", "Receipts"): two
daphne chat servers, the Celery workers and the API servers behind nginx, with two devices of
one user. A device that was away catches up on every kind of change, not only new messages;
delivered and read ticks reach the sender live and after a reload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from accounts.models import User
from accounts.tests.factories import UserFactory
from chat.domain.snowflake import snowflake_min_for_time
from chat.feed import feed_change_retry_enqueue
from chat.services import conversation_direct_open, conversation_group_create
from tests.chat_client import Device
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def stack(django_db_setup: None) -> Iterator[Stack]:
    with Stack.running(
        "feed-stack-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "CHAT_LATE_ID_SECONDS": "2",
            "CHAT_REGISTRY_TTL": "4",
            "CHAT_REGISTRY_REFRESH": "1",
        },
    ) as s:
        yield s


@pytest.fixture
def dave(db: None) -> User:
    user = UserFactory(username="dave", display_name="Dave")
    assert isinstance(user, User)
    return user


@pytest.fixture
def direct(alice: User, bob: User, cassandra_clean: str) -> int:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    return int(conversation.pk)


@pytest.fixture
def group(alice: User, bob: User, carol: User, cassandra_clean: str) -> int:
    return int(conversation_group_create(owner=alice, title="Trip", member_ids=[bob.pk, carol.pk]).pk)


def _device(stack: Stack, user: User, name: str) -> Device:
    return Device.login(api=stack.api, username=user.username, password=PASSWORD, name=name)


def _api(device: Device, method: str, path: str, body: Any = None) -> Any:
    status, answer = api_call(device.api, method, path, body, token=device.token)
    assert status < 300, (status, answer)
    return answer


async def _rest(device: Device, method: str, path: str, body: Any = None) -> Any:
    return await asyncio.to_thread(_api, device, method, path, body)


async def _send_acked(device: Device, conversation_id: int, body: str) -> int:
    client_msg_id = await device.send(conversation_id, body)
    await device.wait_acked([client_msg_id])
    return device.acks[client_msg_id]


async def _wait_for(predicate: Any, *, wait: float = 15) -> None:
    async with asyncio.timeout(wait):
        while not predicate():  # noqa: ASYNC110  (polls state the device's reader task fills)
            await asyncio.sleep(0.05)


def _unread_counts(device: Device) -> dict[int, int]:
    answer = _api(device, "GET", "conversations")
    return {c["id"]: c["unread_count"] for c in answer["conversations"]}


async def test_a_device_that_was_away_catches_up_on_every_kind_of_change_once_and_in_order(
    stack: Stack, alice: User, bob: User, carol: User, dave: User, direct: int, group: int
) -> None:
    """Alice's device B is offline while, on her device A and from others, a message is edited,
    one deleted, a group renamed, a member added and one removed, a conversation read on A and a
    message sent: B reconnects to the other chat server and its sync yields exactly those
    entries, in order, once; B's titles, members and unread counts then equal what A sees."""
    a, b, bob1 = _device(stack, alice, "a"), _device(stack, alice, "b"), _device(stack, bob, "bob1")
    await a.connect(stack.chat_url(0))
    await b.connect(stack.chat_url(1))
    await bob1.connect(stack.chat_url(0))

    in_direct = [await _send_acked(bob1, direct, f"hi {i}") for i in range(2)]
    mine = await _send_acked(a, group, "plans for @bob")
    await b.wait_seen({*in_direct, mine})
    await b.sync()
    await b.close()  # device B goes away
    logged_before = len(b.entry_log)

    await _rest(a, "PATCH", f"conversations/{group}/messages/{mine}", {"body": "plans for @carol"})
    await _rest(bob1, "DELETE", f"conversations/{direct}/messages/{in_direct[1]}")
    await _rest(a, "PATCH", f"conversations/{group}", {"title": "Trip to Rome"})
    await _rest(a, "POST", f"conversations/{group}/members", {"user_id": dave.pk})
    await _rest(a, "DELETE", f"conversations/{group}/members", {"user_id": carol.pk})
    await a.send_frame({"type": "read", "conversation_id": direct, "message_id": str(in_direct[1])})
    await _wait_for(lambda: bob1.read.get((direct, alice.pk)) == in_direct[1])  # the read is done
    late = await _send_acked(bob1, group, "see you there")
    await _wait_for(lambda: late in a.seen)

    await b.connect(stack.chat_url(0))  # the other chat server this time
    await b.sync()
    caught_up = [b.entries[f] for f in b.entry_log[logged_before:]]
    assert [e["type"] for e in caught_up] == [
        "message.updated",
        "message.updated",
        "conversation.updated",
        "member.added",
        "member.removed",
        "read",
        "message.new",
    ]
    edited, deleted, renamed, added, removed, read, new = caught_up
    assert (edited["message"]["body"], edited["message"]["mentions"]) == ("plans for @carol", [carol.pk])
    assert deleted["message"]["deleted"] is True
    assert deleted["message"]["body"] == ""
    assert renamed["title"] == "Trip to Rome"
    assert (added["user_id"], removed["user_id"]) == (dave.pk, carol.pk)
    assert (read["user_id"], int(read["message_id"])) == (alice.pk, in_direct[1])
    assert int(new["message"]["id"]) == late
    # a second sync from the same place applies nothing new: each entry came once
    before = len(b.entry_log)
    await b.sync()
    assert len(b.entry_log) == before

    # B now shows what A shows
    assert b.seen[mine]["body"] == "plans for @carol"
    assert b.seen[in_direct[1]]["deleted"] is True
    assert b.titles[group] == "Trip to Rome"
    server = await asyncio.to_thread(_api, a, "GET", f"conversations/{group}")
    assert b.members[group] == {m["user_id"] for m in server["members"]} == {alice.pk, bob.pk, dave.pk}
    counts = await asyncio.to_thread(_unread_counts, a)
    assert {c: b.unread(c) for c in counts} == counts == {direct: 0, group: 1}
    for device in (a, b, bob1):
        await device.close()


async def test_delivered_then_read_ticks_reach_the_sender_live_and_after_a_reload(
    stack: Stack, alice: User, bob: User, carol: User, direct: int, group: int
) -> None:
    """Alice's message shows delivered when Bob's device acknowledges it and read when he reads
    it, live on Alice's device (Bob on the other chat server); in a group each member's position
    counts towards n of m; GET conversations/{id} gives the same positions after a reload."""
    a, bob1, carol1 = _device(stack, alice, "a"), _device(stack, bob, "b"), _device(stack, carol, "c")
    await a.connect(stack.chat_url(0))
    await bob1.connect(stack.chat_url(1))
    await carol1.connect(stack.chat_url(1))

    first = await _send_acked(a, direct, "did you get this?")
    await bob1.wait_seen({first})
    assert (direct, bob.pk) not in a.delivered
    await bob1.send_frame({"type": "delivered", "message_ids": [str(first)]})
    await _wait_for(lambda: a.delivered.get((direct, bob.pk)) == first)
    assert a.read.get((direct, bob.pk), 0) < first  # delivered, not read yet
    await bob1.send_frame({"type": "read", "conversation_id": direct, "message_id": str(first)})
    await _wait_for(lambda: a.read.get((direct, bob.pk)) == first)

    # a group: Bob's and Carol's devices acknowledge, only Bob reads
    team = await _send_acked(a, group, "stand-up at ten")
    for device in (bob1, carol1):
        await device.wait_seen({team})
        await device.send_frame({"type": "delivered", "message_ids": [str(team)]})
    await _rest(bob1, "POST", f"conversations/{group}/read", {"message_id": str(team)})
    await _wait_for(
        lambda: (
            a.delivered.get((group, bob.pk)) == team
            and a.delivered.get((group, carol.pk)) == team
            and a.read.get((group, bob.pk)) == team
        )
    )
    assert a.read.get((group, carol.pk), 0) < team  # read by 1 of 2

    # after a reload: the positions come back from REST
    for conversation_id, expected in (
        (direct, {bob.pk: (first, first)}),
        (group, {bob.pk: (team, team), carol.pk: (team, 0)}),
    ):
        details = await _rest(a, "GET", f"conversations/{conversation_id}")
        positions = {
            m["user_id"]: (int(m["last_delivered_message_id"]), int(m["last_read_message_id"]))
            for m in details["members"]
            if m["user_id"] != alice.pk
        }
        assert positions == expected
    for device in (a, bob1, carol1):
        await device.close()


async def test_a_device_further_behind_than_the_feed_keeps_is_told_to_reload(
    stack: Stack, cassandra_clean: str, alice: User
) -> None:
    """A sync from a position older than CHAT_FEED_RETENTION_DAYS gets sync.reset_required with
    a position to go on from, over the WebSocket and over REST; a sync from there is normal."""
    a = _device(stack, alice, "a")
    await a.connect(stack.chat_url(1))
    long_ago = snowflake_min_for_time(int((time.time() - 31 * 86_400) * 1000))
    reset = await a.request({"type": "sync", "since": str(long_ago)}, "sync.reset_required")
    assert int(reset["cur_max_message_id"]) > long_ago
    page = await _rest(a, "GET", f"sync?since={long_ago}")
    assert page["reset_required"] is True
    assert page["entries"] == []
    page = await _rest(a, "GET", f"sync?since={page['cur_max_message_id']}")
    assert page["reset_required"] is False
    await a.request({"type": "sync", "since": reset["cur_max_message_id"]}, "sync.done")
    await a.close()


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task skips eager
async def test_an_entry_handed_to_the_sync_queue_is_written_and_sent_live_by_a_sync_worker(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """An entry that could not be written after its commit goes to the sync queue
    (`feed_change_retry_enqueue`); the stack's sync worker writes it to the feeds and sends it to
    the live devices."""
    a = _device(stack, alice, "a")
    await a.connect(stack.chat_url(0))
    await a.sync()
    fields = {"conversation_id": direct, "title": "", "blocked": True}
    await asyncio.to_thread(
        feed_change_retry_enqueue,
        kind="conversation.updated",
        conversation_id=direct,
        fields=fields,
        user_ids=[alice.pk, bob.pk],
    )
    live = await a.next_frame("conversation.updated", wait=20)
    assert (live["conversation_id"], live["blocked"]) == (direct, True)
    page = await _rest(a, "GET", "sync?since=0")
    written = [e for e in page["entries"] if e["type"] == "conversation.updated"]
    assert [e["feed_id"] for e in written] == [live["feed_id"]]
    await a.close()
