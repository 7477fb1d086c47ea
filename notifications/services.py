"""The push notification server's decisions (design note §1.3, DESIGN.md §4 "Push notifications").

For each member who had no live device when a message was routed, decide whether to notify
(notifications on, not in do-not-disturb, conversation not muted) and coalesce it into the one
pending notification of that user, so a burst becomes a single notification: the first record
in a quiet user schedules the send `PUSH_COALESCE_SECONDS` later, and later ones join it.

The send takes a snapshot of the pending messages, leaves out those another device of the user
has read or acknowledged as delivered meanwhile (nothing left: no push), pushes what remains once
to each of the user's Web Push devices (`notifications.payload` says what a push says), and then
removes the snapshot's messages (what arrived meanwhile has scheduled its own send).
404/410 remove a device; a retryable failure keeps the pending notification and schedules a retry
to every device with backoff — repeats collapse by the push `Topic` and the notification tag.
FCM/APNs registrations are stored but not sent to: that needs credentials this service lacks.
Also here: registering and removing push devices (DESIGN.md §3.1 `devices`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import device_login_alive, user_in_do_not_disturb
from chat.models import Membership
from chatproject.errors import NotFound
from chatproject.redis_client import get_redis
from notifications import redis_keys
from notifications.exceptions import PushDeliveryFailed
from notifications.models import Device
from notifications.payload import push_payload
from notifications.webpush import WebPushOutcome, webpush_send_all

PENDING_TTL = 7 * 24 * 3600
# retries of a failed send wait 5, 10, 20, ... seconds, but stay under the broker's visibility
# timeout: the Redis transport hands a countdown task still unacknowledged then to another worker
RETRY_FIRST_DELAY = 5.0
# the share of the visibility timeout one send of a user's pushes may take in all
SEND_BUDGET_SHARE = 0.5
# a scheduled-send mark outlives its countdown by this much, so a lost task only delays the next
SCHEDULE_MARGIN = 60


def offline_notifications_record(*, messages_by_user: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """Record the notifications due for offline members.

    Args:
        messages_by_user: user id → [(conversation id, message id)] of messages they missed.
    Returns:
        user id → number of messages added to that user's pending notification.
    """
    now = datetime.now(UTC)
    users = User.objects.filter(pk__in=messages_by_user, is_active=True, notifications_enabled=True)
    muted = set(
        Membership.objects.filter(user_id__in=messages_by_user, muted=True).values_list(
            "user_id", "conversation_id"
        )
    )
    client = get_redis()
    recorded: dict[int, int] = {}
    for user in users:
        if user_in_do_not_disturb(user=user, at=now):
            continue
        for conversation_id, message_id in messages_by_user[user.pk]:
            if (user.pk, conversation_id) in muted:
                continue
            redis_keys.pending_add(
                client,
                user_id=user.pk,
                conversation_id=conversation_id,
                message_id=message_id,
                ttl=PENDING_TTL,
            )
            recorded[user.pk] = recorded.get(user.pk, 0) + 1
    for user_id in recorded:
        _pending_send_schedule(client, user_id=user_id)
    return recorded


def _pending_send_schedule(client: redis.Redis, *, user_id: int) -> None:
    """Schedule the send of the user's pending notification, unless one is already scheduled."""
    from notifications.tasks import send_pending_notification  # the task calls back into here

    delay = settings.PUSH_COALESCE_SECONDS
    if redis_keys.send_schedule_claim(client, user_id=user_id, ttl=int(delay) + SCHEDULE_MARGIN):
        send_pending_notification.apply_async(kwargs={"user_id": user_id}, countdown=delay, queue="push")


def pending_messages_still_unseen(*, user_id: int, messages: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pending (conversation id, message id) pairs worth a push now: not read or delivered on
    another device since they were recorded (ID above the member's read and delivered positions),
    and not in a conversation muted meanwhile. One query for all the conversations.

    A conversation the user is no longer in keeps its messages: they were the user's when sent.
    """
    positions = {
        conversation_id: (max(read, delivered), muted)
        for conversation_id, read, delivered, muted in Membership.objects.filter(
            user_id=user_id, conversation_id__in={c for c, _ in messages}
        ).values_list("conversation_id", "last_read_message_id", "last_delivered_message_id", "muted")
    }
    unseen = []
    for conversation_id, message_id in messages:
        seen_up_to, muted = positions.get(conversation_id, (0, False))
        if message_id > seen_up_to and not muted:
            unseen.append((conversation_id, message_id))
    return unseen


def _webpush_devices_of_live_logins(*, user_id: int) -> list[Device]:
    """The user's Web Push registrations whose device login still stands. The others go: their
    login ended without its signal reaching us (a failed receiver) or ran out (a token left
    unused, an expired session), and a push must not show a logged-out browser the user's news.
    A registration older than `login_device` (empty) cannot be told and stays."""
    devices: list[Device] = []
    alive: dict[str, bool] = {}
    for device in Device.objects.filter(user_id=user_id, kind=Device.Kind.WEBPUSH):
        login = device.login_device
        if login and login not in alive:
            alive[login] = device_login_alive(user_id=user_id, device_id=login)
        if login and not alive[login]:
            device.delete()
        else:
            devices.append(device)
    return devices


def pending_notification_send(*, user_id: int, attempt: int = 0) -> int:
    """Push the user's pending notification once to each Web Push device of theirs.

    What another device of the user has read or acknowledged as delivered by now is left out; if
    nothing is left, nothing is pushed and the pending notification is done.

    Args:
        user_id: whose pending notification.
        attempt: how many sends of it failed before (sets the backoff).
    Returns:
        the number of devices it was delivered to.
    Raises:
        PushDeliveryFailed: a device's push service failed in a retryable way; the pending
            notification stays, and the retry is already marked as the user's scheduled send.
    """
    client = get_redis()
    # from here on a new record schedules its own send: nothing waits on a send that has started
    redis_keys.send_schedule_release(client, user_id=user_id)
    pending = redis_keys.pending_get(client, user_id=user_id)
    if not pending:
        return 0
    unseen = pending_messages_still_unseen(user_id=user_id, messages=pending)
    user = User.objects.filter(pk=user_id).first()
    devices = _webpush_devices_of_live_logins(user_id=user_id)
    if not unseen or user is None or not devices:
        redis_keys.pending_remove(client, user_id=user_id, messages=pending)
        return 0
    payload = push_payload(user=user, messages=unseen)
    delivered: list[int] = []
    failed: list[int] = []
    # the whole send ends well within the broker's visibility timeout (else the task is handed
    # to a second worker while this one still runs); a device not reached by then is retried
    deadline = (
        time.monotonic() + SEND_BUDGET_SHARE * settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    )
    outcomes = webpush_send_all(devices=devices, payload=payload, deadline=deadline)
    for device in devices:
        outcome = outcomes[device.pk]
        if outcome is WebPushOutcome.DELIVERED:
            delivered.append(device.pk)
        elif outcome is WebPushOutcome.GONE:
            device.delete()
        elif outcome is WebPushOutcome.FAILED:
            failed.append(device.pk)
    if delivered:
        Device.objects.filter(pk__in=delivered).update(last_success_at=timezone.now())
    if failed:
        longest = 0.75 * settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        retry_in = min(longest, RETRY_FIRST_DELAY * 2**attempt)
        # records arriving before the retry join it instead of scheduling another send
        redis_keys.send_schedule_mark(client, user_id=user_id, ttl=int(retry_in) + SCHEDULE_MARGIN)
        raise PushDeliveryFailed(device_ids=failed, retry_in=retry_in)
    redis_keys.pending_remove(client, user_id=user_id, messages=pending)
    return len(delivered)


def device_register(
    *,
    user: User,
    kind: str,
    endpoint: str = "",
    p256dh: str = "",
    auth: str = "",
    token: str = "",
    login_device: str = "",
) -> tuple[Device, bool]:
    """Register a device for pushes; registering it again gives the existing one (its Web Push
    keys refreshed). Beyond `PUSH_DEVICES_PER_USER_MAX` the oldest registrations go.

    Returns:
        (the device, whether it was created).
    """
    if kind == Device.Kind.WEBPUSH:
        lookup = {"user": user, "kind": kind, "endpoint": endpoint}
        values = {"p256dh": p256dh, "auth": auth, "login_device": login_device}
    else:
        lookup = {"user": user, "kind": kind, "token": token}
        values = {"login_device": login_device}
    try:
        with transaction.atomic():
            device, created = Device.objects.get_or_create(**lookup, defaults=values)
    except IntegrityError:  # a concurrent registration of the same device won
        device, created = Device.objects.get(**lookup), False
    if not created and values and any(getattr(device, k) != v for k, v in values.items()):
        Device.objects.filter(pk=device.pk).update(**values)
        device.refresh_from_db()
    if created:
        keep = (
            Device.objects.filter(user=user)
            .order_by("-id")
            .values_list("pk", flat=True)[: settings.PUSH_DEVICES_PER_USER_MAX]
        )
        Device.objects.filter(user=user).exclude(pk__in=list(keep)).delete()
    return device, created


def devices_of_logins_delete(
    *, user_id: int, login_devices: list[str] | None, except_device: str | None
) -> int:
    """Stop push to the registrations made by ended device logins (`login_devices`; None: every
    login of the user but `except_device`); returns how many went."""
    devices = Device.objects.filter(user_id=user_id)
    if login_devices is not None:
        devices = devices.filter(login_device__in=login_devices)
    elif except_device is not None:
        devices = devices.exclude(login_device=except_device)
    deleted, _ = devices.delete()
    return deleted


def devices_of_login_renew(*, user_id: int, old_login_device: str, new_login_device: str) -> int:
    """The registrations made by a login that goes on under a new id (a browser session key a
    password change rotated) now belong to that id; returns how many."""
    return Device.objects.filter(user_id=user_id, login_device=old_login_device).update(
        login_device=new_login_device
    )


def device_delete(*, user: User, device_id: int) -> None:
    """Remove one of the user's push devices; another user's is not found."""
    deleted, _ = Device.objects.filter(user=user, pk=device_id).delete()
    if not deleted:
        raise NotFound("No such device.")
