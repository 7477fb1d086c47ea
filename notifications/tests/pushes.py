"""Helpers of the push tests that read like the story: a browser subscribes, a message is missed,
and the browser decrypts what its push service got (RFC 8291, aes128gcm)."""

from __future__ import annotations

import json
from typing import Any

import http_ece

from notifications.tasks import notify_offline_members


def push_decrypt(request: Any, subscription: Any) -> dict[str, Any]:
    """Decrypt a recorded push with the browser's keys, and parse its JSON."""
    plain = http_ece.decrypt(
        request.body,
        private_key=subscription.private_key,
        auth_secret=subscription.auth_secret,
        version="aes128gcm",
    )
    return dict(json.loads(plain))


def subscribe(client: Any, subscription: Any) -> int:
    """Register the browser's subscription through the API (as this client's login); its id."""
    response = client.post(
        "/api/v1/devices", {"kind": "webpush", "subscription": subscription.as_json()}, format="json"
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def missed(*pairs: tuple[Any, int, int]) -> None:
    """Route (user, conversation id, message id) to members with no live device, as the sync worker does."""
    by_user: dict[str, list[list[int]]] = {}
    for user, conversation_id, message_id in pairs:
        by_user.setdefault(str(user.pk), []).append([conversation_id, message_id])
    notify_offline_members(messages_by_user=by_user)
