"""Presence on real Redis and through the real chat consumer: heartbeats keep a user online, the
sweep takes silent users offline without scanning everyone, logout takes the last device offline,
and only friends who may see it are told."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from accounts.models import Friendship, User
from chat.server.app import websocket_application
from chatproject.redis_client import get_async_redis, get_redis
from presence import redis_keys
from presence.services import presence_sweep
from tests.tickets import device_ticket_async


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    client = get_redis()
    for pattern in ("presence:*", "chat:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


def _befriend(a: User, b: User) -> None:
    low, high = sorted((a.pk, b.pk))
    Friendship.objects.create(user_low_id=low, user_high_id=high)


# ---------------------------------------------------------------- the Redis state machine


async def test_heartbeats_keep_online_and_silence_takes_offline() -> None:
    """Online on the first heartbeat; offline only when every socket is silent long enough."""
    client = get_async_redis()
    assert await redis_keys.socket_touch(client, user_id=1, device_id="phone", conn_id="c1", now=100.0)
    assert not await redis_keys.socket_touch(client, user_id=1, device_id="laptop", conn_id="c2", now=105.0)
    sync = get_redis()
    assert redis_keys.sweep(sync, now=120.0, offline_after=30) == []
    assert redis_keys.sweep(sync, now=131.0, offline_after=30) == []  # the laptop is still fresh
    [gone] = redis_keys.sweep(sync, now=136.0, offline_after=30)
    assert (gone.user_id, gone.status, gone.last_active_at) == (1, "offline", 105.0)
    assert redis_keys.states(sync, [1, 2]) == [
        redis_keys.PresenceState(user_id=1, status="offline", last_active_at=105.0),
        redis_keys.PresenceState(user_id=2, status="offline", last_active_at=None),
    ]


async def test_sweep_reads_only_expired_sockets() -> None:
    """A sweep touches at most `batch` expired sockets and none of the live ones."""
    client = get_async_redis()
    for user in range(50):
        await redis_keys.socket_touch(client, user_id=user, device_id="d", conn_id="c", now=float(user))
    gone = redis_keys.sweep(get_redis(), now=60.0, offline_after=30, batch=10)
    assert sorted(s.user_id for s in gone) == list(range(10))  # only the oldest batch
    assert {s.status for s in redis_keys.states(get_redis(), range(30, 50))} == {"online"}


async def test_logout_of_the_last_device_is_offline_at_once() -> None:
    """Dropping one of two devices keeps the user online; dropping the last one does not."""
    client = get_async_redis()
    await redis_keys.socket_touch(client, user_id=3, device_id="token:a", conn_id="c1", now=10.0)
    await redis_keys.socket_touch(client, user_id=3, device_id="token:b", conn_id="c2", now=10.0)
    drop = redis_keys.devices_drop
    assert drop(get_redis(), user_id=3, device_ids=["token:a"], except_device=None, now=11.0) == []
    [gone] = drop(get_redis(), user_id=3, device_ids=["token:b"], except_device=None, now=12.0)
    assert (gone.user_id, gone.status) == (3, "offline")


async def test_password_change_drops_every_other_device() -> None:
    """Every device but the one kept is dropped; the user stays online through it."""
    client = get_async_redis()
    for device in ("token:a", "token:b", "session:s"):
        await redis_keys.socket_touch(client, user_id=4, device_id=device, conn_id=f"c-{device}", now=10.0)
    drop = redis_keys.devices_drop
    assert drop(get_redis(), user_id=4, device_ids=None, except_device="token:b", now=11.0) == []
    [gone] = drop(get_redis(), user_id=4, device_ids=["token:b"], except_device=None, now=12.0)
    assert (gone.user_id, gone.status) == (4, "offline")


# ---------------------------------------------------------------- through the chat servers


async def _connect(user: User, device: str = "d") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        websocket_application(), f"/ws/chat?ticket={await device_ticket_async(user, device)}"
    )
    assert (await comm.connect())[0]
    await comm.send_to(text_data='{"type":"heartbeat"}')
    while json.loads(await comm.receive_from(timeout=5))["type"] != "heartbeat.ack":
        pass
    return comm


async def _next(comm: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await comm.receive_from(timeout=5))
        if frame["type"] == kind:
            return frame


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_friends_see_online_and_offline_strangers_see_nothing(
    alice: User, bob: User, carol: User
) -> None:
    """Bob (a friend) is told when Alice comes online and when she goes silent; Carol is not."""
    await database_sync_to_async(_befriend)(alice, bob)
    bob_socket, carol_socket = await _connect(bob), await _connect(carol)
    alice_socket = await _connect(alice)
    online = await _next(bob_socket, "presence")
    assert (online["user_id"], online["status"]) == (alice.pk, "online")
    await alice_socket.disconnect()
    with override_settings(PRESENCE_OFFLINE_AFTER=-1):  # every socket counts as silent now
        await database_sync_to_async(presence_sweep)()
    offline = await _next(bob_socket, "presence")
    assert (offline["user_id"], offline["status"]) == (alice.pk, "offline")
    assert offline["last_active_at"] is not None
    assert await carol_socket.receive_nothing(timeout=0.3)
    for comm in (bob_socket, carol_socket):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_hidden_presence_is_not_announced(alice: User, bob: User) -> None:
    """A user whose presence is visible to nobody is not announced even to friends."""
    await database_sync_to_async(_befriend)(alice, bob)
    await database_sync_to_async(User.objects.filter(pk=alice.pk).update)(presence_visibility="nobody")
    bob_socket = await _connect(bob)
    alice_socket = await _connect(alice)
    assert await bob_socket.receive_nothing(timeout=0.3)
    for comm in (alice_socket, bob_socket):
        await comm.disconnect()


# ---------------------------------------------------------------- REST


@pytest.mark.django_db
def test_rest_presence_shows_friends_only(alice: User, bob: User, carol: User, api_client_for: Any) -> None:
    """GET presence gives my friends' state (and mine); strangers are left out; bad input is 400."""
    _befriend(alice, bob)
    asyncio.run(_touch(bob.pk, "d"))
    api = api_client_for(alice)
    body = api.get("/api/v1/presence", {"user_ids": f"{bob.pk},{carol.pk},{alice.pk}"}).json()
    assert {(p["user_id"], p["status"]) for p in body} == {(bob.pk, "online"), (alice.pk, "offline")}
    assert api.get("/api/v1/presence", {"user_ids": "1,x"}).status_code == 400
    assert api.get("/api/v1/presence").status_code == 400
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/presence", {"user_ids": "1"}).status_code == 401


async def _touch(user_id: int, device_id: str) -> None:
    await redis_keys.socket_touch(
        get_async_redis(), user_id=user_id, device_id=device_id, conn_id="c", now=time.time()
    )


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
    """`sockets_touch` records every socket and says whose user was offline before."""
    client = get_async_redis()
    await redis_keys.socket_touch(client, user_id=5, device_id="d", conn_id="c0", now=1.0)
    came_online = await redis_keys.sockets_touch(
        client, [(5, "d", "c1"), (6, "d", "c2"), (6, "e", "c3")], now=2.0
    )
    assert came_online == [False, True, False]  # user 6's second socket: already online by then
    scores = dict(get_redis().zrange("presence:conns", 0, -1, withscores=True))  # type: ignore[arg-type]
    assert sorted(scores.values()) == [1.0, 2.0, 2.0, 2.0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_chat_runtime")
async def test_a_heartbeat_after_the_sweep_brings_a_user_back_online(alice: User, bob: User) -> None:
    """Heartbeats are recorded in batches a few milliseconds later: a socket the sweep had
    written off is online again after its next heartbeat, and Bob (a friend) is told."""
    await database_sync_to_async(_befriend)(alice, bob)
    bob_socket = await _connect(bob)
    alice_socket = await _connect(alice)
    assert (await _next(bob_socket, "presence"))["status"] == "online"
    # the heartbeat of _connect is recorded a batch later: let that land before the sweep, or it
    # can land inside the sweep and keep Alice online without anyone being told either way
    await asyncio.sleep(4 * settings.PRESENCE_TOUCH_BATCH_MS / 1000)
    with override_settings(PRESENCE_OFFLINE_AFTER=-1):
        await database_sync_to_async(presence_sweep)()
    assert (await _next(bob_socket, "presence"))["status"] == "offline"
    await alice_socket.send_to(text_data='{"type":"heartbeat"}')
    back = await _next(bob_socket, "presence")
    assert (back["user_id"], back["status"]) == (alice.pk, "online")
    [state] = await database_sync_to_async(redis_keys.states)(get_redis(), [alice.pk])
    assert state.status == "online"
    for comm in (alice_socket, bob_socket):
        await comm.disconnect()
