"""The chat server's life cycle under daphne: start the runtime with the reactor, drain on SIGTERM
or when an operator asks for it."""

from __future__ import annotations

import asyncio
import signal
import sys

from chat.server.runtime import chat_runtime


def install_daphne_hooks() -> None:
    """Under daphne: start with the reactor; on SIGTERM drain, then stop the reactor.

    SIGTERM is taken over once the reactor runs: daphne's own shutdown trigger cancels every
    application at once, so draining must finish before the reactor is asked to stop.
    """
    if "daphne.server" not in sys.modules:
        return
    from twisted.internet import reactor

    tasks: list[asyncio.Future[None]] = []  # keeps references to the background tasks
    draining: list[bool] = []

    async def _drain_then_stop() -> None:
        try:
            await chat_runtime().drain()
        finally:
            reactor.stop()  # type: ignore[misc]

    def _begin_drain() -> None:
        tasks.append(asyncio.ensure_future(_drain_then_stop()))

    def _on_sigterm(signum: int, frame: object) -> None:
        if not draining:  # a second SIGTERM does not start a second drain
            draining.append(True)
            asyncio.get_event_loop().call_soon_threadsafe(_begin_drain)

    def _start() -> None:
        signal.signal(signal.SIGTERM, _on_sigterm)
        # an operator's drain (the admin) is a SIGTERM that came through Redis
        chat_runtime().on_drain_request = lambda: _on_sigterm(signal.SIGTERM, None)
        tasks.append(asyncio.ensure_future(chat_runtime().ensure_started()))

    reactor.callWhenRunning(_start)
