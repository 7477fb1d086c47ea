"""A mobile app's first minutes, written only with the REST client that openapi-python-client
generates from the live OpenAPI schema (package `chat_api_client`): register two users, log in,
open a conversation, send over REST (and resend: the same message), read the history, sync.

This module imports nothing of the project: tests/test_generated_client.py type-checks it with
`mypy --strict` against the freshly generated package, then runs it against the live stack
through nginx. A schema change that breaks a client written against it (a renamed operation,
field or model, a type that no longer fits) fails one or the other; so does an answer with a
status the schema does not list (`raise_on_unexpected_status`) or a body the models cannot read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from chat_api_client import AuthenticatedClient, Client
from chat_api_client.api.auth import v1_auth_login_create, v1_auth_register_create
from chat_api_client.api.conversations import (
    v1_conversations_create,
    v1_conversations_messages_create,
    v1_conversations_messages_retrieve,
)
from chat_api_client.api.sync import v1_sync_retrieve
from chat_api_client.models import (
    AuthResult,
    ConversationCreateInputRequest,
    ConversationDoc,
    Error,
    LoginInputRequest,
    MessageCreateInputRequest,
    MessageDoc,
    MessagePageDoc,
    RegisterInputRequest,
    SyncPageDoc,
)

PASSWORD = "correct-horse-battery-staple"
TIMEOUT = httpx.Timeout(30.0)


@dataclass
class SmokeRun:
    """What the run saw, for the test's report."""

    calls: int
    message_id: str
    conversation_id: int
    sync_entry_types: list[str]


def _client(base_url: str) -> Client:
    return Client(base_url=base_url, raise_on_unexpected_status=True, timeout=TIMEOUT)


def _signed_in(base_url: str, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=base_url, token=token, raise_on_unexpected_status=True, timeout=TIMEOUT
    )


def _register(client: Client, prefix: str) -> AuthResult:
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    answer = v1_auth_register_create.sync_detailed(
        client=client,
        body=RegisterInputRequest(username=username, email=f"{username}@example.com", password=PASSWORD),
    )
    assert answer.status_code == 201, answer.content

    assert isinstance(answer.parsed, AuthResult)
    assert answer.parsed.user.username == username
    return answer.parsed


def smoke_run(base_url: str) -> SmokeRun:
    """The whole story; `base_url` is the load balancer's origin (the schema's paths start /api/v1/)."""
    anonymous = _client(base_url)
    alice = _register(anonymous, "gen-alice-")
    bob = _register(anonymous, "gen-bob-")

    login = v1_auth_login_create.sync_detailed(
        client=anonymous,
        body=LoginInputRequest(
            username=alice.user.username, password=PASSWORD, device_name="generated client"
        ),
    )
    assert login.status_code == 200, login.content

    assert isinstance(login.parsed, AuthResult)
    assert login.parsed.token
    assert login.parsed.ticket
    assert login.parsed.chat_server is not None
    assert login.parsed.chat_server.url.startswith("ws")  # discovery is part of login
    as_alice = _signed_in(base_url, login.parsed.token)
    assert bob.token is not None
    as_bob = _signed_in(base_url, bob.token)

    opened = v1_conversations_create.sync_detailed(
        client=as_alice, body=ConversationCreateInputRequest(type_="direct", user_id=bob.user.id)
    )
    assert opened.status_code in (200, 201), opened.content

    assert isinstance(opened.parsed, ConversationDoc)
    conversation = opened.parsed
    assert {m.user_id for m in conversation.members} == {alice.user.id, bob.user.id}

    client_msg_id = str(uuid.uuid4())
    sent = v1_conversations_messages_create.sync_detailed(
        conversation.id,
        client=as_alice,
        body=MessageCreateInputRequest(client_msg_id=client_msg_id, body="hello from a generated client"),
    )
    assert sent.status_code == 201, sent.content

    assert isinstance(sent.parsed, MessageDoc)
    message = sent.parsed
    assert (message.client_msg_id, message.sender_id, message.deleted) == (
        client_msg_id,
        alice.user.id,
        False,
    )
    assert message.id.isdigit()  # message IDs are decimal strings

    resent = v1_conversations_messages_create.sync_detailed(
        conversation.id,
        client=as_alice,
        body=MessageCreateInputRequest(client_msg_id=client_msg_id, body="hello from a generated client"),
    )
    assert resent.status_code in (200, 201), resent.content

    assert isinstance(resent.parsed, MessageDoc)
    assert resent.parsed.id == message.id  # idempotent by client_msg_id

    refused = v1_conversations_messages_create.sync_detailed(
        conversation.id, client=as_alice, body=MessageCreateInputRequest(client_msg_id="blank", body="   ")
    )
    assert refused.status_code == 400, refused.content

    assert isinstance(refused.parsed, Error)
    assert refused.parsed.error.code == "invalid"

    history = v1_conversations_messages_retrieve.sync_detailed(conversation.id, client=as_bob, limit=10)
    assert history.status_code == 200, history.content

    assert isinstance(history.parsed, MessagePageDoc)
    assert [m.id for m in history.parsed.messages] == [message.id]
    assert history.parsed.messages[0].body == "hello from a generated client"

    synced = v1_sync_retrieve.sync_detailed(client=as_bob, since=0, limit=100)
    assert synced.status_code == 200, synced.content

    assert isinstance(synced.parsed, SyncPageDoc)
    page = synced.parsed
    assert [m.id for m in page.messages] == [message.id]
    assert not page.reset_required
    assert not page.has_more
    assert int(page.cur_max_message_id) >= int(message.id)
    entry_types = [str(e.type_) for e in page.entries]
    assert "message.new" in entry_types, entry_types
    assert "conversation.created" in entry_types, entry_types
    return SmokeRun(
        calls=9, message_id=message.id, conversation_id=conversation.id, sync_entry_types=entry_types
    )
