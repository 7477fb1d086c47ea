"""A push only for what the user has not seen elsewhere: messages sent through the real API (the
sync pipeline runs in this process and routes them to the push queue, Bob having no socket), and
read or delivered on another device of Bob's before the coalesced send runs."""

from __future__ import annotations

from typing import Any

import pytest

from chat.models import Membership
from chat.services.receipts import messages_mark_delivered
from chat.tests.test_apis import make_group, open_direct, send
from chatproject.redis_client import get_redis
from notifications import redis_keys
from notifications.services import pending_notification_send
from notifications.tasks import send_pending_notification
from notifications.tests.pushes import push_decrypt, subscribe

pytestmark = pytest.mark.usefixtures("cassandra_clean")


@pytest.fixture
def held_sends(bob: Any, clean_notification_state: list[int], monkeypatch: Any) -> list[int]:
    """The coalesced send is scheduled but held (the coalescing window is open) until the test
    runs it; yields the users whose send was scheduled."""
    redis_keys.user_state_discard(get_redis(), user_id=bob.pk)
    clean_notification_state.append(bob.pk)
    scheduled: list[int] = []
    monkeypatch.setattr(
        send_pending_notification,
        "apply_async",
        lambda **options: scheduled.append(options["kwargs"]["user_id"]),
    )
    return scheduled


@pytest.fixture
def bobs_browser(bob: Any, api_client_for: Any, push_service: Any, new_subscription: Any) -> Any:
    """Bob's browser, subscribed to pushes (and no socket open anywhere)."""
    subscription = new_subscription(push_service.endpoint("bob"))
    subscribe(api_client_for(bob, "browser"), subscription)
    return subscription


def test_a_message_read_on_another_device_before_the_send_is_not_pushed(
    alice, bob, api_client_for, bobs_browser, push_service, held_sends
):
    """Bob reads Alice's message on his phone within the window: no push, nothing left pending."""
    alice_client, bobs_phone = api_client_for(alice), api_client_for(bob, "phone")
    cid = open_direct(alice_client, bob)
    sent = send(alice_client, cid, "lunch?")
    assert held_sends == [bob.pk]
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == [(cid, int(sent["id"]))]

    read = bobs_phone.post(f"/api/v1/conversations/{cid}/read", {"message_id": sent["id"]}, format="json")
    assert read.status_code == 200
    assert pending_notification_send(user_id=bob.pk) == 0

    assert push_service.requests == []
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []


def test_a_message_delivered_to_another_device_before_the_send_is_not_pushed(
    alice, bob, api_client_for, bobs_browser, push_service, held_sends
):
    """Bob's phone acknowledged the message (the `delivered` frame) but did not read it: no push."""
    alice_client = api_client_for(alice)
    cid = open_direct(alice_client, bob)
    sent = send(alice_client, cid, "are you there?")

    assert messages_mark_delivered(user_id=bob.pk, message_ids=[int(sent["id"])]) == {cid: int(sent["id"])}
    assert pending_notification_send(user_id=bob.pk) == 0

    assert push_service.requests == []
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []


def test_only_what_is_still_unseen_is_counted(
    alice, bob, carol, api_client_for, bobs_browser, push_service, held_sends
):
    """Of a burst in two conversations, Bob read one conversation up to its second message on his
    phone: the push counts the third message of it and the group's message, and names the newest."""
    alice_client, bobs_phone = api_client_for(alice), api_client_for(bob, "phone")
    direct = open_direct(alice_client, bob)
    group = make_group(alice_client, bob, carol, title="Trip")
    first, second = send(alice_client, direct, "one"), send(alice_client, direct, "two")
    bobs_phone.post(f"/api/v1/conversations/{direct}/read", {"message_id": second["id"]}, format="json")
    third = send(alice_client, direct, "three")
    in_group = send(api_client_for(carol), group, "tickets booked")
    assert [m for _, m in redis_keys.pending_get(get_redis(), user_id=bob.pk)] == [
        int(m["id"]) for m in (first, second, third, in_group)
    ]

    assert pending_notification_send(user_id=bob.pk) == 1

    pushed = push_decrypt(push_service.requests[0], bobs_browser)
    assert pushed["count"] == 2
    assert pushed["conversation_ids"] == [group, direct]
    assert pushed["newest_message_id"] == in_group["id"]
    assert pushed["title"] == "Carol in Trip"
    assert pushed["body"] == "2 new messages in 2 conversations, the latest from Carol: tickets booked"
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []


def test_a_conversation_muted_during_the_window_is_not_pushed(
    alice, bob, api_client_for, bobs_browser, push_service, held_sends
):
    """Bob mutes the conversation after the message was recorded: the send leaves it out."""
    alice_client = api_client_for(alice)
    cid = open_direct(alice_client, bob)
    send(alice_client, cid, "ping")
    Membership.objects.filter(user=bob, conversation_id=cid).update(muted=True)

    assert pending_notification_send(user_id=bob.pk) == 0
    assert push_service.requests == []
