"""Friends hear of a user's presence at most once per PRESENCE_ANNOUNCE_WINDOW: the first change
after a quiet window at once, later changes of the window as one frame at its end with the state
then, and none if that state is what was announced (docs/protocol.md, "Presence")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from accounts.models import User
from chatproject.redis_client import get_redis
from presence import redis_keys
from presence.services import presence_announce_due
from presence.tests.support import WINDOW, befriend, close_at, connect, next_frame, touch_at


def _due(now: float) -> list[tuple[int, str]]:
    return [(c.user_id, c.status) for c in redis_keys.announce_due(get_redis(), now=now, window=WINDOW)]


async def test_the_first_change_after_a_quiet_window_goes_out_at_once() -> None:
    """Online at 100 is announced at 100; offline well after the window at once too."""
    assert [c.status for c in await touch_at(100.0, (1, "d", "c"))] == ["online"]
    assert [c.status for c in await close_at(100 + 2 * WINDOW, 1, "d", "c")] == ["offline"]
    assert _due(1e6) == []


async def test_flapping_inside_a_window_gives_one_frame_at_its_end() -> None:
    """Online, then offline, online, offline within the window: nothing more until the window
    ends, then one frame with the state at its end."""
    assert [c.status for c in await touch_at(100.0, (2, "d", "c1"))] == ["online"]
    assert await close_at(100.5, 2, "d", "c1") == []
    assert await touch_at(101.0, (2, "d", "c2")) == []
    assert await close_at(101.5, 2, "d", "c2") == []
    assert redis_keys.states(get_redis(), [2])[0].status == "offline"  # the state itself is at once
    assert _due(100 + WINDOW - 0.1) == []
    assert _due(100 + WINDOW) == [(2, "offline")]
    assert _due(1e6) == []


async def test_back_to_what_was_announced_gives_no_frame() -> None:
    """Online announced; offline and online again within the window: no frame at its end; the
    next change after it goes out at once."""
    await touch_at(100.0, (3, "d", "c1"))
    await close_at(101.0, 3, "d", "c1")
    await touch_at(102.0, (3, "d", "c2"))
    assert _due(100 + WINDOW) == []
    assert [c.status for c in await close_at(100 + WINDOW + 1, 3, "d", "c2")] == ["offline"]


async def test_a_frame_at_a_window_end_opens_the_next_window() -> None:
    """After the coalesced frame at 103, a change at 104 waits for 106."""
    await touch_at(100.0, (4, "d", "c1"))
    await close_at(101.0, 4, "d", "c1")
    assert _due(103.0) == [(4, "offline")]
    assert await touch_at(104.0, (4, "d", "c2")) == []
    assert _due(105.9) == []
    assert _due(106.0) == [(4, "online")]


async def test_the_sweep_and_logout_coalesce_the_same_way() -> None:
    """Offline by the sweep or by logout inside a window waits for the window's end."""
    await touch_at(100.0, (5, "d", "c"), (6, "token:a", "c"))
    assert redis_keys.sweep(get_redis(), now=101.0, offline_after=0.5, window=WINDOW) == []
    assert sorted(_due(103.0)) == [(5, "offline"), (6, "offline")]


# ---------------------------------------------------------------- through the chat consumer


SHORT_WINDOW = 1.0


@pytest.fixture
def _short_window(settings: Any) -> None:
    settings.PRESENCE_ANNOUNCE_WINDOW = SHORT_WINDOW


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime", "_short_window")
async def test_a_flapping_connection_reaches_a_friend_once_per_window(alice: User, bob: User) -> None:
    """Alice connects and closes five times within the window: Bob hears `online` at once and
    `offline` once at the window's end, nothing in between."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket = await connect(bob)
    for _ in range(5):
        alice_socket = await connect(alice)
        await alice_socket.disconnect(code=1000)
    online = await next_frame(bob_socket, "presence")
    assert (online["user_id"], online["status"]) == (alice.pk, "online")
    assert await bob_socket.receive_nothing(timeout=0.2)
    await asyncio.sleep(SHORT_WINDOW)
    assert await database_sync_to_async(presence_announce_due)() == 1
    offline = await next_frame(bob_socket, "presence")
    assert (offline["user_id"], offline["status"]) == (alice.pk, "offline")
    assert await bob_socket.receive_nothing(timeout=0.2)
    await bob_socket.disconnect()
