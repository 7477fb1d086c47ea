"""The message flow across real processes: two daphne chat servers, real Celery sync and push
workers, the API servers behind nginx, real PostgreSQL, Redis and Cassandra (design note §4.1-4.3,
DESIGN.md §5)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from chat.domain.events import Origin, sync_item
from chat.domain.snowflake import TIMESTAMP_SHIFT
from chat.server.delivery import delivery_client_name
from chat.services import check_message_send_blocking, conversation_direct_open
from chat.worker.tasks import messages_sync
from chatproject.celery import app as celery_app
from chatproject.redis_client import get_redis
from tests.chat_client import Device
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"
LATE_SECONDS = 2.0  # CHAT_LATE_ID_SECONDS of this stack: short, so the hole test runs quickly


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Stack]:
    s = Stack(
        tmp_path_factory.mktemp("stack") / "var",
        extra_env={
            # the processes use this run's test database (the one pytest created)
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "CHAT_LATE_ID_SECONDS": str(LATE_SECONDS),
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CHAT_REGISTRY_TTL": "4",
            "CHAT_REGISTRY_REFRESH": "1",
            "CHAT_DRAIN_GRACE": "1",
            # the kill -9 test keeps 200 messages of one user in flight
            "CHAT_RATE_LIMIT_MESSAGES": "1000",
            "CHAT_SEND_RULES_CACHE_SECONDS": "30",
        },
    )
    s.start()
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.fixture
def direct(alice: User, bob: User, cassandra_clean: str) -> int:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    return int(conversation.pk)


def _device(stack: Stack, user: User, name: str) -> Device:
    return Device.login(api=stack.api, username=user.username, password=PASSWORD, name=name)


def _wait_registered(stack: Stack, count: int = 2, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        from chat.store.redis import keys as redis_keys
        from chatproject.redis_client import get_redis

        if len(redis_keys.servers_live(get_redis())) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("chat servers did not register")


async def test_alice_and_bob_on_two_servers_talk_and_every_device_converges(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """Alice on server 1, Bob on server 2, both ways; Alice's 2nd device sees both; then Bob
    misses 50 messages and, reconnecting to the other server, syncs exactly those 50 in order."""
    _wait_registered(stack)
    a1, a2, b1 = _device(stack, alice, "a1"), _device(stack, alice, "a2"), _device(stack, bob, "b1")
    await a1.connect(stack.chat_url(0))
    await a2.connect(stack.chat_url(1))
    await b1.connect(stack.chat_url(1))

    hello = await a1.send(direct, "hello bob")
    await a1.wait_acked([hello])
    await b1.wait_seen({a1.acks[hello]})
    reply = await b1.send(direct, "hello alice")
    await b1.wait_acked([reply])
    await a1.wait_seen({b1.acks[reply]})
    await a2.wait_seen({a1.acks[hello], b1.acks[reply]})
    assert b1.live == [a1.acks[hello]]  # the sender's own device gets the ack, not a copy
    assert a1.live == [b1.acks[reply]]

    await b1.close()
    sent = [await a1.send(direct, f"missed {i}") for i in range(50)]
    await a1.wait_acked(sent)
    missed = [a1.acks[c] for c in sent]
    assert missed == sorted(missed)

    await b1.connect(stack.chat_url(0))  # the other server this time
    new = await b1.sync()
    assert new == missed  # exactly those 50, in ID order, none twice
    assert [int(b1.seen[m]["id"]) for m in new] == missed
    assert [b1.seen[m]["body"] for m in new] == [f"missed {i}" for i in range(50)]
    await a2.wait_seen(set(missed))
    for device in (a1, a2, b1):
        await device.close()


async def test_resend_after_reconnect_is_stored_once(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """The outbox resends on a new socket with the same client_msg_id: same ID, one message."""
    _wait_registered(stack)
    a1 = _device(stack, alice, "a1")
    await a1.connect(stack.chat_url(0))
    cmid = await a1.send(direct, "only once")
    await a1.wait_acked([cmid])
    first = a1.acks.pop(cmid)
    await a1.close()
    await a1.connect(stack.chat_url(1))
    a1.outbox[cmid] = {
        "type": "message.send",
        "conversation_id": direct,
        "client_msg_id": cmid,
        "body": "only once",
    }
    await a1.resend_outbox()
    await a1.wait_acked([cmid])
    assert a1.acks[cmid] == first
    status, page = api_call(stack.api, "GET", f"conversations/{direct}/messages?limit=50", token=a1.token)
    assert status == 200
    assert [m["body"] for m in page["messages"]] == ["only once"]
    await a1.close()


async def test_rest_send_goes_through_the_sync_queue_and_reaches_sockets(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """POST .../messages is stored by the sync worker and delivered live like a socket send."""
    _wait_registered(stack)
    a1, b1 = _device(stack, alice, "a1"), _device(stack, bob, "b1")
    await b1.connect(stack.chat_url(1))
    status, message = await asyncio.to_thread(
        api_call,
        stack.api,
        "POST",
        f"conversations/{direct}/messages",
        {"client_msg_id": "rest-1", "body": "from REST"},
        a1.token,
    )
    assert status == 201, message
    await b1.wait_seen({int(message["id"])})
    status, again = await asyncio.to_thread(
        api_call,
        stack.api,
        "POST",
        f"conversations/{direct}/messages",
        {"client_msg_id": "rest-1", "body": "from REST"},
        a1.token,
    )
    assert (status, again["id"]) == (200, message["id"])
    await b1.close()


def _history_bodies(stack: Stack, conversation_id: int, token: str) -> list[str]:
    """Every stored message of a conversation, paging the history API to the beginning."""
    bodies: list[str] = []
    query = "limit=100"
    while True:
        status, page = api_call(
            stack.api, "GET", f"conversations/{conversation_id}/messages?{query}", token=token
        )
        assert status == 200, page
        bodies.extend(m["body"] for m in page["messages"])
        if not page["has_more"]:
            return bodies
        query = f"limit=100&before={page['messages'][-1]['id']}"


def _prepare(sender: User, conversation_id: int, body: str) -> Any:
    return check_message_send_blocking(
        sender_id=sender.pk, conversation_id=conversation_id, client_msg_id=body, body=body
    )


def _enqueue_late(pending: Any) -> None:
    """Put a prepared message on the real sync queue now (it was held back, as a slow queue
    would). send_task always goes through the broker, even where tests run tasks eagerly."""
    celery_app.send_task(
        messages_sync.name, kwargs={"items": [sync_item(pending=pending, origin=Origin())]}, queue="sync"
    )


@pytest.mark.filterwarnings(
    "ignore::celery.exceptions.AlwaysEagerIgnored"
)  # send_task skips eager on purpose
async def test_a_message_stored_late_still_reaches_a_device_that_saw_newer_ones(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """The cur_max_message_id hole (DESIGN.md §4): a message numbered before one Bob saw but
    stored after he disconnected still reaches him — by the sync look-back when it is a little
    late, by a fresh ID when it is later than CHAT_LATE_ID_SECONDS."""
    _wait_registered(stack)
    a1, b1 = _device(stack, alice, "a1"), _device(stack, bob, "b1")
    b1.cursor_from_sync_only = False  # the server's promise holds for a cursor moved by live frames too
    await a1.connect(stack.chat_url(0))
    await b1.connect(stack.chat_url(1))

    # a little late: stored with its own ID, smaller than one Bob has already seen
    slow = await asyncio.to_thread(_prepare, alice, direct, "slow")
    fast = await a1.send(direct, "fast")
    await a1.wait_acked([fast])
    await b1.wait_seen({a1.acks[fast]})
    assert slow.id < a1.acks[fast] == b1.cur_max
    await b1.close()
    await asyncio.to_thread(_enqueue_late, slow)
    await b1.connect(stack.chat_url(0))
    deadline = time.monotonic() + 15
    while slow.id not in b1.seen and time.monotonic() < deadline:
        await b1.sync()
        await asyncio.sleep(0.3)
    assert slow.id in b1.seen  # found by the look-back although its ID < Bob's cur_max_message_id

    # very late: older than CHAT_LATE_ID_SECONDS at storage, so the worker gives it a fresh ID
    stale = await asyncio.to_thread(_prepare, alice, direct, "stale")
    await asyncio.sleep(LATE_SECONDS + 1.5)  # it waits in a slow queue while the chat goes on
    newer = await a1.send(direct, "newer")
    await a1.wait_acked([newer])
    await b1.wait_seen({a1.acks[newer]})
    await b1.close()
    window = int(LATE_SECONDS * 1000) << TIMESTAMP_SHIFT
    assert stale.id < b1.cur_max - window  # with its own ID, no look-back would ever find it
    await asyncio.to_thread(_enqueue_late, stale)
    await b1.connect(stack.chat_url(1))
    deadline = time.monotonic() + 15
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        await b1.sync()
        found = [m for m in b1.seen.values() if m["client_msg_id"] == "stale"]
        await asyncio.sleep(0.3)
    assert len(found) == 1
    assert int(found[0]["id"]) > a1.acks[newer]  # renumbered past what Bob had seen
    for device in (a1, b1):
        await device.close()


async def test_blocks_and_removals_reach_the_chat_servers_cached_send_rules_at_once(
    stack: Stack, alice: User, bob: User, carol: User, direct: int
) -> None:
    """Chat servers cache a conversation's send rules (30 s here), yet a block refuses the very
    next send, an unblock lets it through again, and a member removed from a group cannot send."""
    _wait_registered(stack)
    a1 = _device(stack, alice, "a1")
    await a1.connect(stack.chat_url(0))
    first = await a1.send(direct, "before the block")
    await a1.wait_acked([first])  # the rules of the conversation are now cached on server 1

    bob_token = _device(stack, bob, "b-api").token
    assert api_call(stack.api, "POST", f"blocks/{alice.pk}", token=bob_token)[0] in (200, 201)
    refused = await a1.send(direct, "after the block")
    error = await a1.next_frame("error")
    assert (error["code"], error["ref"]) == ("forbidden", refused)

    assert api_call(stack.api, "DELETE", f"blocks/{alice.pk}", token=bob_token)[0] == 204
    again = await a1.send(direct, "after the unblock")
    await a1.wait_acked([again])

    status, group = api_call(
        stack.api,
        "POST",
        "conversations",
        {"type": "group", "title": "cached rules", "member_ids": [carol.pk]},
        token=a1.token,
    )
    assert status == 201
    c1 = _device(stack, carol, "c1")
    await c1.connect(stack.chat_url(0))
    hello = await c1.send(group["id"], "hello")
    await c1.wait_acked([hello])
    status, _ = api_call(
        stack.api, "DELETE", f"conversations/{group['id']}/members?user_id={carol.pk}", token=a1.token
    )
    assert status == 204
    late = await c1.send(group["id"], "still here?")
    error = await c1.next_frame("error")
    assert (error["code"], error["ref"]) == ("forbidden", late)
    for device in (a1, c1):
        await device.close()


async def test_a_backlog_sheds_new_sends_and_they_go_through_once_it_drains(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """With the sync workers stopped, a chat server's batches fill its window (4) and the next
    send waits for a slot; once it has waited CHAT_SHED_AGE_MS (500 ms), a new send gets
    `overloaded` with `retry_after_ms`. When the workers are back, every message, the shed one
    resent with its client_msg_id, is stored exactly once."""
    _wait_registered(stack)
    a1 = _device(stack, alice, "a1")
    await a1.connect(stack.chat_url(0))
    groups = []
    for n in range(5):
        status, group = api_call(
            stack.api,
            "POST",
            "conversations",
            {"type": "group", "title": f"shed {n}", "member_ids": [bob.pk]},
            token=a1.token,
        )
        assert status == 201
        groups.append(int(group["id"]))
    stack.ctl("stop", "worker-sync:*")
    try:
        sent = [await a1.send(group, f"shed-{n}") for n, group in enumerate(groups)]  # 4 in flight, 1 waits
        await asyncio.sleep(0.8)
        shed = await a1.send(direct, "shed-direct")
        error = await a1.next_frame("error")
        assert (error["code"], error["ref"]) == ("overloaded", shed)
        assert error["retry_after_ms"] >= 500
        assert not set(sent) & set(a1.acks)
    finally:
        stack.ctl("start", "worker-sync:*")
    await a1.wait_acked([*sent, shed], wait=60, resend_every=2)
    for n, group in enumerate(groups):
        assert _history_bodies(stack, group, a1.token) == [f"shed-{n}"]
    assert [b for b in _history_bodies(stack, direct, a1.token) if b.startswith("shed-")] == ["shed-direct"]
    await a1.close()


async def test_a_message_to_an_offline_member_reaches_the_push_worker(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """Bob has no socket: the sync worker hands the message to the push queue in its publish's
    round trip, and the real push worker records it in Bob's pending notification."""
    from chatproject.redis_client import get_redis
    from notifications.redis_keys import pending_get

    _wait_registered(stack)
    a1 = _device(stack, alice, "a1")
    await a1.connect(stack.chat_url(0))
    sent = await a1.send(direct, "are you there?")
    await a1.wait_acked([sent])
    deadline = time.monotonic() + 20
    pending = pending_get(get_redis(), user_id=bob.pk)
    while not pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        pending = pending_get(get_redis(), user_id=bob.pk)
    assert pending == [(direct, a1.acks[sent])]
    await a1.close()


async def test_draining_server_tells_clients_and_leaves_discovery(
    stack: Stack, alice: User, direct: int
) -> None:
    """SIGTERM to a chat server: its clients get server.draining and a 4503 close, discovery stops
    handing it out, and the client reconnects through discovery to the other server."""
    _wait_registered(stack)
    a1 = _device(stack, alice, "a1")
    await a1.connect(stack.chat_url(1))
    stack.ctl("stop", "chat-2")
    await a1.next_frame("server.draining", wait=10)
    assert await a1.wait_closed() == 4503
    for _ in range(5):
        url, _ticket = a1.ticket()
        assert url == stack.chat_url(0)
    await a1.connect()
    cmid = await a1.send(direct, "after the drain")
    await a1.wait_acked([cmid])
    await a1.close()
    stack.ctl("start", "chat-2")
    _wait_registered(stack)


async def test_discovery_prefers_the_emptier_server(stack: Stack, alice: User, bob: User) -> None:
    """With more connections on chat-1, discovery hands out chat-2."""
    _wait_registered(stack)
    crowd = [_device(stack, bob, f"b{i}") for i in range(8)]
    for device in crowd:
        await device.connect(stack.chat_url(0))
    await asyncio.sleep(2.5)  # the connection counts reach the registry at the next refresh (1 s)
    alice_device = _device(stack, alice, "a1")
    # each assignment counts against its server until the next refresh: 3 fit on chat-2 (0 < 8)
    urls = {(await asyncio.to_thread(alice_device.ticket))[0] for _ in range(3)}
    assert urls == {stack.chat_url(1)}
    for device in crowd:
        await device.close()


async def test_a_chat_server_that_lost_its_delivery_subscription_tells_its_sockets_to_sync(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """chat-1's Redis subscription is killed: what is published to it meanwhile is lost. Once
    subscribed again it sends `live.gap` to its sockets; the sync that follows brings the message
    sent meanwhile, and live delivery works again."""
    _wait_registered(stack)
    a1, b1 = _device(stack, alice, "a1"), _device(stack, bob, "b1")
    await a1.connect(stack.chat_url(0))
    await b1.connect(stack.chat_url(1))
    await a1.sync()
    client = get_redis()
    subscription = [
        c
        for c in cast(list[dict[str, str]], client.client_list())
        if c.get("name") == delivery_client_name("chat-1") and c.get("db") == str(settings.REDIS_DB)
    ]
    assert len(subscription) == 1, subscription
    client.client_kill_filter(_id=subscription[0]["id"])
    meanwhile = await b1.send(direct, "sent while chat-1 was not subscribed")
    await b1.wait_acked([meanwhile])
    await a1.next_frame("live.gap", wait=10)
    await a1.sync()
    assert b1.acks[meanwhile] in a1.seen
    after = await b1.send(direct, "sent once chat-1 subscribed again")
    await b1.wait_acked([after])
    await a1.wait_seen({b1.acks[after]})
    assert b1.acks[after] in a1.live
    await a1.close()
    await b1.close()
