"""ASGI entry point of the chat servers (daphne): `/ws/chat` goes to the chat consumer, HTTP only
to the health check (`chat.server.app`). Under daphne the chat server runtime registers for
discovery when the reactor starts and drains on SIGTERM."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings.local")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs the app registry)

from chat.server.app import http_application, websocket_application  # noqa: E402
from chat.server.runtime import install_daphne_hooks  # noqa: E402

application = ProtocolTypeRouter(
    {"http": http_application(django_asgi_app), "websocket": websocket_application()}
)
install_daphne_hooks()
