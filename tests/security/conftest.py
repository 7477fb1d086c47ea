"""The attacks of tests/security run against one real stack (tests/stack.py): nginx in
front of two API servers, two daphne chat servers, the Celery workers, on this run's test
databases. Users are registered through the API, as an outside client would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from conftest import cassandra_truncate

# the security tests take their accounts from the test client
from tests.chat_client import PASSWORD, Account, Device
from tests.chat_client import register as register
from tests.stack import Stack, api_call


# package scope: stopped once the package's tests are done, so that it never runs beside the stacks
# of other test modules (they would share the chat server ids chat-1, chat-2 in one Redis registry)
@pytest.fixture(scope="package")
def security_stack(django_db_setup: None, cassandra_keyspace: str) -> Iterator[Stack]:
    # the PostgreSQL test database is new, so user ids start again: history of earlier runs would
    # show up in the new users' inboxes
    cassandra_truncate(cassandra_keyspace)
    with Stack.running(
        "chat-security-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            # these tests register many users from one address; the lockout tests count failures
            # of logins, which the anonymous throttle does not touch
            "API_THROTTLE_ANON": "100000/min",
            "CHAT_REGISTRY_REFRESH": "1",
            # the bounded-sync test: a small page, so it needs few messages
            "CHAT_SYNC_MAX_MESSAGES": "50",
            "CHAT_SYNC_BATCH": "20",
        },
    ) as s:
        yield s


def login(stack: Stack, account: Account, name: str = "phone") -> Device:
    """A new device login of the account (its own bearer token)."""
    return Device.login(api=stack.api, username=account.username, password=PASSWORD, name=name)


def direct_conversation(stack: Stack, a: Account, b: Account) -> int:
    status, body = api_call(
        stack.api, "POST", "conversations", {"type": "direct", "user_id": b.user_id}, a.token
    )
    assert status in (200, 201), body
    return int(body["id"])


def post_message(stack: Stack, account: Account, conversation_id: int, body: str) -> dict[str, Any]:
    """A message sent over REST; returns the stored message."""
    status, message = api_call(
        stack.api,
        "POST",
        f"conversations/{conversation_id}/messages",
        {"client_msg_id": uuid.uuid4().hex, "body": body},
        account.token,
    )
    assert status == 201, message
    return dict(message)
