"""The Web Push sender: one encrypted push (RFC 8291, aes128gcm) signed with VAPID (RFC 8292)
to one browser subscription, through pywebpush.

It answers what became of the push — delivered, gone (the subscription is dead: 404/410, or its
keys cannot be encrypted to), failed (worth retrying: 5xx, 429, network) or rejected (another
4xx: this push will never be taken, so retrying is useless) — and leaves what to do about it to
the caller.
"""

from __future__ import annotations

import enum
import logging

import requests
from django.conf import settings
from pywebpush import WebPushException, webpush

from notifications.models import Device
from notifications.vapid import vapid_signer

logger = logging.getLogger(__name__)

# a newer push with the same topic replaces one the push service still holds (RFC 8030 §5.4)
TOPIC = "messages"


class WebPushOutcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    FAILED = "failed"
    REJECTED = "rejected"


def webpush_send(*, device: Device, payload: str, session: requests.Session) -> WebPushOutcome:
    """POST one push to the device's push service."""
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
            timeout=settings.WEBPUSH_TIMEOUT,
            headers={"Topic": TOPIC, "Urgency": "high"},
            requests_session=session,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is None:
            # no request was made: the stored keys are unusable, and will stay so
            logger.warning("web push to device %s not encryptable: %s", device.pk, exc.message)
            return WebPushOutcome.GONE
        if status in (404, 410):
            return WebPushOutcome.GONE
        logger.warning("web push to device %s answered %s", device.pk, status)
        return WebPushOutcome.FAILED if status == 429 or status >= 500 else WebPushOutcome.REJECTED
    except requests.RequestException as exc:
        logger.warning("web push to device %s failed: %s", device.pk, exc)
        return WebPushOutcome.FAILED
    return WebPushOutcome.DELIVERED
