"""What a push says: the newest sender and the conversation, the message text only when the user
allows previews, a count for several messages, and never more than a push service accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat.services import message_delete
from chat.tests.test_apis import make_group, open_direct, send
from chatproject.redis_client import get_redis
from notifications import redis_keys
from notifications.tasks import send_pending_notification
from notifications.tests.pushes import push_decrypt, subscribe

pytestmark = pytest.mark.usefixtures("cassandra_clean")

# a push service refuses a larger encrypted payload (RFC 8030 §7.2)
PUSH_PAYLOAD_MAX_BYTES = 4096


@pytest.fixture
def bobs_browser(
    bob: Any,
    api_client_for: Any,
    push_service: Any,
    new_subscription: Any,
    clean_notification_state: list[int],
) -> Any:
    """Bob's subscribed browser; Bob has no socket, so every message to him is pushed at once
    (tasks run eagerly here: the coalescing window is not waited for)."""
    redis_keys.user_state_discard(get_redis(), user_id=bob.pk)
    clean_notification_state.append(bob.pk)
    subscription = new_subscription(push_service.endpoint("bob"))
    subscribe(api_client_for(bob, "browser"), subscription)
    return subscription


def _coalesced(monkeypatch: Any, user: Any, *actions: Callable[[], object]) -> None:
    """Run `actions` while the user's send waits (the coalescing window), then the one send."""
    monkeypatch.setattr(send_pending_notification, "apply_async", lambda **options: None)
    for action in actions:
        action()
    monkeypatch.undo()
    send_pending_notification.apply(kwargs={"user_id": user.pk})


def _previews_off(user: Any) -> None:
    user.push_previews_enabled = False
    user.save(update_fields=["push_previews_enabled"])


def test_a_direct_message_shows_the_sender_and_the_text(
    alice, bob, api_client_for, bobs_browser, push_service
):
    """Direct conversation, previews on: the title is the sender, the body the message."""
    cid = open_direct(api_client_for(alice), bob)
    sent = send(api_client_for(alice), cid, "See you at 8?")

    assert push_decrypt(push_service.requests[0], bobs_browser) == {
        "type": "messages",
        "count": 1,
        "conversation_ids": [cid],
        "newest_message_id": sent["id"],
        "sender_name": "Alice",
        "conversation_title": "Alice",
        "title": "Alice",
        "body": "See you at 8?",
    }


def test_with_previews_off_the_push_carries_no_text(
    alice, bob, carol, api_client_for, bobs_browser, push_service
):
    """Previews off: the group and the sender are named, the body says only "New message"."""
    _previews_off(bob)
    carol.display_name = ""
    carol.save(update_fields=["display_name"])
    group = make_group(api_client_for(alice), bob, carol, title="Trip")
    send(api_client_for(carol), group, "the secret plan")

    pushed = push_decrypt(push_service.requests[0], bobs_browser)
    assert (pushed["title"], pushed["body"]) == ("carol in Trip", "New message")
    assert (pushed["sender_name"], pushed["conversation_title"]) == ("carol", "Trip")
    assert "secret" not in str(pushed)


def test_several_messages_read_as_a_count_and_the_latest_sender(
    alice, bob, carol, api_client_for, bobs_browser, push_service, monkeypatch
):
    """Three messages coalesced in one group: a count, the latest sender in the title, and the
    latest text when previews are on; without previews only the count."""
    group = make_group(api_client_for(alice), bob, carol, title="Trip")
    a, c = api_client_for(alice), api_client_for(carol)
    _coalesced(
        monkeypatch,
        bob,
        lambda: send(a, group, "who books?"),
        lambda: send(a, group, "anyone?"),
        lambda: send(c, group, "me"),
    )
    pushed = push_decrypt(push_service.requests[0], bobs_browser)
    assert (pushed["count"], pushed["title"], pushed["body"]) == (3, "Carol in Trip", "3 new messages: me")

    _previews_off(bob)
    _coalesced(monkeypatch, bob, lambda: send(a, group, "ok"), lambda: send(a, group, "booked"))
    pushed = push_decrypt(push_service.requests[1], bobs_browser)
    assert (pushed["count"], pushed["title"], pushed["body"]) == (2, "Alice in Trip", "2 new messages")


def test_a_message_deleted_before_the_send_shows_no_text(
    alice, bob, api_client_for, bobs_browser, push_service, monkeypatch
):
    """Alice deletes her message within the window: the push still tells of it, without its text."""
    cid = open_direct(api_client_for(alice), bob)

    def send_then_delete() -> None:
        sent = send(api_client_for(alice), cid, "oops, wrong chat")
        message_delete(actor_id=alice.pk, conversation_id=cid, message_id=int(sent["id"]))

    _coalesced(monkeypatch, bob, send_then_delete)

    pushed = push_decrypt(push_service.requests[0], bobs_browser)
    assert (pushed["title"], pushed["body"]) == ("Alice", "New message")


def test_the_longest_names_and_message_fit_in_one_push(
    alice, bob, api_client_for, bobs_browser, push_service
):
    """A 64-character display name, a 200-character group title and a 10,000-character message
    of four-byte characters: the text is cut, and the encrypted push stays within 4,096 bytes."""
    alice.display_name = "\U0001f600" * 64
    alice.save(update_fields=["display_name"])
    group = make_group(api_client_for(alice), bob, title="\U0001f389" * 200)
    send(api_client_for(alice), group, "\U0001f680" * 10_000)

    push = push_service.requests[0]
    assert len(push.body) <= PUSH_PAYLOAD_MAX_BYTES
    pushed = push_decrypt(push, bobs_browser)
    assert pushed["body"].startswith("\U0001f680" * 100)
    assert pushed["body"].endswith("…")
    assert pushed["sender_name"] == "\U0001f600" * 64
