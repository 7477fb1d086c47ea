"""Presence (design note §4.4): online while a heartbeat arrives at least every
PRESENCE_OFFLINE_AFTER seconds on some socket of the user; offline after that much silence, or at
once when the user's last device logs out. Changes go only to the user's friends who may see them
(accounts.selectors.presence_watcher_ids) and are connected."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.selectors import presence_watcher_ids
from chat.fanout import publish_to_users, publish_to_users_async
from chatproject.redis_client import get_async_redis, get_redis
from presence import redis_keys
from presence.redis_keys import PresenceState

log = logging.getLogger(__name__)


def presence_frame(state: PresenceState) -> dict[str, object]:
    last = state.last_active_at
    return {
        "type": "presence",
        "user_id": state.user_id,
        "status": state.status,
        "last_active_at": datetime.fromtimestamp(last, tz=UTC).isoformat().replace("+00:00", "Z")
        if last
        else None,
    }


async def presence_heartbeat(*, user_id: int, device_id: str, conn_id: str) -> None:
    """A socket of the user is alive (it connected): recorded now, and the user's watchers hear
    of it if the user was offline."""
    now = time.time()
    came_online = await redis_keys.socket_touch(
        get_async_redis(), user_id=user_id, device_id=device_id, conn_id=conn_id, now=now
    )
    if came_online:
        await _announce_online(user_id, now)


async def _announce_online(user_id: int, now: float) -> None:
    watchers = await database_sync_to_async(presence_watcher_ids)(user_id=user_id)
    state = PresenceState(user_id=user_id, status=redis_keys.ONLINE, last_active_at=now)
    await publish_to_users_async(user_ids=watchers, frame=presence_frame(state))


class _HeartbeatBatch:
    """The heartbeats a chat server received in the last PRESENCE_TOUCH_BATCH_MS, recorded in
    Redis together: one round trip for all of them instead of one per heartbeat. A delay of
    milliseconds against an offline threshold of PRESENCE_OFFLINE_AFTER seconds changes nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[str, tuple[int, str, str]] = {}  # by connection: one entry per socket
        self.flushing: set[asyncio.Task[None]] = set()

    def add(self, user_id: int, device_id: str, conn_id: str) -> None:
        if not self.sockets:
            self.loop.call_later(settings.PRESENCE_TOUCH_BATCH_MS / 1000, self._flush)
        self.sockets[conn_id] = (user_id, device_id, conn_id)

    def _flush(self) -> None:
        sockets, self.sockets = list(self.sockets.values()), {}
        task = self.loop.create_task(self._write(sockets))
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def _write(self, sockets: list[tuple[int, str, str]]) -> None:
        now = time.time()
        try:
            came_online = await redis_keys.sockets_touch(get_async_redis(), sockets, now=now)
            for user_id in {s[0] for s, online in zip(sockets, came_online, strict=True) if online}:
                await _announce_online(user_id, now)
        except Exception:  # the next heartbeat of each socket tries again
            log.warning("recording %d heartbeats failed", len(sockets), exc_info=True)


_batches: dict[asyncio.AbstractEventLoop, _HeartbeatBatch] = {}


def presence_heartbeat_soon(*, user_id: int, device_id: str, conn_id: str) -> None:
    """A heartbeat on a socket: recorded with the others of the next few milliseconds."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        _batches.clear()  # one event loop per chat server (tests make new ones)
        batch = _batches[loop] = _HeartbeatBatch(loop)
    batch.add(user_id, device_id, conn_id)


def _announce(states: list[PresenceState]) -> None:
    for state in states:
        publish_to_users(user_ids=presence_watcher_ids(user_id=state.user_id), frame=presence_frame(state))


def presence_sweep() -> int:
    """Take offline the users whose every socket has been silent too long; returns how many."""
    gone = redis_keys.sweep(get_redis(), now=time.time(), offline_after=settings.PRESENCE_OFFLINE_AFTER)
    _announce(gone)
    return len(gone)


def presence_devices_logged_out(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None
) -> None:
    """The API server tells presence that devices logged out (`device_ids`; None: every device
    but `except_device`): their sockets are forgotten, and the user is offline if none is left."""
    _announce(
        redis_keys.devices_drop(
            get_redis(), user_id=user_id, device_ids=device_ids, except_device=except_device, now=time.time()
        )
    )
