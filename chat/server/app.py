"""What a chat server answers (DESIGN.md §3.2): WebSockets on `/ws/chat` behind an Origin check,
and over HTTP only its health check and its metrics (`/metrics`, scraped on the server's own
port: the load balancer forwards only the WebSocket path) — never the REST API or the admin,
which the API servers serve behind the load balancer (with its body limit and its client
addresses)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddleware
from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.urls import path

from chat.server.consumer import ChatConsumer
from chatproject.metrics import CONTENT_TYPE, metrics_text

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

websocket_urlpatterns = [path("ws/chat", ChatConsumer.as_asgi())]

HTTP_PATHS = frozenset({"/healthz"})
METRICS_PATH = "/metrics"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port made explicit; None if it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


class OriginCheck:
    """A browser's `Origin` must be one of CHAT_ALLOWED_ORIGINS, scheme, host and port alike. A
    client that sends none (a mobile app, a bot) is not a browser, cannot be driven cross-site,
    and authenticates with a ticket it must hold itself, so it is let through to authentication."""

    def __init__(self, application: AsgiApp) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = dict(scope.get("headers") or []).get(b"origin")
        if origin is not None and not self.allowed(origin.decode("latin1")):
            denier = WebsocketDenier()
            await denier(scope, receive, send)
            return
        await self.application(scope, receive, send)

    @staticmethod
    def allowed(origin: str) -> bool:
        key = origin_key(origin)
        return key is not None and key in {origin_key(o) for o in settings.CHAT_ALLOWED_ORIGINS}


class ReadOnlySession:
    """The browser's session for a WebSocket, read at connect (who is this?) and never written.

    Channels' SessionMiddleware wraps `send` to save a modified session on HTTP responses; a
    socket never modifies its session, and the wrapper cost a check of the session on every frame
    sent (~5 % of a chat server's CPU for the heartbeats of idle sockets), so this one does not.
    """

    def __init__(self, application: AsgiApp) -> None:
        self.application = application
        self.store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        await self.application({**scope, "session": self.store(key)}, receive, send)


def websocket_application() -> Any:
    return OriginCheck(CookieMiddleware(ReadOnlySession(AuthMiddleware(URLRouter(websocket_urlpatterns)))))


def http_application(django_app: Any) -> AsgiApp:
    """Django for the health check, the metrics (without Django: read from this process's
    registry on the event loop, no I/O), a 404 for every other path."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in HTTP_PATHS:
            await django_app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] in ("GET", "HEAD"):
            await _respond(send, 200, CONTENT_TYPE.encode(), metrics_text())
            return
        body = b'{"error":{"code":"not_found","message":"A chat server serves only WebSockets.","fields":{}}}'
        await _respond(send, 404, b"application/json", body)

    return app


async def _respond(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
