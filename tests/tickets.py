"""Connect tickets for tests: a real device login (a bearer token of the user) and a ticket for it,
as `POST auth/login` or `GET chat/server` would give."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async


def device_ticket(user: Any, name: str = "test device") -> str:
    """A fresh ticket for a new device login of `user`."""
    from accounts.services import device_token_create
    from chat.store.redis.tickets import ticket_issue

    token, _raw = device_token_create(user=user, device_name=name)
    return ticket_issue(user_id=user.pk, device_id=f"token:{token.device_id}")


async def device_ticket_async(user: Any, name: str = "test device") -> str:
    return str(await database_sync_to_async(device_ticket)(user, name))
