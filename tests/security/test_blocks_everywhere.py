"""Item 9: a block applies to every kind of event: in a group they share, the blocked user's
typing, read markers, edits and deletes reach the other members but never the blocker."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.chat_client import Device
from tests.security.conftest import login, post_message, register
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def _kinds_within(device: Device, seconds: float) -> list[str]:
    kinds = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                kinds.append((await device.frames.get())["type"])
    except TimeoutError:
        return kinds


async def test_blocked_users_events_do_not_reach_the_blocker(security_stack: Stack) -> None:
    """Bob blocked Alice: Carol sees Alice's typing, read marker (it passed a message of each of
    them), edit and delete; Bob sees none."""
    stack = security_stack
    alice, bob, carol = register(stack, "ba"), register(stack, "bb"), register(stack, "bc")
    status, group = api_call(
        stack.api,
        "POST",
        "conversations",
        {"type": "group", "title": "trio", "member_ids": [bob.user_id, carol.user_id]},
        alice.token,
    )
    assert status == 201, group
    conversation = int(group["id"])
    status, body = api_call(stack.api, "POST", f"blocks/{alice.user_id}", None, bob.token)
    assert status in (200, 201, 204), body

    message = post_message(stack, alice, conversation, "before")
    alice_device, bob_device, carol_device = login(stack, alice), login(stack, bob), login(stack, carol)
    await alice_device.connect(stack.chat_url(0))
    await bob_device.connect(stack.chat_url(1))
    await carol_device.connect(stack.chat_url(0))
    assert alice_device.ws is not None

    await alice_device.ws.send(json.dumps({"type": "typing", "conversation_id": conversation}))
    await carol_device.next_frame("typing")
    # Alice's read marker passes a message of Bob's and one of Carol's: read entries go to the
    # senders of what it passed, but not to Bob, who blocked her
    post_message(stack, bob, conversation, "from bob")
    latest = post_message(stack, carol, conversation, "from carol")
    await alice_device.ws.send(
        json.dumps({"type": "read", "conversation_id": conversation, "message_id": latest["id"]})
    )
    await carol_device.next_frame("read")
    path = f"conversations/{conversation}/messages/{message['id']}"
    assert api_call(stack.api, "PATCH", path, {"body": "edited"}, alice.token)[0] == 200
    assert (await carol_device.next_frame("message.updated"))["message"]["body"] == "edited"
    assert api_call(stack.api, "DELETE", path, None, alice.token)[0] == 200
    assert (await carol_device.next_frame("message.updated"))["message"]["deleted"]

    kinds = await _kinds_within(bob_device, 1.5)
    assert not {"typing", "read", "message.updated"} & set(kinds), kinds
    for device in (alice_device, bob_device, carol_device):
        await device.close()
