"""Web Push delivery from the `push` queue, against a real local push service: the pushes are
decrypted with the subscription's private key, as a browser would (RFC 8291)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chat.models import Membership
from chatproject.redis_client import get_redis
from notifications import redis_keys
from notifications.exceptions import PushDeliveryFailed
from notifications.models import Device
from notifications.services import pending_notification_send
from notifications.tasks import send_pending_notification
from notifications.tests.pushes import missed, push_decrypt, subscribe

# a send reads the newest message from the store (here: IDs it does not hold)
pytestmark = pytest.mark.usefixtures("cassandra_keyspace")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_offline_message_arrives_encrypted_and_vapid_signed(
    alice, bob, api_client_for, group_of, push_service, new_subscription
):
    """A message Bob missed reaches his browser's push service once, decryptable by his keys only,
    with a TTL and a VAPID signature by the server's published key."""
    conversation = group_of(alice, bob)
    client = api_client_for(bob)
    subscription = new_subscription(push_service.endpoint("bob"))
    device_id = subscribe(client, subscription)
    public_key = client.get("/api/v1/devices/vapid-public-key").json()["public_key"]

    missed((bob, conversation.pk, 7_000_000_001))

    assert len(push_service.requests) == 1
    push = push_service.requests[0]
    assert push.path == "/push/bob"
    # a message the store does not hold (this test routes an ID only): no sender, no text
    assert push_decrypt(push, subscription) == {
        "type": "messages",
        "count": 1,
        "conversation_ids": [conversation.pk],
        "newest_message_id": "7000000001",
        "sender_name": None,
        "conversation_title": "group",
        "title": "group",
        "body": "New message",
    }
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["ttl"] == "86400"
    assert push.headers["topic"] == "messages"
    # VAPID (RFC 8292): an ES256 JWT for this push service's origin, signed by the published key
    scheme, params = push.headers["authorization"].split(" ", 1)
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert scheme == "vapid"
    assert fields["k"] == public_key
    header, claims, signature = fields["t"].split(".")
    assert json.loads(_b64url_decode(claims))["aud"] == push_service.url
    raw_signature = _b64url_decode(signature)
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url_decode(public_key))
    verifier.verify(
        encode_dss_signature(int.from_bytes(raw_signature[:32]), int.from_bytes(raw_signature[32:])),
        f"{header}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    # another subscription's keys cannot read it
    with pytest.raises(http_ece.ECEException, match="InvalidTag"):
        push_decrypt(push, new_subscription(push_service.endpoint("bob")))
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []
    assert Device.objects.get(pk=device_id).last_success_at is not None


def test_each_webpush_device_gets_one_push_and_tokens_are_not_sent(
    alice, bob, api_client_for, group_of, push_service, new_subscription
):
    """Two browsers get a push each; an FCM registration is stored but not sent to."""
    conversation = group_of(alice, bob)
    client = api_client_for(bob)
    laptop, phone = (
        new_subscription(push_service.endpoint("laptop")),
        new_subscription(push_service.endpoint("phone")),
    )
    subscribe(client, laptop)
    subscribe(client, phone)
    client.post("/api/v1/devices", {"kind": "fcm", "token": "fcm-token"}, format="json")

    missed((bob, conversation.pk, 42))

    by_path = {request.path: request for request in push_service.requests}
    assert sorted(by_path) == ["/push/laptop", "/push/phone"]
    assert push_decrypt(by_path["/push/laptop"], laptop)["count"] == 1
    assert push_decrypt(by_path["/push/phone"], phone)["count"] == 1


def test_burst_of_offline_messages_becomes_one_push(
    alice, bob, api_client_for, group_of, push_service, new_subscription, monkeypatch
):
    """Five messages missed one after another schedule one send, PUSH_COALESCE_SECONDS later,
    which pushes one notification counting all five."""
    first, second = group_of(alice, bob), group_of(alice, bob)
    subscription = new_subscription(push_service.endpoint("bob"))
    subscribe(api_client_for(bob), subscription)
    scheduled: list[dict[str, Any]] = []
    monkeypatch.setattr(send_pending_notification, "apply_async", lambda **options: scheduled.append(options))

    for message_id, conversation in [(101, first), (102, second), (103, first), (104, first), (105, second)]:
        missed((bob, conversation.pk, message_id))

    assert scheduled == [{"kwargs": {"user_id": bob.pk}, "countdown": 5.0, "queue": "push"}]
    assert push_service.requests == []
    monkeypatch.undo()
    send_pending_notification.apply(kwargs={"user_id": bob.pk})
    assert len(push_service.requests) == 1
    pushed = push_decrypt(push_service.requests[0], subscription)
    assert (pushed["count"], pushed["conversation_ids"], pushed["newest_message_id"]) == (
        5,
        [second.pk, first.pk],
        "105",
    )
    assert pushed["body"] == "5 new messages in 2 conversations"
    # the window is over: the next missed message schedules a new send
    missed((bob, first.pk, 106))
    assert len(push_service.requests) == 2
    assert push_decrypt(push_service.requests[1], subscription)["count"] == 1


def test_messages_recorded_during_a_send_stay_pending(alice, bob, group_of):
    """A send clears only what it took: a message recorded meanwhile stays pending."""
    conversation, other = group_of(alice, bob), group_of(alice, bob)
    client = get_redis()
    for conversation_id, message_id in [(conversation.pk, 1), (other.pk, 2)]:
        redis_keys.pending_add(
            client, user_id=bob.pk, conversation_id=conversation_id, message_id=message_id, ttl=60
        )
    sent = redis_keys.pending_get(client, user_id=bob.pk)
    assert sent == [(conversation.pk, 1), (other.pk, 2)]
    redis_keys.pending_add(client, user_id=bob.pk, conversation_id=conversation.pk, message_id=3, ttl=60)
    redis_keys.pending_remove(client, user_id=bob.pk, messages=sent)
    assert redis_keys.pending_get(client, user_id=bob.pk) == [(conversation.pk, 3)]
    redis_keys.pending_remove(client, user_id=bob.pk, messages=redis_keys.pending_get(client, user_id=bob.pk))
    assert redis_keys.pending_get(client, user_id=bob.pk) == []


@pytest.mark.parametrize("status", [404, 410])
def test_dead_subscription_is_removed(
    alice, bob, api_client_for, group_of, push_service, new_subscription, status
):
    """A push service answering 404 or 410 removes the device; the pending notification is done."""
    conversation = group_of(alice, bob)
    device_id = subscribe(api_client_for(bob), new_subscription(push_service.endpoint("bob")))
    push_service.statuses = [status]

    missed((bob, conversation.pk, 9))

    assert len(push_service.requests) == 1
    assert not Device.objects.filter(pk=device_id).exists()
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []


def test_failed_push_keeps_the_pending_notification(
    alice, bob, api_client_for, group_of, push_service, new_subscription, monkeypatch
):
    """A 500 keeps the device and the pending notification, and marks the retry as scheduled."""
    conversation = group_of(alice, bob)
    device_id = subscribe(api_client_for(bob), new_subscription(push_service.endpoint("bob")))
    monkeypatch.setattr(send_pending_notification, "apply_async", lambda **options: None)
    missed((bob, conversation.pk, 9))
    push_service.statuses = [500]

    with pytest.raises(PushDeliveryFailed) as failure:
        pending_notification_send(user_id=bob.pk, attempt=2)

    assert failure.value.device_ids == [device_id]
    assert failure.value.retry_in == 20.0
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == [(conversation.pk, 9)]
    assert Device.objects.filter(pk=device_id).exists()
    # the retry is the scheduled send: a message missed meanwhile joins it
    scheduled: list[dict[str, Any]] = []
    monkeypatch.setattr(send_pending_notification, "apply_async", lambda **options: scheduled.append(options))
    missed((bob, conversation.pk, 10))
    assert scheduled == []


def test_send_task_retries_until_the_push_service_takes_it(
    alice, bob, api_client_for, group_of, push_service, new_subscription
):
    """The task retries after 503 and 429; the third push is taken and the pending one cleared."""
    conversation = group_of(alice, bob)
    subscription = new_subscription(push_service.endpoint("bob"))
    subscribe(api_client_for(bob), subscription)
    push_service.statuses = [503, 429]

    missed((bob, conversation.pk, 11))

    assert len(push_service.requests) == 3
    assert push_decrypt(push_service.requests[2], subscription)["count"] == 1
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []


def _mute(user: Any, conversation: Any) -> None:
    Membership.objects.filter(user=user, conversation=conversation).update(muted=True)


def _notifications_off(user: Any, conversation: Any) -> None:
    user.notifications_enabled = False
    user.save(update_fields=["notifications_enabled"])


def _do_not_disturb_now(user: Any, conversation: Any) -> None:
    now = datetime.now(UTC)
    user.time_zone = "UTC"
    user.dnd_start = (now - timedelta(hours=1)).time()
    user.dnd_end = (now + timedelta(hours=1)).time()
    user.save(update_fields=["time_zone", "dnd_start", "dnd_end"])


@pytest.mark.parametrize("quiet", [_mute, _notifications_off, _do_not_disturb_now])
def test_no_push_when_the_user_asked_for_quiet(
    alice, bob, api_client_for, group_of, push_service, new_subscription, quiet
):
    """A muted conversation, notifications turned off, or do-not-disturb: nothing is pushed."""
    conversation = group_of(alice, bob)
    subscribe(api_client_for(bob), new_subscription(push_service.endpoint("bob")))
    quiet(bob, conversation)

    missed((bob, conversation.pk, 12))

    assert push_service.requests == []
    assert redis_keys.pending_get(get_redis(), user_id=bob.pk) == []
