"""A chat server closes the sockets of clients that stopped reading (4008, docs/protocol.md)."""

from __future__ import annotations

from django.test import override_settings

from chat.protocol import CLOSE_TOO_SLOW
from chat.server.backpressure import slow_sockets_close
from chat.server.runtime import ChatServerRuntime


class FakeSocket:
    """A local connection whose unsent bytes the test sets."""

    def __init__(self, conn_id: str, *, user_id: int, backlog: int) -> None:
        self.conn_id = conn_id
        self.user_id = user_id
        self.device_id = f"device-{conn_id}"
        self.backlog = backlog
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        pass

    async def close_for_drain(self) -> None:
        pass

    async def close_with(self, code: int) -> None:
        self.closed_with = code

    def send_backlog(self) -> int:
        return self.backlog


@override_settings(CHAT_SEND_BACKLOG_MAX=1000)
async def test_only_a_socket_past_the_limit_at_two_checks_in_a_row_is_closed_with_4008() -> None:
    """A burst the client reads (past the limit at one check) keeps its socket; one still past
    it at the next check is closed with 4008 and gets no more deliveries."""
    runtime = ChatServerRuntime()
    reading = FakeSocket("reading", user_id=1, backlog=5000)
    stopped = FakeSocket("stopped", user_id=2, backlog=5000)
    fine = FakeSocket("fine", user_id=3, backlog=1000)
    for sock in (reading, stopped, fine):
        runtime.connections[sock.conn_id] = sock
        runtime.by_user[sock.user_id].add(sock.conn_id)

    over = await slow_sockets_close(runtime, set())
    assert over == {"reading", "stopped"}
    assert [s.closed_with for s in (reading, stopped, fine)] == [None, None, None]

    reading.backlog = 0  # it read its burst
    over = await slow_sockets_close(runtime, over)
    assert [s.closed_with for s in (reading, stopped, fine)] == [None, CLOSE_TOO_SLOW, None]
    assert set(runtime.connections) == {"reading", "fine"}
    assert over == set()
