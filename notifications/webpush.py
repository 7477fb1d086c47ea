"""The Web Push sender: one encrypted push (RFC 8291, aes128gcm) signed with VAPID (RFC 8292)
to one browser subscription, through pywebpush.

It answers what became of the push — delivered, gone (the subscription is dead: 404/410, or its
keys cannot be encrypted to), failed (worth retrying: 5xx, 429, network, deadline) or rejected
(another 4xx, a redirect, or an endpoint that may not be contacted: retrying is useless) — and
leaves what to do about it to the caller.

Every push goes through `notifications.transport.PinnedSession` to the address that
`notifications.endpoints` checked, within WEBPUSH_DEADLINE seconds in all. A user's devices are
pushed to at most WEBPUSH_CONCURRENCY_PER_USER at a time, and a worker process sends at most
WEBPUSH_CONCURRENCY pushes at once, so one slow endpoint holds one slot for one deadline, never
the queue.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import requests
from django.conf import settings
from pywebpush import WebPushException, webpush

from notifications.endpoints import EndpointRefused, EndpointUnresolved, endpoint_target
from notifications.models import Device
from notifications.transport import PinnedSession
from notifications.vapid import vapid_private_key, vapid_signer

logger = logging.getLogger(__name__)

# a newer push with the same topic replaces one the push service still holds (RFC 8030 §5.4)
TOPIC = "messages"


class WebPushOutcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    FAILED = "failed"
    REJECTED = "rejected"


@lru_cache(maxsize=4)
def _process_slots(size: int) -> threading.BoundedSemaphore:
    """The pushes this worker process may have in flight at once (WEBPUSH_CONCURRENCY)."""
    return threading.BoundedSemaphore(size)


def webpush_send(*, device: Device, payload: str, deadline: float) -> WebPushOutcome:
    """POST one push to the device's push service, over by `deadline` (time.monotonic())."""
    try:
        target = endpoint_target(device.endpoint)
    except EndpointUnresolved:
        logger.warning("web push to device %s: its host does not resolve", device.pk)
        return WebPushOutcome.FAILED
    except EndpointRefused as exc:
        logger.warning("web push to device %s not sent: %s", device.pk, exc)
        return WebPushOutcome.REJECTED
    remaining = min(deadline, time.monotonic() + settings.WEBPUSH_DEADLINE) - time.monotonic()
    if remaining <= 0:
        return WebPushOutcome.FAILED
    session = PinnedSession(target, deadline=time.monotonic() + remaining)
    try:
        webpush(
            subscription_info={
                "endpoint": device.endpoint,
                "keys": {"p256dh": device.p256dh, "auth": device.auth},
            },
            data=payload,
            vapid_private_key=vapid_signer(),
            # a fresh dict each time: pywebpush writes this endpoint's `aud` and `exp` into it
            vapid_claims={"sub": settings.WEBPUSH_VAPID_SUBJECT},
            ttl=settings.WEBPUSH_TTL,
            timeout=min(settings.WEBPUSH_TIMEOUT, remaining),
            headers={"Topic": TOPIC, "Urgency": "high"},
            requests_session=session,
        )
    except WebPushException as exc:
        outcome = _outcome_of_refusal(device, exc)
    except (requests.RequestException, OSError) as exc:
        logger.warning("web push to device %s failed: %s", device.pk, exc)
        outcome = WebPushOutcome.FAILED
    else:
        outcome = WebPushOutcome.DELIVERED
    finally:
        session.close()
    if session.expired:
        logger.warning("web push to device %s cut off at its deadline", device.pk)
        return WebPushOutcome.FAILED
    return outcome


def _outcome_of_refusal(device: Device, exc: WebPushException) -> WebPushOutcome:
    status = exc.response.status_code if exc.response is not None else None
    if status is None:
        # no request was made: the stored keys are unusable, and will stay so
        logger.warning("web push to device %s not encryptable: %s", device.pk, exc.message)
        return WebPushOutcome.GONE
    if status in (404, 410):
        return WebPushOutcome.GONE
    logger.warning("web push to device %s answered %s", device.pk, status)
    # 429 and 5xx are worth a retry; other 4xx and every 3xx (redirects are not followed) are not
    return WebPushOutcome.FAILED if status == 429 or status >= 500 else WebPushOutcome.REJECTED


def webpush_send_all(
    *, devices: Sequence[Device], payload: str, deadline: float
) -> dict[int, WebPushOutcome]:
    """Push to each device, WEBPUSH_CONCURRENCY_PER_USER at a time, within this process's
    WEBPUSH_CONCURRENCY slots; a device whose turn does not come before `deadline` has FAILED.

    Returns:
        device id → outcome.
    """
    slots = _process_slots(settings.WEBPUSH_CONCURRENCY)
    vapid_private_key()  # loaded (or generated) once, before the threads

    def send(device: Device) -> WebPushOutcome:
        if not slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            return WebPushOutcome.FAILED
        try:
            return webpush_send(device=device, payload=payload, deadline=deadline)
        finally:
            slots.release()

    if len(devices) <= 1:
        return {device.pk: send(device) for device in devices}
    with ThreadPoolExecutor(max_workers=settings.WEBPUSH_CONCURRENCY_PER_USER) as pool:
        return dict(zip((d.pk for d in devices), pool.map(send, devices), strict=True))
