"""The chat server's life cycle under daphne: start the runtime with the reactor, drain on SIGTERM
or when an operator asks for it; and what the runtime may see of a socket's Twisted transport (how
much written to it is still unsent, for closing a client that stopped reading)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any

from django.conf import settings

from chat.server.runtime import chat_runtime


def install_daphne_hooks() -> None:
    """Under daphne: start with the reactor; on SIGTERM drain, then stop the reactor.

    SIGTERM is taken over once the reactor runs: daphne's own shutdown trigger cancels every
    application at once, so draining must finish before the reactor is asked to stop.
    """
    if "daphne.server" not in sys.modules:
        return
    from twisted.internet import reactor

    _scope_carries_protocol()
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


# the scope key of the socket's daphne protocol (`_scope_carries_protocol`)
SCOPE_PROTOCOL = "chat.daphne_protocol"


def _scope_carries_protocol() -> None:
    """daphne gives the application a socket's scope, not its transport: put the protocol in the
    scope, so that the chat server can see how much of what it wrote to a socket is still unsent
    (`send_backlog`) and close a client that stopped reading before that grows without end."""
    from daphne.server import Server

    create = Server.create_application
    send_buffer = settings.CHAT_SOCKET_SEND_BUFFER
    if getattr(create, "carries_protocol", False):
        return

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        scope[SCOPE_PROTOCOL] = protocol
        if send_buffer and (sock := getattr(protocol.transport, "socket", None)) is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        return create(self, protocol, scope)

    create_application.carries_protocol = True  # type: ignore[attr-defined]
    Server.create_application = create_application


def send_backlog(scope: dict[str, Any]) -> int:
    """Bytes written to the socket of `scope` that the kernel has not taken yet: Twisted keeps them
    (`FileDescriptor.dataBuffer` from `offset`, and the writes since its last `doWrite`) without a
    bound while the client does not read. 0 outside daphne."""
    transport = getattr(scope.get(SCOPE_PROTOCOL), "transport", None)
    if transport is None:
        return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def close_grace(scope: dict[str, Any], seconds: float) -> None:
    """Give this socket's closing handshake `seconds` (autobahn's default: 1 s) before the
    connection is aborted, which drops what is still unsent: a slow reader that reads again gets
    what was sent to it, then the close frame and its code."""
    protocol = scope.get(SCOPE_PROTOCOL)
    if protocol is not None:
        protocol.closeHandshakeTimeout = seconds
