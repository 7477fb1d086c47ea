"""The bench's idle connections are real device logins within the per-user socket limit, so the
chat servers take them as they take any client's (bench/stack.py)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from django.test import override_settings

from accounts.selectors import device_login_alive
from bench.stack import idle_tickets_issue
from chat.store.redis.tickets import ticket_redeem


@pytest.mark.django_db
def test_idle_tickets_are_device_logins_spread_over_users() -> None:
    """25 idle tickets at 10 sockets per user: three users, each ticket a live device login."""
    with override_settings(CHAT_SOCKETS_PER_USER=10):
        tickets = idle_tickets_issue(0, 25)
    claims = [asyncio.run(ticket_redeem(ticket)) for ticket in tickets]
    assert sorted(Counter(c.user_id for c in claims).values()) == [5, 10, 10]
    assert len({c.device_id for c in claims}) == 25
    assert all(device_login_alive(user_id=c.user_id, device_id=c.device_id) for c in claims)
