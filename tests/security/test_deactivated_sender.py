"""Item 4 (sending re-checks the account): a socket whose user was deactivated behind the services'
back (no logout event reached it) cannot send: the send is refused, nothing is stored."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import User
from chat.server.app import websocket_application
from chat.services import conversation_direct_open
from tests.tickets import device_ticket_async

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("fresh_chat_runtime", "cassandra_clean")
async def test_a_deactivated_user_cannot_send(alice: User, bob: User) -> None:
    """After `is_active` is cleared, the next send answers `forbidden` and is not acknowledged."""
    conversation, _ = await database_sync_to_async(conversation_direct_open)(user=alice, other_id=bob.pk)
    comm = WebsocketCommunicator(
        websocket_application(), f"/ws/chat?ticket={await device_ticket_async(alice)}"
    )
    assert (await comm.connect())[0]
    await comm.send_to(text_data='{"type":"heartbeat"}')  # the socket is set up
    assert json.loads(await comm.receive_from(timeout=5)) == {"type": "heartbeat.ack"}
    await database_sync_to_async(User.objects.filter(pk=alice.pk).update)(is_active=False)
    client_msg_id = uuid.uuid4().hex
    frame = {"type": "message.send", "conversation_id": conversation.pk, "client_msg_id": client_msg_id}
    await comm.send_to(text_data=json.dumps({**frame, "body": "still here?"}))
    answer = json.loads(await comm.receive_from(timeout=5))
    assert (answer["type"], answer["code"], answer["ref"]) == ("error", "forbidden", client_msg_id)
    await comm.disconnect()
