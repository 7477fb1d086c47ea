"""Fixtures of the push notification tests: a real local push service, browser-side push
subscriptions with real P-256 keys, and clean per-user notification state in Redis."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chat.models import Conversation, ConversationKind, Membership
from chatproject.redis_client import get_redis
from notifications import redis_keys


@dataclass
class PushRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class LocalPushService:
    """An HTTP server on 127.0.0.1 standing in for a browser vendor's push service: it records
    every push and answers each with the next queued status (201 once the queue is empty)."""

    url: str
    requests: list[PushRequest] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def endpoint(self, name: str) -> str:
        return f"{self.url}/push/{name}"


@pytest.fixture
def push_service() -> Iterator[LocalPushService]:
    service = LocalPushService(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                service.requests.append(
                    PushRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = service.statuses.pop(0) if service.statuses else 201
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class BrowserSubscription:
    """What a browser keeps for one push subscription: the key pair and auth secret it decrypts
    pushes with, and the JSON it hands to the server."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    def as_json(self) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": _b64url(point), "auth": _b64url(self.auth_secret)},
        }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def new_subscription() -> Any:
    def make(endpoint: str) -> BrowserSubscription:
        return BrowserSubscription(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    return make


@pytest.fixture(autouse=True)
def _push_settings(settings: Any, tmp_path: Any) -> None:
    """A local http push service is allowed; the VAPID key pair is the test's own."""
    settings.WEBPUSH_ALLOW_LOCAL_HTTP = True
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_KEY_FILE = tmp_path / "vapid.pem"
    settings.PUSH_COALESCE_SECONDS = 5.0


@pytest.fixture
def clean_notification_state() -> Iterator[list[int]]:
    """Append user ids: their pending notifications are forgotten before and after the test."""
    users: list[int] = []
    client = get_redis()
    yield users
    for user_id in users:
        redis_keys.user_state_discard(client, user_id=user_id)


@pytest.fixture
def group_of(clean_notification_state: list[int]) -> Any:
    """`group_of(*users)`: a group conversation with these members."""

    def make(*users: Any) -> Conversation:
        conversation = Conversation.objects.create(kind=ConversationKind.GROUP, title="group", owner=users[0])
        for user in users:
            Membership.objects.create(conversation=conversation, user=user)
            redis_keys.user_state_discard(get_redis(), user_id=user.pk)
            clean_notification_state.append(user.pk)
        return conversation

    return make
