"""Presence on real Redis and through the real chat consumer: heartbeats keep a user online, the
sweep takes silent users offline without scanning everyone, logout takes the last device offline,
and only friends who may see it are told."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings

from accounts.models import User
from chatproject.redis_client import get_redis
from presence import redis_keys
from presence.services import presence_sweep
from presence.tests.support import WINDOW, befriend, connect, next_frame, touch_at


@pytest.fixture(autouse=True)
def _no_coalescing(settings: Any) -> None:
    """Every change announced at once: these tests pin the states, test_coalescing.py the window."""
    settings.PRESENCE_ANNOUNCE_WINDOW = 0


# ---------------------------------------------------------------- the Redis state machine


async def test_heartbeats_keep_online_and_silence_takes_offline() -> None:
    """Online on the first heartbeat; offline only when every socket is silent long enough."""
    [online] = await touch_at(100.0, (1, "phone", "c1"))
    assert (online.user_id, online.status, online.last_active_at) == (1, "online", 100.0)
    assert await touch_at(105.0, (1, "laptop", "c2")) == []
    sync = get_redis()
    assert redis_keys.sweep(sync, now=120.0, offline_after=30, window=WINDOW) == []
    assert redis_keys.sweep(sync, now=131.0, offline_after=30, window=WINDOW) == []  # the laptop is fresh
    [gone] = redis_keys.sweep(sync, now=136.0, offline_after=30, window=WINDOW)
    assert (gone.user_id, gone.status, gone.last_active_at) == (1, "offline", 105.0)
    assert redis_keys.states(sync, [1, 2]) == [
        redis_keys.PresenceState(user_id=1, status="offline", last_active_at=105.0),
        redis_keys.PresenceState(user_id=2, status="offline", last_active_at=None),
    ]


async def test_sweep_reads_only_expired_sockets() -> None:
    """A sweep touches at most `batch` expired sockets and none of the live ones."""
    for user in range(50):
        await touch_at(float(user), (user, "d", "c"))
    gone = redis_keys.sweep(get_redis(), now=60.0, offline_after=30, window=WINDOW, batch=10)
    assert sorted(s.user_id for s in gone) == list(range(10))  # only the oldest batch
    assert {s.status for s in redis_keys.states(get_redis(), range(30, 50))} == {"online"}


async def test_logout_of_the_last_device_is_offline_at_once() -> None:
    """Dropping one of two devices keeps the user online; dropping the last one does not."""
    await touch_at(10.0, (3, "token:a", "c1"), (3, "token:b", "c2"))
    drop = redis_keys.devices_drop
    assert (
        drop(get_redis(), user_id=3, device_ids=["token:a"], except_device=None, now=20.0, window=WINDOW)
        == []
    )
    [gone] = drop(get_redis(), user_id=3, device_ids=["token:b"], except_device=None, now=21.0, window=WINDOW)
    assert (gone.user_id, gone.status) == (3, "offline")


async def test_password_change_drops_every_other_device() -> None:
    """Every device but the one kept is dropped; the user stays online through it."""
    for device in ("token:a", "token:b", "session:s"):
        await touch_at(10.0, (4, device, f"c-{device}"))
    drop = redis_keys.devices_drop
    assert (
        drop(get_redis(), user_id=4, device_ids=None, except_device="token:b", now=20.0, window=WINDOW) == []
    )
    [gone] = drop(get_redis(), user_id=4, device_ids=["token:b"], except_device=None, now=21.0, window=WINDOW)
    assert (gone.user_id, gone.status) == (4, "offline")


# ---------------------------------------------------------------- through the chat servers


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_friends_see_online_and_offline_strangers_see_nothing(
    alice: User, bob: User, carol: User
) -> None:
    """Bob (a friend) is told when Alice comes online and when she goes silent; Carol is not."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket, carol_socket = await connect(bob), await connect(carol)
    alice_socket = await connect(alice)
    online = await next_frame(bob_socket, "presence")
    assert (online["user_id"], online["status"]) == (alice.pk, "online")
    await alice_socket.disconnect(code=1006)  # dropped, not closed: she stays until the sweep
    with override_settings(PRESENCE_OFFLINE_AFTER=-1):  # every socket counts as silent now
        await database_sync_to_async(presence_sweep)()
    offline = await next_frame(bob_socket, "presence")
    assert (offline["user_id"], offline["status"]) == (alice.pk, "offline")
    assert offline["last_active_at"] is not None
    assert await carol_socket.receive_nothing(timeout=0.3)
    for comm in (bob_socket, carol_socket):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_hidden_presence_is_not_announced(alice: User, bob: User) -> None:
    """A user whose presence is visible to nobody is not announced even to friends."""
    await database_sync_to_async(befriend)(alice, bob)
    await database_sync_to_async(User.objects.filter(pk=alice.pk).update)(presence_visibility="nobody")
    bob_socket = await connect(bob)
    alice_socket = await connect(alice)
    assert await bob_socket.receive_nothing(timeout=0.3)
    for comm in (alice_socket, bob_socket):
        await comm.disconnect()


# ---------------------------------------------------------------- REST


@pytest.mark.django_db
def test_rest_presence_shows_friends_only(alice: User, bob: User, carol: User, api_client_for: Any) -> None:
    """GET presence gives my friends' state (and mine); strangers are left out; bad input is 400."""
    befriend(alice, bob)
    asyncio.run(_touch(bob.pk, "d"))
    api = api_client_for(alice)
    body = api.get("/api/v1/presence", {"user_ids": f"{bob.pk},{carol.pk},{alice.pk}"}).json()
    assert {(p["user_id"], p["status"]) for p in body} == {(bob.pk, "online"), (alice.pk, "offline")}
    assert api.get("/api/v1/presence", {"user_ids": "1,x"}).status_code == 400
    assert api.get("/api/v1/presence").status_code == 400
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/presence", {"user_ids": "1"}).status_code == 401


async def _touch(user_id: int, device_id: str) -> None:
    await touch_at(time.time(), (user_id, device_id, "c"))


@pytest.mark.django_db
def test_logout_takes_the_last_device_offline(alice: User, django_capture_on_commit_callbacks: Any) -> None:
    """Logout through the API makes a user whose only connected device it was offline at once."""
    from rest_framework.test import APIClient

    from accounts.services import device_token_create

    token, raw = device_token_create(user=alice, device_name="phone")
    asyncio.run(_touch(alice.pk, f"token:{token.device_id}"))
    assert redis_keys.states(get_redis(), [alice.pk])[0].status == "online"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/v1/auth/logout").status_code == 204
    assert redis_keys.states(get_redis(), [alice.pk])[0].status == "offline"


async def test_many_sockets_are_touched_in_one_round_trip() -> None:
    """`sockets_touch` records every socket and announces only the users whose status changed."""
    await touch_at(1.0, (5, "d", "c0"))
    changes = await touch_at(2.0, (5, "d", "c1"), (6, "d", "c2"), (6, "e", "c3"))
    assert [(c.user_id, c.status) for c in changes] == [(6, "online")]  # user 5 was online already
    scores = dict(get_redis().zrange("presence:conns", 0, -1, withscores=True))  # type: ignore[arg-type]
    assert sorted(scores.values()) == [1.0, 2.0, 2.0, 2.0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_a_heartbeat_after_the_sweep_brings_a_user_back_online(alice: User, bob: User) -> None:
    """Heartbeats are recorded in batches a few milliseconds later: a socket the sweep had
    written off is online again after its next heartbeat, and Bob (a friend) is told."""
    await database_sync_to_async(befriend)(alice, bob)
    bob_socket = await connect(bob)
    alice_socket = await connect(alice)
    assert (await next_frame(bob_socket, "presence"))["status"] == "online"
    # the heartbeat of _connect is recorded a batch later: let that land before the sweep, or it
    # can land inside the sweep and keep Alice online without anyone being told either way
    await asyncio.sleep(4 * settings.PRESENCE_TOUCH_BATCH_MS / 1000)
    with override_settings(PRESENCE_OFFLINE_AFTER=-1):
        await database_sync_to_async(presence_sweep)()
    assert (await next_frame(bob_socket, "presence"))["status"] == "offline"
    await alice_socket.send_to(text_data='{"type":"heartbeat"}')
    back = await next_frame(bob_socket, "presence")
    assert (back["user_id"], back["status"]) == (alice.pk, "online")
    [state] = await database_sync_to_async(redis_keys.states)(get_redis(), [alice.pk])
    assert state.status == "online"
    for comm in (alice_socket, bob_socket):
        await comm.disconnect()
