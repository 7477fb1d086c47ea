"""Helpers of the presence tests: friendships, sockets on the in-process chat server, and
heartbeats recorded straight in Redis at a chosen time."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from accounts.models import Friendship, User
from chat.server.app import websocket_application
from chatproject.redis_client import get_async_redis
from presence import redis_keys
from tests.tickets import device_ticket_async

WINDOW = 3.0  # seconds between announcements of one user (PRESENCE_ANNOUNCE_WINDOW)


def befriend(a: User, b: User) -> None:
    low, high = sorted((a.pk, b.pk))
    Friendship.objects.create(user_low_id=low, user_high_id=high)


async def touch_at(
    now: float, *sockets: tuple[int, str, str], idle: bool = False
) -> list[redis_keys.PresenceState]:
    """Heartbeats of `sockets` (user, device, connection) at `now`; returns the changes announced."""
    beats = [(user, device, conn, idle) for user, device, conn in sockets]
    return await redis_keys.sockets_touch(get_async_redis(), beats, now=now, window=WINDOW)


async def close_at(now: float, user: int, device: str, conn: str) -> list[redis_keys.PresenceState]:
    """A clean close of one socket at `now`; returns the changes announced."""
    return await redis_keys.socket_close(
        get_async_redis(), user_id=user, device_id=device, conn_id=conn, now=now, window=WINDOW
    )


async def connect(user: User, device: str = "d") -> WebsocketCommunicator:
    """A socket of a new device login of `user`, past its first heartbeat."""
    comm = WebsocketCommunicator(
        websocket_application(), f"/ws/chat?ticket={await device_ticket_async(user, device)}"
    )
    assert (await comm.connect())[0]
    await heartbeat(comm)
    return comm


async def heartbeat(comm: WebsocketCommunicator, idle: bool | None = None) -> None:
    """A heartbeat frame (with `idle` when given), once acknowledged."""
    frame: dict[str, Any] = {"type": "heartbeat"} if idle is None else {"type": "heartbeat", "idle": idle}
    await comm.send_to(text_data=json.dumps(frame))
    await next_frame(comm, "heartbeat.ack")


async def next_frame(comm: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await comm.receive_from(timeout=5))
        if frame["type"] == kind:
            return frame
