"""Item 6: a Web Push endpoint never makes the server contact an internal address. Registration
refuses endpoints that are not https or resolve to loopback, private, link-local, metadata and
other non-public addresses; at send time the endpoint is checked again and the connection goes
to the address that was checked (DNS rebinding); redirects are not followed; a push has a total
deadline and one slow push service does not hold a user's other devices. Every listener here is
on 127.0.0.0/8: nothing leaves the machine."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chatproject.redis_client import get_redis
from notifications import endpoints, redis_keys
from notifications.exceptions import PushDeliveryFailed
from notifications.models import Device
from notifications.services import pending_notification_send

pytestmark = pytest.mark.django_db


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _keys() -> dict[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": _b64url(point), "auth": _b64url(os.urandom(16))}


class Listener:
    """A TCP listener on a loopback address that counts the connections it accepts and closes
    them: any connection at all is the server reaching where it must not."""

    def __init__(self, host: str = "127.0.0.1", family: int = socket.AF_INET, port: int = 0) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Callable[..., Listener]]:
    opened: list[Listener] = []

    def make(host: str = "127.0.0.1", family: int = socket.AF_INET, port: int = 0) -> Listener:
        opened.append(Listener(host, family, port))
        return opened[-1]

    yield make
    for item in opened:
        item.close()


def _http_server(handle: Callable[[BaseHTTPRequestHandler], None]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            handle(self)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def push_settings(settings: Any, tmp_path: Any) -> Any:
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_KEY_FILE = tmp_path / "vapid.pem"
    settings.WEBPUSH_ALLOW_LOCAL_HTTP = True  # the local test origin http://127.0.0.1:<port> only
    return settings


@pytest.fixture
def pending_for() -> Iterator[Callable[[Any], None]]:
    """`pending_for(user)`: the user has a missed message waiting to be pushed."""
    users: list[int] = []
    client = get_redis()

    def make(user: Any) -> None:
        users.append(user.pk)
        redis_keys.user_state_discard(client, user_id=user.pk)
        redis_keys.pending_add(client, user_id=user.pk, conversation_id=1, message_id=7_000_000_001, ttl=600)

    yield make
    for user_id in users:
        redis_keys.user_state_discard(client, user_id=user_id)


def _resolver(*answers: list[str]) -> tuple[Callable[[str, int], list[str]], list[str]]:
    """A stand-in resolver giving each answer in turn (the last one again after that)."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


def _register(client: Any, endpoint: str) -> Any:
    return client.post(
        "/api/v1/devices",
        {"kind": "webpush", "subscription": {"endpoint": endpoint, "keys": _keys()}},
        format="json",
    )


_real_resolve = endpoints._resolve


def _resolve_rebind_names(monkeypatch: Any, resolve: Callable[[str, int], list[str]]) -> None:
    """Names under rebind.test resolve as `resolve` says; the others as usual."""
    monkeypatch.setattr(
        endpoints,
        "_resolve",
        lambda host, port: resolve(host, port) if host.endswith("rebind.test") else _real_resolve(host, port),
    )


def test_registration_refuses_internal_endpoints(
    alice: Any, api_client_for: Any, push_settings: Any, listener: Any, monkeypatch: Any
) -> None:
    """https://127.0.0.1, 10.0.0.1, [::1], localhost, metadata addresses (IPv4, IPv6, NAT64,
    IPv4-mapped), a name resolving to loopback, plain http: 400 naming the endpoint field, and
    nobody is contacted. A public https endpoint still registers."""
    local = listener()
    client = api_client_for(alice)
    refused = [
        f"https://127.0.0.1:{local.port}/push",
        "https://10.0.0.1/push",
        "https://172.16.5.4/push",
        "https://192.168.1.1/push",
        f"https://[::1]:{local.port}/push",
        f"https://localhost:{local.port}/push",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/latest",
        "https://[::ffff:127.0.0.1]/push",
        "https://[::ffff:169.254.169.254]/push",
        "https://[64:ff9b::a9fe:a9fe]/push",
        "https://[fe80::1]/push",
        "https://0.0.0.0/push",
        "https://224.0.0.1/push",
        "https://100.64.0.1/push",
        "https://internal.rebind.test/push",
        "http://push.example.com/push",
        f"http://localhost:{local.port}/push",
    ]
    resolve, _ = _resolver(["127.0.0.1"])
    _resolve_rebind_names(monkeypatch, resolve)
    for endpoint in refused:
        response = _register(client, endpoint)
        assert response.status_code == 400, endpoint
        assert "subscription.endpoint" in response.json()["error"]["fields"], endpoint
    assert local.connections == 0
    assert not Device.objects.filter(user=alice).exists()
    public, _ = _resolver(["8.8.8.8"])
    monkeypatch.setattr(endpoints, "_resolve", public)
    assert _register(client, "https://push.public.test/send/1").status_code == 201


def test_stored_endpoint_resolving_internally_is_not_contacted_at_send_time(
    alice: Any, push_settings: Any, listener: Any, pending_for: Any, monkeypatch: Any
) -> None:
    """Devices stored before (or around) the check whose endpoints now lead to loopback: the
    send contacts none of them, and does not retry them."""
    local = listener()
    stored = [
        f"https://127.0.0.1:{local.port}/push",
        f"https://localhost:{local.port}/push",
        f"https://rebound.rebind.test:{local.port}/push",
        f"https://[::ffff:127.0.0.1]:{local.port}/push",
    ]
    if socket.has_ipv6:
        try:
            local6 = listener("::1", socket.AF_INET6)
            stored.append(f"https://[::1]:{local6.port}/push")
        except OSError:
            local6 = None
    resolve, _ = _resolver(["127.0.0.1"])
    _resolve_rebind_names(monkeypatch, resolve)
    for endpoint in stored:
        Device.objects.create(user=alice, kind=Device.Kind.WEBPUSH, endpoint=endpoint, **_keys())
    pending_for(alice)
    assert pending_notification_send(user_id=alice.pk) == 0  # nothing delivered, nothing to retry
    assert local.connections == 0
    if socket.has_ipv6 and local6 is not None:
        assert local6.connections == 0


def test_the_connection_goes_to_the_address_that_was_checked(
    alice: Any, push_settings: Any, listener: Any, pending_for: Any, monkeypatch: Any
) -> None:
    """DNS rebinding: the name resolves to an address taken as public for the check, then to
    another; the push connects to the checked one and never resolves the name again."""
    checked = listener("127.0.0.2")
    port = checked.port
    rebound = listener("127.0.0.3", port=port)
    resolve, asked = _resolver(["127.0.0.2"], ["127.0.0.3"])
    monkeypatch.setattr(endpoints, "_resolve", resolve)
    # for this test only, 127.0.0.2 stands for a public address (nothing may leave the machine)
    monkeypatch.setattr(endpoints, "address_is_public", lambda address: str(address) == "127.0.0.2")
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert "rebind" not in str(host), "the push resolved the name again"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    Device.objects.create(
        user=alice, kind=Device.Kind.WEBPUSH, endpoint=f"https://push.rebind.test:{port}/push", **_keys()
    )
    pending_for(alice)
    with pytest.raises(PushDeliveryFailed):  # no TLS on the listener: a failure, retried later
        pending_notification_send(user_id=alice.pk)
    assert asked == ["push.rebind.test"]
    assert checked.connections == 1
    assert rebound.connections == 0


def test_redirects_are_not_followed(
    alice: Any, api_client_for: Any, push_settings: Any, listener: Any, pending_for: Any
) -> None:
    """The push service (the allowed local test origin) answers 302 to an internal address: the
    redirect is not followed, the target gets nothing, and the device is not retried."""
    target = listener()
    hits: list[str] = []

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        hits.append(handler.path)
        handler.send_response(302)
        handler.send_header("Location", f"http://127.0.0.1:{target.port}/steal")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server, origin = _http_server(redirect)
    try:
        assert _register(api_client_for(alice), f"{origin}/push/alice").status_code == 201
        pending_for(alice)
        assert pending_notification_send(user_id=alice.pk) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["/push/alice"]
    assert target.connections == 0


def test_a_push_has_a_total_deadline(alice: Any, push_settings: Any, pending_for: Any) -> None:
    """A push service that sends its answer one byte every 0.2 s (never idle for a read timeout)
    is cut off at WEBPUSH_DEADLINE: the push failed (retried later), the service saw the server
    hang up before it finished its 30 s answer."""
    push_settings.WEBPUSH_DEADLINE = 1.0
    push_settings.WEBPUSH_TIMEOUT = 5.0
    seen: dict[str, bool] = {}

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(b"HTTP/1.1 201 Created\r\nContent-Length: 150\r\n\r\n")
            for _ in range(150):
                handler.wfile.write(b".")
                handler.wfile.flush()
                time.sleep(0.2)
            seen["finished"] = True
        except OSError:
            seen["client_gone"] = True
        handler.close_connection = True

    server, origin = _http_server(trickle)
    try:
        Device.objects.create(user=alice, kind=Device.Kind.WEBPUSH, endpoint=f"{origin}/push/slow", **_keys())
        pending_for(alice)
        with pytest.raises(PushDeliveryFailed):
            pending_notification_send(user_id=alice.pk)
        for _ in range(100):  # the service notices the hang-up at its next write
            if seen:
                break
            time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == {"client_gone": True}


def test_a_slow_push_service_does_not_hold_the_users_other_devices(
    alice: Any, push_settings: Any, pending_for: Any
) -> None:
    """Two devices: the first one's service holds its answer; the second one's push arrives while
    the first is still held (they are sent concurrently), and both end delivered."""
    push_settings.WEBPUSH_DEADLINE = 20.0
    fast_arrived = threading.Event()
    held: dict[str, bool] = {}

    def slow(handler: BaseHTTPRequestHandler) -> None:
        held["fast_arrived_while_held"] = fast_arrived.wait(timeout=15)
        handler.send_response(201)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def fast(handler: BaseHTTPRequestHandler) -> None:
        fast_arrived.set()
        handler.send_response(201)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    slow_server, slow_origin = _http_server(slow)
    fast_server, fast_origin = _http_server(fast)
    try:
        Device.objects.create(
            user=alice, kind=Device.Kind.WEBPUSH, endpoint=f"{slow_origin}/push/1", **_keys()
        )
        Device.objects.create(
            user=alice, kind=Device.Kind.WEBPUSH, endpoint=f"{fast_origin}/push/2", **_keys()
        )
        pending_for(alice)
        assert pending_notification_send(user_id=alice.pk) == 2
    finally:
        for server in (slow_server, fast_server):
            server.shutdown()
            server.server_close()
    assert held == {"fast_arrived_while_held": True}


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),
        ("fd00:ec2::254", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("ff02::1", False),
        ("fec0::1", False),
        ("::", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
    ],
)
def test_public_address_rules(address: str, public: bool) -> None:
    """Which resolved addresses count as public, IPv4 inside IPv6 judged as IPv4."""
    import ipaddress

    assert endpoints.address_is_public(ipaddress.ip_address(address)) is public
