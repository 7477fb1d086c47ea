"""WebSocket routes of the chat servers, and the Origin check in front of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [path("ws/chat", ChatConsumer.as_asgi())]


class ChatOriginValidator(OriginValidator):
    """A browser's `Origin` must be one of ALLOWED_HOSTS (any port); a client that sends none
    (a mobile app, a bot) is not a browser, cannot be driven cross-site, and authenticates with a
    ticket it must hold itself, so it is let through to authentication."""

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def websocket_application() -> Any:
    return ChatOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), settings.ALLOWED_HOSTS)
