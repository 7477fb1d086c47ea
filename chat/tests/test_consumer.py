"""The chat consumer, driven through the real ASGI stack with Channels' WebsocketCommunicator.

Real PostgreSQL, Redis and Cassandra; the sync-queue task runs in-process (eager) here — the
process-level tests in tests/ run it in a real Celery worker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from accounts.models import Block, User
from chat.server import runtime as runtime_module
from chat.server.app import websocket_application
from chat.services import conversation_direct_open, conversation_group_create
from chatproject.celery import app as celery_app
from chatproject.redis_client import get_redis
from tests.frames import frame_sent
from tests.tickets import device_ticket_async

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _clean_state(cassandra_clean: str) -> None:
    assert celery_app.conf.task_always_eager  # test settings: the sync task runs inline here
    client = get_redis()
    for key in client.scan_iter("chat:*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_runtime(fresh_chat_runtime: None) -> None:
    """Every test here gets a chat server runtime of its own."""


async def _connect(
    user: User, *, device: str = "d1", headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    ticket = await device_ticket_async(user, device)
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}", headers=headers or [])
    connected, _ = await comm.connect()
    assert connected
    # a heartbeat round trip: the server has finished setting the socket up (it is routable)
    await comm.send_to(text_data='{"type":"heartbeat"}')
    assert json.loads(await comm.receive_from(timeout=5)) == {"type": "heartbeat.ack"}
    return comm


async def _recv(comm: WebsocketCommunicator, *, wait: float = 5) -> dict[str, Any]:
    return json.loads(await comm.receive_from(timeout=wait))


async def _recv_type(comm: WebsocketCommunicator, kind: str, *, wait: float = 5) -> dict[str, Any]:
    while True:
        frame = await _recv(comm, wait=wait)
        if frame["type"] == kind:
            return frame


async def _send(comm: WebsocketCommunicator, frame: dict[str, Any]) -> None:
    """Send a well-formed frame, checked against docs/asyncapi.yaml (bad input goes raw: send_to)."""
    frame_sent(frame)
    await comm.send_to(text_data=json.dumps(frame))


def _msg(conversation_id: int, body: str, client_msg_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message.send",
        "conversation_id": conversation_id,
        "client_msg_id": client_msg_id or uuid.uuid4().hex,
        "body": body,
    }


@pytest.fixture
def direct(alice: User, bob: User) -> int:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    return int(conversation.pk)


async def _closed_with(comm: WebsocketCommunicator) -> int:
    output = await comm.receive_output(timeout=5)
    while output["type"] == "websocket.send":
        output = await comm.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return int(output["code"])


# ---------------------------------------------------------------- connecting


async def test_no_ticket_and_no_session_is_closed_4401() -> None:
    """A socket without ticket or session is closed with 4401."""
    comm = WebsocketCommunicator(websocket_application(), "/ws/chat")
    await comm.connect()
    assert await _closed_with(comm) == 4401


async def test_forged_ticket_is_closed_4401(alice: User) -> None:
    """A ticket whose signature does not match is refused."""
    ticket = await device_ticket_async(alice, "d") + "x"
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    await comm.connect()
    assert await _closed_with(comm) == 4401


async def test_reused_ticket_is_closed_4401(alice: User) -> None:
    """A ticket works once."""
    ticket = await device_ticket_async(alice, "d")
    first = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    assert (await first.connect())[0]
    await _send(first, {"type": "heartbeat"})
    assert await _recv(first) == {"type": "heartbeat.ack"}
    second = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    await second.connect()
    assert await _closed_with(second) == 4401
    await first.disconnect()


async def test_expired_ticket_is_closed_4401(alice: User) -> None:
    """A ticket older than CHAT_TICKET_TTL is refused."""
    with override_settings(CHAT_TICKET_TTL=1):
        ticket = await device_ticket_async(alice, "d")
    await asyncio.sleep(1.1)
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    await comm.connect()
    assert await _closed_with(comm) == 4401


async def test_another_users_ticket_is_closed_4401(alice: User, bob: User) -> None:
    """A browser logged in as Bob cannot open a socket with a ticket issued to Alice."""
    from django.test import Client

    client = Client()
    await database_sync_to_async(client.force_login)(bob)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ticket = await device_ticket_async(alice, "d")
    comm = WebsocketCommunicator(
        websocket_application(), f"/ws/chat?ticket={ticket}", headers=[(b"cookie", cookie)]
    )
    await comm.connect()
    assert await _closed_with(comm) == 4401


async def test_session_cookie_authenticates_a_browser(alice: User) -> None:
    """Without a ticket, the browser's session cookie authenticates the socket."""
    from django.test import Client

    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(
        websocket_application(),
        "/ws/chat",
        headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")],
    )
    assert (await comm.connect())[0]
    await _send(comm, {"type": "heartbeat"})
    assert await _recv(comm) == {"type": "heartbeat.ack"}
    await comm.disconnect()


async def test_deactivated_user_ticket_is_closed_4401(alice: User) -> None:
    """A ticket of a user deactivated since it was issued is refused."""
    ticket = await device_ticket_async(alice, "d")
    await database_sync_to_async(User.objects.filter(pk=alice.pk).update)(is_active=False)
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    await comm.connect()
    assert await _closed_with(comm) == 4401


async def test_foreign_origin_is_refused(alice: User) -> None:
    """A browser page from another site cannot open a socket."""
    ticket = await device_ticket_async(alice, "d")
    comm = WebsocketCommunicator(
        websocket_application(), f"/ws/chat?ticket={ticket}", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_allowed_origin_connects(alice: User) -> None:
    """A page of an allowed host connects."""
    comm = await _connect(alice, headers=[(b"origin", b"http://127.0.0.1:8000")])
    await comm.disconnect()


async def test_draining_server_closes_new_sockets_4503(alice: User) -> None:
    """A draining chat server takes no new clients."""
    runtime_module.chat_runtime().draining = True
    ticket = await device_ticket_async(alice, "d")
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    await comm.connect()
    assert await _closed_with(comm) == 4503


async def test_drain_tells_clients_and_closes_them(alice: User) -> None:
    """Draining sends server.draining, leaves discovery and closes the socket with 4503."""
    comm = await _connect(alice)
    runtime = runtime_module.chat_runtime()
    with override_settings(CHAT_DRAIN_GRACE=0.1):
        await runtime.drain()
    assert await _recv(comm) == {"type": "server.draining"}
    assert await _closed_with(comm) == 4503
    from chat.store.redis import keys as redis_keys

    assert runtime.server_id not in {e.id for e in redis_keys.servers_live(get_redis())}


async def test_a_client_names_the_protocol_version_it_speaks(alice: User) -> None:
    """`v=1` (the version of docs/asyncapi.yaml) connects; a version the server does not speak is
    closed with 4505 before the ticket is spent, so the same ticket still works."""
    ticket = await device_ticket_async(alice, "d")
    for version in ("2", "0", "one"):
        comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}&v={version}")
        await comm.connect()
        assert await _closed_with(comm) == 4505, version
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}&v=1")
    assert (await comm.connect())[0]
    await _send(comm, {"type": "heartbeat"})
    assert await _recv(comm) == {"type": "heartbeat.ack"}
    await comm.disconnect()


# ---------------------------------------------------------------- bad input


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(alice: User, direct: int) -> None:
    """Every kind of bad frame gets its error code; the socket keeps working afterwards."""
    comm = await _connect(alice)
    cases: list[tuple[str, str]] = [
        ("not json", "bad_request"),
        ("[]", "bad_request"),
        (json.dumps({"type": "nope"}), "unknown_type"),
        (json.dumps({"type": "message.send", "conversation_id": direct, "body": "x"}), "bad_request"),
        (json.dumps(_msg(direct, "x" * 10_001)), "too_large"),
        (json.dumps({"type": "heartbeat", "pad": "x" * 70_000}), "too_large"),
        (json.dumps(_msg(999_999, "hello")), "forbidden"),
    ]
    for text, code in cases:
        await comm.send_to(text_data=text)
        frame = await _recv(comm)
        assert (frame["type"], frame["code"]) == ("error", code), text[:60]
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await _recv(comm))["code"] == "bad_request"
    await _send(comm, {"type": "heartbeat"})
    assert await _recv(comm) == {"type": "heartbeat.ack"}
    await comm.disconnect()


async def test_error_frame_refers_to_client_msg_id(alice: User) -> None:
    """A refused send names its client_msg_id in `ref`."""
    comm = await _connect(alice)
    await _send(comm, _msg(424242, "hi", client_msg_id="ref-1"))
    frame = await _recv(comm)
    assert frame["ref"] == "ref-1"
    await comm.disconnect()


async def test_flooding_is_rate_limited(alice: User, direct: int) -> None:
    """Sends beyond the per-user rate get rate_limited; the earlier ones are stored."""
    comm = await _connect(alice)
    with override_settings(CHAT_RATE_LIMIT_MESSAGES=3):
        for i in range(4):
            await _send(comm, _msg(direct, f"m{i}", client_msg_id=f"flood-{i}"))
        frames = [await _recv(comm) for _ in range(4)]
    kinds = sorted((f["type"], f.get("code")) for f in frames)
    assert kinds == [
        ("error", "rate_limited"),
        ("message.ack", None),
        ("message.ack", None),
        ("message.ack", None),
    ]
    await comm.disconnect()


async def test_blocked_user_cannot_send_in_direct(alice: User, bob: User, direct: int) -> None:
    """After Bob blocks Alice her send is refused with forbidden."""
    await database_sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    comm = await _connect(alice)
    await _send(comm, _msg(direct, "hello?"))
    frame = await _recv(comm)
    assert (frame["type"], frame["code"]) == ("error", "forbidden")
    await comm.disconnect()


# ---------------------------------------------------------------- the message flow


async def test_send_acks_sender_and_delivers_to_every_other_device(
    alice: User, bob: User, direct: int
) -> None:
    """The sender's device gets message.ack; Bob and Alice's other device get message.new."""
    a1 = await _connect(alice, device="a1")
    a2 = await _connect(alice, device="a2")
    b1 = await _connect(bob, device="b1")
    await _send(a1, _msg(direct, "hello @bob", client_msg_id="c-1"))
    ack = await _recv_type(a1, "message.ack")
    assert ack["client_msg_id"] == "c-1"
    assert ack["conversation_id"] == direct
    for comm in (a2, b1):
        new = await _recv_type(comm, "message.new")
        assert new["message"]["id"] == ack["message_id"]
        assert new["message"]["body"] == "hello @bob"
        assert new["message"]["mentions"] == [bob.pk]
    assert await a1.receive_nothing(timeout=0.3)  # no message.new echoed to the sending device
    for comm in (a1, a2, b1):
        await comm.disconnect()


async def test_resend_gets_same_id_and_stores_nothing_new(alice: User, bob: User, direct: int) -> None:
    """A resent client_msg_id is acked with the first message_id and not delivered again."""
    a1 = await _connect(alice)
    b1 = await _connect(bob, device="b1")
    await _send(a1, _msg(direct, "once", client_msg_id="same"))
    first = await _recv_type(a1, "message.ack")
    await _recv_type(b1, "message.new")
    await _send(a1, _msg(direct, "once", client_msg_id="same"))
    second = await _recv_type(a1, "message.ack")
    assert second["message_id"] == first["message_id"]
    assert await b1.receive_nothing(timeout=0.5)
    await _send(b1, {"type": "sync", "since": "0"})
    batch = await _recv_type(b1, "sync.batch")
    assert [m["body"] for m in batch["messages"]] == ["once"]
    for comm in (a1, b1):
        await comm.disconnect()


async def test_sync_returns_everything_in_order_then_done(alice: User, bob: User, direct: int) -> None:
    """sync from 0 gives every message ascending, in batches, then sync.done with the newest ID."""
    a1 = await _connect(alice)
    ids = []
    with override_settings(CHAT_SYNC_BATCH=4):
        for i in range(10):
            await _send(a1, _msg(direct, f"n{i}"))
            ids.append((await _recv_type(a1, "message.ack"))["message_id"])
        b1 = await _connect(bob)
        await _send(b1, {"type": "sync", "since": 0})
        got: list[str] = []
        while True:
            frame = await _recv(b1)
            if frame["type"] == "sync.done":
                break
            assert frame["type"] == "sync.batch"
            assert len(frame["messages"]) <= 4
            got.extend(m["id"] for m in frame["messages"])
    assert got == ids
    assert frame["cur_max_message_id"] == ids[-1]
    for comm in (a1, b1):
        await comm.disconnect()


async def test_typing_reaches_other_members_only(alice: User, bob: User, direct: int) -> None:
    """Typing goes to Bob, not to Alice's other device; a burst is throttled to one."""
    a1 = await _connect(alice, device="a1")
    a2 = await _connect(alice, device="a2")
    b1 = await _connect(bob)
    for _ in range(3):
        await _send(a1, {"type": "typing", "conversation_id": direct})
    assert await _recv(b1) == {"type": "typing", "conversation_id": direct, "user_id": alice.pk}
    assert await b1.receive_nothing(timeout=0.3)
    assert await a2.receive_nothing(timeout=0.1)
    for comm in (a1, a2, b1):
        await comm.disconnect()


async def test_read_marker_is_stored_and_announced(alice: User, bob: User, direct: int) -> None:
    """Bob's read frame moves his marker and tells Alice."""
    a1 = await _connect(alice)
    b1 = await _connect(bob)
    await _send(a1, _msg(direct, "read me"))
    message_id = (await _recv_type(a1, "message.ack"))["message_id"]
    await _recv_type(b1, "message.new")
    await _send(b1, {"type": "read", "conversation_id": direct, "message_id": message_id})
    frame = await _recv_type(a1, "read")
    assert int(frame.pop("feed_id")) > int(message_id)  # a feed entry (docs/protocol.md)
    assert frame == {"type": "read", "conversation_id": direct, "user_id": bob.pk, "message_id": message_id}
    from chat.models import Membership

    marker = await database_sync_to_async(
        lambda: Membership.objects.get(conversation_id=direct, user=bob).last_read_message_id
    )()
    assert str(marker) == message_id
    for comm in (a1, b1):
        await comm.disconnect()


async def test_group_message_reaches_every_member(alice: User, bob: User, carol: User) -> None:
    """A group send reaches every connected member once."""
    group = await database_sync_to_async(conversation_group_create)(
        owner=alice, title="trio", member_ids=[bob.pk, carol.pk]
    )
    a1, b1, c1 = await _connect(alice), await _connect(bob), await _connect(carol)
    await _send(a1, _msg(group.pk, "hi all"))
    ack = await _recv_type(a1, "message.ack")
    for comm in (b1, c1):
        assert (await _recv_type(comm, "message.new"))["message"]["id"] == ack["message_id"]
    for comm in (a1, b1, c1):
        await comm.disconnect()


async def test_read_receipts_off_tells_only_my_other_devices(alice: User, bob: User, direct: int) -> None:
    """With read receipts off, Bob's marker is stored and reaches his other device, not Alice."""
    await database_sync_to_async(User.objects.filter(pk=bob.pk).update)(read_receipts_enabled=False)
    a1, b1, b2 = await _connect(alice), await _connect(bob, device="b1"), await _connect(bob, device="b2")
    await _send(a1, _msg(direct, "unseen receipt"))
    message_id = (await _recv_type(a1, "message.ack"))["message_id"]
    await _recv_type(b1, "message.new")
    await _send(b1, {"type": "read", "conversation_id": direct, "message_id": message_id})
    assert (await _recv_type(b2, "read"))["message_id"] == message_id
    assert await a1.receive_nothing(timeout=0.5)
    for comm in (a1, b1, b2):
        await comm.disconnect()


async def test_enqueue_failure_gets_unavailable_and_the_resend_works(
    alice: User, direct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the sync queue cannot take a message the sender gets `unavailable` (nothing acked);
    the resend with the same client_msg_id is stored once queueing works again."""
    from chat.worker.tasks import messages_sync

    comm = await _connect(alice)
    real = messages_sync.apply_async

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(messages_sync, "apply_async", broker_down)
    await _send(comm, _msg(direct, "retry me", client_msg_id="r-1"))
    frame = await _recv(comm)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "unavailable", "r-1")
    monkeypatch.setattr(messages_sync, "apply_async", real)
    await _send(comm, _msg(direct, "retry me", client_msg_id="r-1"))
    assert (await _recv_type(comm, "message.ack"))["client_msg_id"] == "r-1"
    await comm.disconnect()


async def test_unexpected_failure_gets_internal_and_the_socket_stays_open(
    alice: User, direct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a handler answers `internal`; the socket keeps working."""
    from chat.server import handlers

    async def broken(**kwargs: Any) -> None:
        raise RuntimeError("bug")

    comm = await _connect(alice)
    monkeypatch.setattr(handlers, "typing_announce", broken)
    await _send(comm, {"type": "typing", "conversation_id": direct})
    assert (await _recv(comm))["code"] == "internal"
    await _send(comm, {"type": "heartbeat"})
    assert await _recv(comm) == {"type": "heartbeat.ack"}
    await comm.disconnect()


async def test_redis_failing_mid_frame_gets_unavailable_not_internal(
    alice: User, direct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame whose Redis connection breaks or times out while it is handled answers
    `unavailable` (with the send's ref: its outbox resends it), not `internal`; the resend works."""
    import redis

    from chat.server import handlers

    real = handlers.send_budget_take

    async def reset(**kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection reset by peer")

    async def slow(**kwargs: Any) -> None:
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    comm = await _connect(alice)
    monkeypatch.setattr(handlers, "send_budget_take", reset)
    await _send(comm, _msg(direct, "retry me", client_msg_id="redis-1"))
    frame = await _recv(comm)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "unavailable", "redis-1")
    monkeypatch.setattr(handlers, "typing_announce", slow)
    await _send(comm, {"type": "typing", "conversation_id": direct})
    frame = await _recv(comm)
    assert (frame["code"], frame["ref"]) == ("unavailable", None)
    monkeypatch.setattr(handlers, "send_budget_take", real)
    await _send(comm, _msg(direct, "retry me", client_msg_id="redis-1"))
    assert (await _recv_type(comm, "message.ack"))["client_msg_id"] == "redis-1"
    await comm.disconnect()


async def test_edit_and_delete_reach_members_as_message_updated(alice: User, bob: User, direct: int) -> None:
    """An edit and then a delete of Alice's message reach Bob's device as message.updated."""
    from chat.services import message_delete, message_edit

    a1, b1 = await _connect(alice), await _connect(bob)
    await _send(a1, _msg(direct, "typo"))
    message_id = int((await _recv_type(a1, "message.ack"))["message_id"])
    await _recv_type(b1, "message.new")
    await database_sync_to_async(message_edit)(
        editor_id=alice.pk, conversation_id=direct, message_id=message_id, body="fixed"
    )
    edited = (await _recv_type(b1, "message.updated"))["message"]
    assert (edited["id"], edited["body"], edited["deleted"]) == (str(message_id), "fixed", False)
    assert edited["edited_at"] is not None
    await database_sync_to_async(message_delete)(
        actor_id=alice.pk, conversation_id=direct, message_id=message_id
    )
    deleted = (await _recv_type(b1, "message.updated"))["message"]
    assert (deleted["id"], deleted["body"], deleted["deleted"]) == (str(message_id), "", True)
    for comm in (a1, b1):
        await comm.disconnect()


async def test_redelivered_task_routes_again_and_stores_once(alice: User, bob: User, direct: int) -> None:
    """A sync task run twice (its worker died after storing) re-sends message.new with the same ID
    (the fan-out may not have happened the first time) and stores one message."""
    from chat.domain.events import Origin, sync_item
    from chat.selectors import message_history
    from chat.services import check_message_send_blocking
    from chat.worker.pipeline import do_send_messages

    b1 = await _connect(bob)
    pending = await database_sync_to_async(check_message_send_blocking)(
        sender_id=alice.pk, conversation_id=direct, client_msg_id="redelivered", body="twice?"
    )
    item = sync_item(pending=pending, origin=Origin())
    for _ in range(2):
        await database_sync_to_async(do_send_messages)(items=[item])
        assert (await _recv_type(b1, "message.new"))["message"]["id"] == str(pending.id)
    page = await database_sync_to_async(message_history)(
        user_id=alice.pk, conversation_id=direct, limit=10, before=None, after=None, around=None
    )
    assert [m.id for m in page.messages] == [pending.id]
    await b1.disconnect()


async def test_a_server_whose_event_loop_runs_late_sheds_sends(alice: User, direct: int) -> None:
    """While the chat server's event loop runs its timers CHAT_SHED_LAG_MS late or more, a send
    is refused with `overloaded` and a retry delay (0 here: any lag counts); below it, accepted."""
    comm = await _connect(alice)
    with override_settings(CHAT_SHED_LAG_MS=0):
        await _send(comm, _msg(direct, "later", client_msg_id="lag-1"))
        frame = await _recv(comm)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "overloaded", "lag-1")
    assert frame["retry_after_ms"] >= 500
    await _send(comm, _msg(direct, "later", client_msg_id="lag-1"))
    frame = await _recv(comm)
    assert (frame["type"], frame["client_msg_id"]) == ("message.ack", "lag-1")
    await comm.disconnect()
