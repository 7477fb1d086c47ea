"""Connect tickets: how a client proves who it is when it opens its WebSocket.

A ticket is signed with the project's secret (Django's signing, so every chat server accepts it),
names the user and the device, carries a random nonce and its issue time, is valid for
CHAT_TICKET_TTL seconds and is single-use: the first redemption claims the nonce in Redis.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from chat import redis_keys
from chatproject.redis_client import get_async_redis

_SALT = "chat.connect-ticket"


class TicketInvalid(Exception):
    """The ticket is forged, expired, malformed or was used before."""


@dataclass(frozen=True)
class TicketClaims:
    user_id: int
    device_id: str


def ticket_issue(*, user_id: int, device_id: str) -> str:
    """A fresh single-use ticket for `user_id` on `device_id`."""
    return signing.dumps(
        {"u": user_id, "d": device_id, "n": secrets.token_urlsafe(16)}, salt=_SALT, compress=True
    )


async def ticket_redeem(ticket: str) -> TicketClaims:
    """Check the signature and age, then claim the nonce; raises TicketInvalid."""
    if not ticket or len(ticket) > 1024:
        raise TicketInvalid("missing or oversized ticket")
    try:
        data = signing.loads(ticket, salt=_SALT, max_age=settings.CHAT_TICKET_TTL)
        claims = TicketClaims(user_id=int(data["u"]), device_id=str(data["d"]))
        nonce = str(data["n"])
    except signing.SignatureExpired as exc:
        raise TicketInvalid("ticket expired") from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise TicketInvalid("bad ticket") from exc
    # the nonce is remembered a little longer than the ticket lives, so it can never be replayed
    if not await redis_keys.ticket_nonce_claim(get_async_redis(), nonce, ttl=settings.CHAT_TICKET_TTL + 60):
        raise TicketInvalid("ticket already used")
    return claims
