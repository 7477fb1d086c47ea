"""Online, away and offline from the devices' own reports: a user is away when every connected
device is idle, online when one is active, and offline at once when the client closes its last
socket cleanly, while a dropped socket waits for the sweep (docs/protocol.md, "Presence")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings

from accounts.models import User
from chatproject.redis_client import get_redis
from presence import redis_keys
from presence.services import presence_sweep
from presence.tests.support import WINDOW, befriend, close_at, connect, heartbeat, next_frame, touch_at

LATER = 10 * WINDOW  # far enough apart that no announcement window coalesces them


def _status(user_id: int) -> str:
    return redis_keys.states(get_redis(), [user_id])[0].status


def _statuses(changes: list[redis_keys.PresenceState]) -> list[str]:
    return [c.status for c in changes]


# ---------------------------------------------------------------- the Redis state machine


async def test_every_device_idle_is_away_and_one_active_is_online() -> None:
    """Idle phone alone: away; an active laptop joins: online; the laptop idle too: away; the
    phone active again: online."""
    assert _statuses(await touch_at(100.0, (1, "phone", "p"), idle=True)) == ["away"]
    assert _statuses(await touch_at(100 + LATER, (1, "laptop", "l"))) == ["online"]
    assert _statuses(await touch_at(100 + 2 * LATER, (1, "laptop", "l"), idle=True)) == ["away"]
    assert _status(1) == "away"
    assert _statuses(await touch_at(100 + 3 * LATER, (1, "phone", "p"))) == ["online"]
    assert _status(1) == "online"


async def test_last_active_at_moves_only_with_active_heartbeats() -> None:
    """An idle device's heartbeats keep it connected but do not make its user active."""
    await touch_at(100.0, (2, "phone", "p"))
    await touch_at(110.0, (2, "phone", "p"), idle=True)
    [state] = redis_keys.states(get_redis(), [2])
    assert (state.status, state.last_active_at) == ("away", 100.0)
    await touch_at(120.0, (2, "phone", "p"))
    assert redis_keys.states(get_redis(), [2])[0].last_active_at == 120.0


async def test_clean_close_of_the_last_socket_is_offline_at_once() -> None:
    """A clean close of one of two sockets changes nothing; of the last one, offline at once, and
    the sweep finds nothing left of it."""
    await touch_at(100.0, (3, "phone", "p"), (3, "laptop", "l"))
    assert await close_at(100 + LATER, 3, "phone", "p") == []
    assert _status(3) == "online"
    [gone] = await close_at(100 + 2 * LATER, 3, "laptop", "l")
    assert (gone.status, gone.last_active_at) == ("offline", 100 + 2 * LATER)  # active until it closed
    assert redis_keys.sweep(get_redis(), now=1e6, offline_after=1, window=WINDOW) == []


async def test_clean_close_of_the_only_active_socket_leaves_the_user_away() -> None:
    """The active laptop closes while the phone is idle: away, not offline."""
    await touch_at(100.0, (4, "phone", "p"), idle=True)
    await touch_at(100 + LATER, (4, "laptop", "l"))
    assert _statuses(await close_at(100 + 2 * LATER, 4, "laptop", "l")) == ["away"]


async def test_sweep_spares_a_socket_that_beat_after_it_was_read() -> None:
    """A socket whose heartbeat landed after the sweep's read is not taken out."""
    await touch_at(100.0, (5, "phone", "p"))
    await touch_at(200.0, (5, "phone", "p"))  # as if between the read and the removal
    keys, args = redis_keys._drop_call(["5|phone|p"], now=200.0, window=WINDOW, cutoff=150.0)
    assert redis_keys._DROP_LUA.run(get_redis(), keys, *args) == []
    assert _status(5) == "online"


# ---------------------------------------------------------------- through the chat consumer


@pytest.fixture
def _no_coalescing(settings: Any) -> None:
    settings.PRESENCE_ANNOUNCE_WINDOW = 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime", "_no_coalescing")
async def test_idle_heartbeats_on_every_device_make_a_friend_see_away(alice: User, bob: User) -> None:
    """Alice's two devices report idle: Bob sees away; one reports active: Bob sees online."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket = await connect(bob)
    phone, laptop = await connect(alice, "phone"), await connect(alice, "laptop")
    assert (await next_frame(bob_socket, "presence"))["status"] == "online"
    await heartbeat(phone, idle=True)
    await heartbeat(laptop, idle=True)
    away = await next_frame(bob_socket, "presence")
    assert (away["user_id"], away["status"]) == (alice.pk, "away")
    await heartbeat(laptop, idle=False)
    assert (await next_frame(bob_socket, "presence"))["status"] == "online"
    await heartbeat(laptop)  # a plain heartbeat is an active one: no change
    await heartbeat(phone, idle=True)
    assert await bob_socket.receive_nothing(timeout=0.3)
    for comm in (phone, laptop, bob_socket):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime", "_no_coalescing")
@pytest.mark.parametrize("code", [1000, 1001, None])
async def test_a_clean_close_is_offline_at_once(alice: User, bob: User, code: int | None) -> None:
    """Close codes 1000, 1001 and none (a browser's close()): Alice is offline at once."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket = await connect(bob)
    alice_socket = await connect(alice)
    assert (await next_frame(bob_socket, "presence"))["status"] == "online"
    await alice_socket.disconnect(code=code)
    offline = await next_frame(bob_socket, "presence")
    assert (offline["user_id"], offline["status"]) == (alice.pk, "offline")
    assert await database_sync_to_async(_status)(alice.pk) == "offline"
    await bob_socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime", "_no_coalescing")
async def test_a_dropped_socket_stays_until_the_sweep(alice: User, bob: User) -> None:
    """Code 1006 (no close frame): Alice stays online until the sweep finds her silent."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket = await connect(bob)
    alice_socket = await connect(alice)
    assert (await next_frame(bob_socket, "presence"))["status"] == "online"
    await alice_socket.disconnect(code=1006)
    assert await bob_socket.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(_status)(alice.pk) == "online"
    await asyncio.sleep(4 * settings.PRESENCE_TOUCH_BATCH_MS / 1000)  # Bob's heartbeat lands first
    await heartbeat(bob_socket)
    with override_settings(PRESENCE_OFFLINE_AFTER=0.2):
        await asyncio.sleep(0.3)
        await heartbeat(bob_socket)  # Bob stays fresh; only Alice's socket is silent
        await asyncio.sleep(4 * settings.PRESENCE_TOUCH_BATCH_MS / 1000)
        await database_sync_to_async(presence_sweep)()
    offline = await next_frame(bob_socket, "presence")
    assert (offline["user_id"], offline["status"]) == (alice.pk, "offline")
    await bob_socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime", "_no_coalescing")
async def test_a_heartbeat_just_before_a_clean_close_does_not_bring_the_socket_back(alice: User) -> None:
    """A heartbeat still waiting in the chat server's batch when the socket closes is not
    recorded after the close."""
    alice_socket = await connect(alice)
    await alice_socket.send_to(text_data='{"type":"heartbeat"}')
    await next_frame(alice_socket, "heartbeat.ack")
    await alice_socket.disconnect(code=1000)
    await asyncio.sleep(4 * settings.PRESENCE_TOUCH_BATCH_MS / 1000)
    assert await database_sync_to_async(_status)(alice.pk) == "offline"
    assert get_redis().zcard("presence:conns") == 0
