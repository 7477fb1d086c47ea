"""Item 10 (Origin): a browser page may open a socket only from an allowed origin — scheme, host
and port all compared — against a real chat server."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.security.conftest import login, register
from tests.stack import Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


async def _opens(url: str, origin: str) -> bool:
    try:
        async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            await ws.send('{"type":"heartbeat"}')
            return "heartbeat.ack" in await asyncio.wait_for(ws.recv(), timeout=10)
    except InvalidStatus:
        return False


async def test_only_allowed_origins_open_sockets(security_stack: Stack) -> None:
    """The load balancer's origin connects; another port, another scheme or another host does not."""
    device = login(security_stack, register(security_stack, "origin"))
    lb = security_stack.lb_port
    cases = {
        f"http://127.0.0.1:{lb}": True,
        f"http://localhost:{lb}": True,
        f"http://127.0.0.1:{lb + 1}": False,
        f"https://127.0.0.1:{lb}": False,
        "http://127.0.0.1": False,
        "http://evil.example": False,
        "null": False,
    }
    for origin, allowed in cases.items():
        url, ticket = await asyncio.to_thread(device.ticket)
        assert await _opens(f"{url}?ticket={ticket}", origin) is allowed, origin
