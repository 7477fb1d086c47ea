"""Presence across real processes: daphne chat servers behind nginx, the presence worker and beat
(docs/protocol.md, "Presence"). A clean close is offline at once, a dropped connection only after
PRESENCE_OFFLINE_AFTER without a heartbeat, every device idle is away, and a flapping connection
reaches a connected friend at most once per PRESENCE_ANNOUNCE_WINDOW."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
import websockets
from django.db import connection

from accounts.models import User
from accounts.services import friend_request_accept, friend_request_send
from chatproject.redis_client import get_redis
from tests.chat_client import Device
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"
OFFLINE_AFTER = 5.0  # PRESENCE_OFFLINE_AFTER of this stack: short, so a drop is seen soon
WINDOW = 3.0  # PRESENCE_ANNOUNCE_WINDOW (the default)


@pytest.fixture(scope="module")
def stack(django_db_setup: None) -> Iterator[Stack]:
    client = get_redis()  # user ids start again with the new test database: no presence of before
    for key in client.scan_iter("presence:*"):
        client.delete(key)
    with Stack.running(
        "chat-presence-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "PRESENCE_OFFLINE_AFTER": str(OFFLINE_AFTER),
            "PRESENCE_SWEEP_INTERVAL": "1",
            "PRESENCE_ANNOUNCE_WINDOW": str(WINDOW),
            "CHAT_REGISTRY_REFRESH": "1",
        },
    ) as stack:
        yield stack


@pytest.fixture
def friends(alice: User, bob: User) -> None:
    friend_request, _ = friend_request_send(from_user=alice, to_user_id=bob.pk)
    friend_request_accept(user=bob, request_id=friend_request.pk)


def _device(stack: Stack, user: User, name: str) -> Device:
    return Device.login(api=stack.api, username=user.username, password=PASSWORD, name=name)


@contextlib.asynccontextmanager
async def _online(stack: Stack, user: User, name: str, *, index: int = 0) -> AsyncIterator[Device]:
    device = _device(stack, user, name)
    await device.connect(stack.chat_url(index))
    try:
        yield device
    finally:
        with contextlib.suppress(Exception):
            await device.close()


def _presence_of(stack: Stack, viewer: Device, user_id: int) -> dict[str, Any]:
    status, body = api_call(stack.api, "GET", f"presence?user_ids={user_id}", token=viewer.token)
    assert status == 200, body
    [state] = body
    return dict(state)


async def _wait_presence(
    stack: Stack, viewer: Device, user_id: int, status: str, wait: float
) -> dict[str, Any]:
    """GET presence until it says `status` (or fail after `wait` seconds)."""
    async with asyncio.timeout(wait):
        # polls the REST API, which has no event to wait on
        while (state := await asyncio.to_thread(_presence_of, stack, viewer, user_id))["status"] != status:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return state


async def _frames_about(device: Device, user_id: int, *, until: str, wait: float) -> list[str]:
    """The statuses of the `presence` frames about `user_id`, up to the first saying `until`."""
    statuses: list[str] = []
    async with asyncio.timeout(wait):
        while not statuses or statuses[-1] != until:
            frame = await device.next_frame("presence", wait=wait)
            if frame["user_id"] == user_id:
                statuses.append(frame["status"])
    return statuses


async def _frames_during(device: Device, user_id: int, seconds: float) -> list[str]:
    """The statuses of the `presence` frames about `user_id` that arrive within `seconds`."""
    statuses: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frame = await device.next_frame("presence", wait=seconds + 1)
                if frame["user_id"] == user_id:
                    statuses.append(frame["status"])
    return statuses


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def _beat(device: Device, *, idle: bool) -> None:
    assert device.ws is not None
    await device.ws.send(json.dumps({"type": "heartbeat", "idle": idle}))


async def test_a_clean_close_is_offline_at_once(stack: Stack, alice: User, bob: User, friends: None) -> None:
    """Alice's only device closes its socket (code 1000): she is offline without waiting for the
    sweep: her last active time is the close, not her last heartbeat, and Bob is told."""
    async with _online(stack, bob, "b1") as b1:
        a1 = _device(stack, alice, "a1")
        await a1.connect(stack.chat_url(0))
        assert await _frames_about(b1, alice.pk, until="online", wait=10) == ["online"]
        connected_at = _epoch(_presence_of(stack, b1, alice.pk)["last_active_at"])
        await asyncio.sleep(1.5)  # a close clearly later than her last heartbeat
        await a1.close()
        state = await _wait_presence(stack, b1, alice.pk, "offline", wait=OFFLINE_AFTER + 10)
        assert _epoch(state["last_active_at"]) >= connected_at + 1.5
        assert (await _frames_about(b1, alice.pk, until="offline", wait=WINDOW + 10))[-1] == "offline"


async def test_a_dropped_connection_is_offline_after_the_timeout(
    stack: Stack, alice: User, bob: User, friends: None
) -> None:
    """Alice's TCP connection is reset with no close frame: she stays online until
    PRESENCE_OFFLINE_AFTER seconds have passed since her last heartbeat, then Bob is told."""
    async with _online(stack, bob, "b1") as b1:
        a1 = _device(stack, alice, "a1")
        await a1.connect(stack.chat_url(1))
        assert await _frames_about(b1, alice.pk, until="online", wait=10) == ["online"]
        await asyncio.sleep(0.5)  # the connect's heartbeat, recorded with its batch
        last_beat = _epoch(_presence_of(stack, b1, alice.pk)["last_active_at"])
        assert a1.ws is not None
        sock = a1.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        a1.ws.transport.abort()
        assert _presence_of(stack, b1, alice.pk)["status"] == "online"
        assert await _frames_about(b1, alice.pk, until="offline", wait=OFFLINE_AFTER + WINDOW + 10) == [
            "offline"
        ]
        assert time.time() >= last_beat + OFFLINE_AFTER
        # her last active time is her last heartbeat, not the moment the sweep found her silent
        assert _epoch(_presence_of(stack, b1, alice.pk)["last_active_at"]) < last_beat + 1


async def test_every_device_idle_is_away(stack: Stack, alice: User, bob: User, friends: None) -> None:
    """Alice's phone and laptop both say idle: Bob is told she is away and GET presence says so;
    one of them active again: online."""
    async with (
        _online(stack, bob, "b1") as b1,
        _online(stack, alice, "phone", index=0) as phone,
        _online(stack, alice, "laptop", index=1) as laptop,
    ):
        assert await _frames_about(b1, alice.pk, until="online", wait=10) == ["online"]

        async def keep_idle() -> None:  # heartbeats keep the sockets from the sweep meanwhile
            while True:
                await _beat(phone, idle=True)
                await _beat(laptop, idle=True)
                await asyncio.sleep(1)

        beating = asyncio.create_task(keep_idle())
        try:
            assert await _frames_about(b1, alice.pk, until="away", wait=WINDOW + 10) == ["away"]
            assert _presence_of(stack, b1, alice.pk)["status"] == "away"
        finally:
            beating.cancel()
        await _beat(laptop, idle=False)
        assert await _frames_about(b1, alice.pk, until="online", wait=WINDOW + 10) == ["online"]
        assert _presence_of(stack, b1, alice.pk)["status"] == "online"


async def test_a_flapping_connection_reaches_a_friend_at_most_once_per_window(
    stack: Stack, alice: User, bob: User, friends: None
) -> None:
    """Alice connects and closes cleanly five times in a row: Bob hears `online` at once, then
    `offline` at the window's end, and no more than one frame per window in all."""
    async with _online(stack, bob, "b1") as b1:
        a1 = _device(stack, alice, "a1")
        tickets = [await asyncio.to_thread(a1.ticket) for _ in range(5)]  # ready before the clock starts
        started = time.monotonic()
        for url, ticket in tickets:
            async with websockets.connect(f"{url}?ticket={ticket}") as ws:
                await ws.send('{"type":"heartbeat"}')
                assert json.loads(await ws.recv())["type"] == "heartbeat.ack"
        elapsed = time.monotonic() - started
        statuses = await _frames_about(b1, alice.pk, until="offline", wait=elapsed + 2 * WINDOW + 10)
        assert statuses[0] == "online"
        assert len(statuses) <= 1 + math.ceil(elapsed / WINDOW)  # at most one per window after the first
        assert await _frames_during(b1, alice.pk, WINDOW + 1) == []  # nothing after she settled
        assert _presence_of(stack, b1, alice.pk)["status"] == "offline"
