"""How a chat server keeps itself responsive and bounded: it measures how late its event loop
runs, refuses sends (`overloaded`) while the loop is behind or its sending window is full, and
closes the sockets of clients that stopped reading.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from django.conf import settings

from chat.domain.errors import Overloaded
from chat.protocol import CLOSE_TOO_SLOW
from chat.server.metrics import counts
from chat.server.sending import overloaded

if TYPE_CHECKING:
    from chat.server.runtime import ChatServerRuntime

log = logging.getLogger(__name__)

LAG_PROBE_SECONDS = 0.05
SLOW_CHECK_SECONDS = 1.0  # how often the sockets' unsent bytes are looked at (`slow_sockets_loop`)


async def lag_loop(runtime: ChatServerRuntime) -> None:
    """Measure how late the event loop runs a timer, every LAG_PROBE_SECONDS; `loop_lag_ms` is
    the smaller of the last two, so one pause (a garbage collection) does not count, a backlog
    that keeps the loop behind does."""
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        due = loop.time() + LAG_PROBE_SECONDS
        await asyncio.sleep(LAG_PROBE_SECONDS)
        lag = max(0.0, (loop.time() - due) * 1000)
        runtime.loop_lag_ms, last = min(lag, last), lag


def send_admit(runtime: ChatServerRuntime) -> None:
    """Raise Overloaded while this chat server sheds sends: its event loop runs what is due
    CHAT_SHED_LAG_MS late or more (frames read from the sockets wait behind each other), or
    its sending window's backlog is past its bounds (`SendBatcher.admit`)."""
    try:
        if runtime.loop_lag_ms >= settings.CHAT_SHED_LAG_MS:
            raise overloaded(behind_ms=runtime.loop_lag_ms)
        runtime.batcher.admit()
    except Overloaded:
        if not runtime.shedding:
            runtime.shedding = True
            log.warning(
                "chat server %s sheds sends (event loop %.0f ms late, %d sends waiting)",
                runtime.server_id,
                runtime.loop_lag_ms,
                runtime.batcher.waiting,
            )
        raise
    if runtime.shedding:
        runtime.shedding = False
        log.warning("chat server %s takes sends again", runtime.server_id)


async def slow_sockets_loop(runtime: ChatServerRuntime) -> None:
    """Close the sockets whose clients stopped reading (4008, docs/protocol.md).

    Writing to a socket never waits (Twisted buffers what the kernel does not take), so a slow
    client delays nobody, but its buffer, and this process, would grow without end. Once a
    second, off the delivery path, every socket's unsent bytes are read; one past
    CHAT_SEND_BACKLOG_MAX at two checks in a row is closed (a client that reads drains a burst,
    a large sync answer say, before the next check). So a socket holds at most the limit plus
    about two seconds of what is sent to it, until its close's grace (CHAT_SLOW_CLOSE_GRACE)
    ends and the connection is aborted with what it still holds.
    """
    over: set[str] = set()
    while True:
        await asyncio.sleep(SLOW_CHECK_SECONDS)
        try:
            over = await slow_sockets_close(runtime, over)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("chat server %s: slow socket check failed", runtime.server_id, exc_info=True)


async def slow_sockets_close(runtime: ChatServerRuntime, over: set[str]) -> set[str]:
    """One check of `slow_sockets_loop`: close the sockets past the limit now and at the check
    before (`over`); returns those past it now and left open."""
    limit = settings.CHAT_SEND_BACKLOG_MAX
    now = {conn_id for conn_id, conn in runtime.connections.items() if conn.send_backlog() > limit}
    for conn_id in now & over:
        if (conn := runtime.connections.get(conn_id)) is not None:
            log.warning(
                "closing socket %s of user %s: %d bytes unsent, its client is not reading",
                conn_id,
                conn.user_id,
                conn.send_backlog(),
            )
            counts.slow_closes += 1
            await runtime.close(conn, CLOSE_TOO_SLOW)
    return now - over
