"""Push notifications across real processes: two daphne chat servers, the real Celery sync and
push workers, the API servers behind nginx, and a local push service in this test process that
the push worker reaches over HTTP (WEBPUSH_ALLOW_LOCAL_HTTP: http://127.0.0.1:<port> only).

Bob has no socket, so Alice's messages go to the push queue; what happens in the coalescing
window (`PUSH_COALESCE_SECONDS`) decides what the push service gets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from accounts.models import User
from chat.services import conversation_direct_open
from chatproject.redis_client import get_redis
from notifications import redis_keys
from notifications.tests import conftest as push_fixtures
from notifications.tests.conftest import LocalPushService
from notifications.tests.pushes import push_decrypt
from tests.chat_client import Device
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

# the local push service and browser subscriptions of the notifications tests
push_service = push_fixtures.push_service
new_subscription = push_fixtures.new_subscription

PASSWORD = "correct-horse-battery-staple"
# long enough for the test to read the message over REST before the send, on a busy machine
COALESCE_SECONDS = 6.0


@pytest.fixture(scope="module")
def stack(django_db_setup: None) -> Iterator[Stack]:
    with Stack.running(
        "chat-push-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "WEBPUSH_ALLOW_LOCAL_HTTP": "1",
            "PUSH_COALESCE_SECONDS": str(COALESCE_SECONDS),
            "CHAT_REGISTRY_REFRESH": "1",
        },
    ) as stack:
        yield stack


@pytest.fixture
def direct(alice: User, bob: User, cassandra_clean: str) -> Iterator[int]:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    redis_keys.user_state_discard(get_redis(), user_id=bob.pk)
    yield int(conversation.pk)
    redis_keys.user_state_discard(get_redis(), user_id=bob.pk)


def _login(stack: Stack, user: User, name: str) -> Device:
    return Device.login(api=stack.api, username=user.username, password=PASSWORD, name=name)


def _register_push(stack: Stack, device: Device, subscription: Any) -> None:
    status, body = api_call(
        stack.api,
        "POST",
        "devices",
        {"kind": "webpush", "subscription": subscription.as_json()},
        device.token,
    )
    assert status == 201, body


async def _until(condition: Any, *, what: str, wait: float = 60) -> None:
    """Wait for `condition()` (a liveness bound, not a speed assertion)."""
    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.2)


def _pending(user: User) -> list[tuple[int, int]]:
    return redis_keys.pending_get(get_redis(), user_id=user.pk)


async def test_a_message_read_on_the_phone_before_the_window_ends_produces_no_push(
    stack: Stack, alice: User, bob: User, direct: int, push_service: LocalPushService, new_subscription: Any
) -> None:
    """Bob's browser is registered and he has no socket. Alice writes; Bob reads it on his phone
    over REST within the coalescing window: the send finds it read and pushes nothing. Her next
    message, left unread, is pushed — the push service was reachable all along."""
    browser = new_subscription(push_service.endpoint("bob-browser"))
    _register_push(stack, _login(stack, bob, "browser"), browser)
    phone = _login(stack, bob, "phone")
    a1 = _login(stack, alice, "a1")
    await a1.connect()

    first = await a1.send(direct, "lunch at noon?")
    await a1.wait_acked([first])
    first_id = a1.acks[first]
    await _until(lambda: _pending(bob) == [(direct, first_id)], what="the push worker records the message")
    status, body = api_call(
        stack.api, "POST", f"conversations/{direct}/read", {"message_id": str(first_id)}, phone.token
    )
    assert status == 200, body
    await _until(lambda: _pending(bob) == [], what="the coalesced send runs and clears it")
    assert push_service.requests == []

    second = await a1.send(direct, "are you coming?")
    await a1.wait_acked([second])
    await _until(lambda: len(push_service.requests) == 1, what="the unread message is pushed")
    pushed = push_decrypt(push_service.requests[0], browser)
    assert (pushed["count"], pushed["newest_message_id"], pushed["body"]) == (
        1,
        str(a1.acks[second]),
        "are you coming?",
    )
    await a1.close()


async def test_logout_of_a_device_stops_pushes_to_its_registration(
    stack: Stack, alice: User, bob: User, direct: int, push_service: LocalPushService, new_subscription: Any
) -> None:
    """Bob's phone and laptop each registered for pushes; the phone logs out. Alice's message is
    pushed to the laptop's registration only."""
    phone_login, laptop_login = _login(stack, bob, "phone"), _login(stack, bob, "laptop")
    phone = new_subscription(push_service.endpoint("bob-phone"))
    laptop = new_subscription(push_service.endpoint("bob-laptop"))
    _register_push(stack, phone_login, phone)
    _register_push(stack, laptop_login, laptop)
    status, _ = api_call(stack.api, "POST", "auth/logout", None, phone_login.token)
    assert status == 204
    a1 = _login(stack, alice, "a1")
    await a1.connect()

    sent = await a1.send(direct, "ping")
    await a1.wait_acked([sent])
    await _until(lambda: len(push_service.requests) >= 1, what="the laptop's push")
    await _until(lambda: _pending(bob) == [], what="the send is over")

    assert [request.path for request in push_service.requests] == ["/push/bob-laptop"]
    assert push_decrypt(push_service.requests[0], laptop)["newest_message_id"] == str(a1.acks[sent])
    await a1.close()
