"""Item 7: every frame type has a budget, a user has a bounded number of sockets, a `sync` answers
a bounded page, and refused sends do not use the send budget — against a real stack."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.chat_client import Device
from tests.security.conftest import direct_conversation, login, post_message, register
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def _errors(device: Device, *, settle: float = 3.0) -> list[dict]:
    """The error frames received until nothing arrives for `settle` seconds."""
    errors: list[dict] = []
    while True:
        try:
            frame = await asyncio.wait_for(device.frames.get(), timeout=settle)
        except TimeoutError:
            return errors
        if frame["type"] == "error":
            errors.append(frame)


async def _send_raw(device: Device, conversation_id: int) -> None:
    """A send outside the device's outbox (it is not resent)."""
    assert device.ws is not None
    frame = {"type": "message.send", "conversation_id": conversation_id, "client_msg_id": uuid.uuid4().hex}
    await device.ws.send(json.dumps({**frame, "body": "x"}))


async def test_typing_flood_is_rate_limited_and_the_socket_stays(security_stack: Stack) -> None:
    """50 typing frames in a burst: the excess gets `rate_limited` with retry_after_ms; the
    socket stays open and answers heartbeats."""
    alice, bob = register(security_stack, "typ"), register(security_stack, "typ")
    conversation = direct_conversation(security_stack, alice, bob)
    device = login(security_stack, alice)
    await device.connect()
    assert device.ws is not None
    for _ in range(50):
        await device.ws.send(json.dumps({"type": "typing", "conversation_id": conversation}))
    errors = await _errors(device)
    assert errors
    assert all(e["code"] == "rate_limited" for e in errors)
    assert len(errors) == 50 - 20  # CHAT_BUDGET_TYPING's default, 20 per 10 s
    assert all(0 < e["retry_after_ms"] <= 10_000 for e in errors)
    await device.request({"type": "heartbeat"}, "heartbeat.ack")
    await device.close()


async def test_garbage_frames_have_a_budget_too(security_stack: Stack) -> None:
    """Frames that are not JSON or name no known type count against the `invalid` budget."""
    device = login(security_stack, register(security_stack, "junk"))
    await device.connect()
    assert device.ws is not None
    for i in range(30):
        await device.ws.send("not json" if i % 2 else '{"type":"nope"}')
    codes = [e["code"] for e in await _errors(device)]
    assert codes.count("rate_limited") == 10
    assert len(codes) == 30
    await device.close()


async def test_eleventh_socket_closes_the_oldest(security_stack: Stack) -> None:
    """A user's 11th socket (over both chat servers) closes the oldest with 4429; the rest stay."""
    account = register(security_stack, "many")
    device = login(security_stack, account)
    sockets = []
    for i in range(11):
        socket = Device(api=security_stack.api, token=device.token, user_id=account.user_id, name=f"s{i}")
        await socket.connect(security_stack.chat_url(i % 2))
        sockets.append(socket)
    assert await sockets[0].wait_closed(wait=15) == 4429
    for socket in sockets[1:]:
        await socket.request({"type": "heartbeat"}, "heartbeat.ack")
        assert socket.closed_with is None
        await socket.close()


async def test_refused_sends_do_not_use_the_budget(security_stack: Stack) -> None:
    """150 sends to a conversation the user is not in are all `forbidden`, never `rate_limited`;
    a send to the user's own conversation then goes through."""
    alice, bob, carol = (register(security_stack, "rej") for _ in range(3))
    theirs = direct_conversation(security_stack, bob, carol)
    mine = direct_conversation(security_stack, alice, bob)
    device = login(security_stack, alice)
    await device.connect()
    assert device.ws is not None
    for _ in range(150):
        await _send_raw(device, theirs)
    codes = {e["code"] for e in await _errors(device)}
    assert codes == {"forbidden"}
    sent = await device.send(mine, "after the refused ones")
    await device.wait_acked([sent], wait=60)
    await device.close()


async def test_a_client_that_backs_off_recovers(security_stack: Stack) -> None:
    """Past 100 sends per 10 s a send is `rate_limited` with retry_after_ms; hammering on does not
    push the window further; after waiting retry_after_ms a send goes through."""
    alice, bob = register(security_stack, "rate"), register(security_stack, "rate")
    conversation = direct_conversation(security_stack, alice, bob)
    device = login(security_stack, alice)
    await device.connect()
    accepted = [await device.send(conversation, f"m{i}") for i in range(100)]
    await device.wait_acked(accepted, wait=60, resend_every=60)
    assert device.ws is not None
    while not device.frames.empty():  # what came so far (a send shed for now under load, its ack)
        device.frames.get_nowait()
    for _ in range(30):  # over budget: each refused, none counted
        await _send_raw(device, conversation)
    errors = await _errors(device)
    assert len(errors) == 30
    assert {e["code"] for e in errors} == {"rate_limited"}
    wait_ms = max(e["retry_after_ms"] for e in errors)
    assert 0 < wait_ms <= 10_000
    await asyncio.sleep(wait_ms / 1000 + 0.2)
    again = await device.send(conversation, "after backing off")
    await device.wait_acked([again], wait=60, resend_every=60)
    await device.close()


async def test_sync_answers_a_bounded_page(security_stack: Stack) -> None:
    """A `sync` from 0 answers at most CHAT_SYNC_MAX_MESSAGES entries (50 on this stack) and says
    has_more; asking again from sync.done's cur_max_message_id gets the rest."""
    alice, bob = register(security_stack, "sync"), register(security_stack, "sync")
    conversation = direct_conversation(security_stack, alice, bob)
    sender = login(security_stack, alice)
    await sender.connect()
    sent = [await sender.send(conversation, f"m{i}") for i in range(70)]
    await sender.wait_acked(sent, wait=60, resend_every=60)
    reader = login(security_stack, bob)
    await reader.connect()
    assert reader.ws is not None
    await reader.ws.send(json.dumps({"type": "sync", "since": "0"}))
    batches = []
    while True:
        frame = await reader.next_frame("sync.batch")
        batches.append(frame)
        if not frame["has_more"] or sum(len(b["entries"]) for b in batches) >= 50:
            break
    done = await reader.next_frame("sync.done")
    # 50 feed entries: the conversation's `conversation.created`, then 49 messages
    assert sum(len(b["entries"]) for b in batches) == 50
    assert batches[-1]["has_more"]
    rest = await reader.request({"type": "sync", "since": done["cur_max_message_id"]}, "sync.done")
    assert int(rest["cur_max_message_id"]) >= int(done["cur_max_message_id"])
    assert len(reader.seen) == 70
    await sender.close()
    await reader.close()


def test_rest_edits_have_a_budget(security_stack: Stack) -> None:
    """More than API_THROTTLE_MESSAGE_EDIT (60/min) edits get 429 `rate_limited`."""
    alice, bob = register(security_stack, "edit"), register(security_stack, "edit")
    conversation = direct_conversation(security_stack, alice, bob)
    message = post_message(security_stack, alice, conversation, "v0")
    statuses = [
        api_call(
            security_stack.api,
            "PATCH",
            f"conversations/{conversation}/messages/{message['id']}",
            {"body": f"v{i}"},
            alice.token,
        )
        for i in range(1, 66)
    ]
    assert [s for s, _ in statuses[:60]] == [200] * 60
    assert {s for s, _ in statuses[60:]} == {429}
    assert statuses[-1][1]["error"]["code"] == "rate_limited"
