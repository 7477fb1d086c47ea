"""Connect tickets: how a client proves who it is when it opens its WebSocket.

A ticket is 32 random bytes (URL-safe base64) and nothing else: it names no user, device or
server, and no key can forge one. What it stands for — the user and the device login that asked
for it — lives in Redis under a digest of the ticket for CHAT_TICKET_TTL seconds, on every chat
server alike. Redeeming takes the entry (GETDEL), so a ticket works once. A ticket dies with the
device's login: the chat server checks the login still stands when it redeems the ticket
(`accounts.selectors.device_login_alive`), and closes the socket when the login ends later.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import orjson
from django.conf import settings

from chatproject.redis_client import get_async_redis, get_redis

_TICKET = "chat:ticket:{}"  # the ticket's digest
_TICKET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)


class TicketInvalid(Exception):
    """The ticket is unknown, expired, malformed or was used before."""


@dataclass(frozen=True)
class TicketClaims:
    user_id: int
    device_id: str


def _digest(ticket: str) -> str:
    """Redis holds digests, so a copy of its data redeems nothing."""
    return hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user_id: int, device_id: str) -> str:
    """A fresh single-use ticket for `user_id` on `device_id`."""
    ticket = secrets.token_urlsafe(32)
    claims = orjson.dumps({"u": user_id, "d": device_id})
    get_redis().set(_TICKET.format(_digest(ticket)), claims, ex=settings.CHAT_TICKET_TTL)
    return ticket


async def ticket_redeem(ticket: str) -> TicketClaims:
    """Take the ticket's entry (it works once); raises TicketInvalid."""
    if not isinstance(ticket, str) or not _TICKET_RE.match(ticket):
        raise TicketInvalid("malformed ticket")
    raw = await get_async_redis().getdel(_TICKET.format(_digest(ticket)))  # taken: it works once
    if raw is None:
        raise TicketInvalid("unknown, expired or used ticket")
    try:
        data = orjson.loads(raw)
        return TicketClaims(user_id=int(data["u"]), device_id=str(data["d"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TicketInvalid("unreadable ticket entry") from exc
