"""ASGI entry point of the chat servers (daphne): `/ws/chat` goes to the chat consumer, HTTP only
to the health check (`chat.server.app`). Under daphne the chat server runtime registers for
discovery when the reactor starts and drains on SIGTERM, and daphne's sweep of its connections runs
with the cyclic GC paused (`daphne_checker_outside_gc`)."""

import functools
import gc
import os
import sys
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings.local")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs the app registry)

from chat.server.app import http_application, websocket_application  # noqa: E402
from chat.server.daphne import install_daphne_hooks  # noqa: E402


def daphne_checker_outside_gc() -> None:
    """Under daphne: its once-a-second sweep of the connections runs with the cyclic GC paused.

    The sweep copies `connections.items()`, one new tuple per socket, and at 10k sockets the
    young collections that 10k allocations set off moved most of them into the oldest
    generation, where they died: the collector ran a full collection of the whole heap (1.2M
    objects, ~1 s of CPU) every 20 s for them. Paused, the tuples are freed by their reference
    counts when the sweep ends, and no collection ever sees them.
    """
    daphne_server = sys.modules.get("daphne.server")
    if daphne_server is None:
        return
    server_class: Any = daphne_server.Server
    sweep = server_class.application_checker
    if getattr(sweep, "outside_gc", False):
        return

    @functools.wraps(sweep)
    def application_checker(self: Any) -> None:
        collecting = gc.isenabled()
        gc.disable()
        try:
            sweep(self)
        finally:
            if collecting:
                gc.enable()

    application_checker.outside_gc = True  # type: ignore[attr-defined]
    server_class.application_checker = application_checker


application = ProtocolTypeRouter(
    {"http": http_application(django_asgi_app), "websocket": websocket_application()}
)
install_daphne_hooks()
daphne_checker_outside_gc()
