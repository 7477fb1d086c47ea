"""Item 5 (and 1 for tickets): a connect ticket is opaque — random, naming no user, device or
key — single use, and one made up by anyone (even signed with the server's own secret, as tickets
used to be) is refused by a real chat server."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib

import pytest
import websockets

from tests.security.conftest import login, register
from tests.stack import Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def _decodings(ticket: str) -> list[bytes]:
    """Every way a reader might try to decode the ticket or a part of it."""
    out = [ticket.encode()]
    for part in [ticket, *ticket.split(":"), *ticket.split(".")]:
        padded = part + "=" * (-len(part) % 4)
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                out.append(decode(padded))
    return out


async def _close_code(url: str) -> int | None:
    try:
        async with websockets.connect(url) as ws:
            await asyncio.wait_for(ws.recv(), timeout=10)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return None


def test_ticket_reveals_nothing(security_stack: Stack) -> None:
    """A ticket is 43 URL-safe characters; no decoding of it shows the user id, name or device."""
    account = register(security_stack, "opaque")
    device = login(security_stack, account)
    tickets = [device.ticket()[1] for _ in range(3)]
    assert len(set(tickets)) == 3
    for ticket in tickets:
        assert len(ticket) == 43
        assert ticket.replace("-", "").replace("_", "").isalnum()
        for raw in _decodings(ticket):
            text = raw.decode("latin1")
            assert account.username not in text
            assert f'"u":{account.user_id}' not in text
            assert "token:" not in text
        assert b"x\x9c" not in base64.urlsafe_b64decode(ticket + "=")[:2]  # not zlib-compressed JSON


async def test_forged_and_reused_tickets_are_refused(security_stack: Stack, settings: object) -> None:
    """A ticket signed with the server's key in the old format, or with any other key, and a used
    ticket are closed with 4401 by a real chat server; a fresh one connects."""
    from django.core import signing

    account = register(security_stack, "forge")
    device = login(security_stack, account)
    url, ticket = await asyncio.to_thread(device.ticket)
    claims = {"u": account.user_id, "d": "token:x", "n": "nonce"}
    forged = [
        signing.dumps(claims, salt="chat.connect-ticket", compress=True),
        signing.dumps(claims, key="local-dev-only-not-a-secret", salt="chat.connect-ticket", compress=True),
        "A" * 43,
    ]
    for fake in forged:
        assert await _close_code(f"{url}?ticket={fake}") == 4401, fake
    async with websockets.connect(f"{url}?ticket={ticket}") as ws:
        await ws.send('{"type":"heartbeat"}')
        assert "heartbeat.ack" in await asyncio.wait_for(ws.recv(), timeout=10)
    assert await _close_code(f"{url}?ticket={ticket}") == 4401  # used once already
