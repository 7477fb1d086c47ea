"""Presence (design note §4.4, docs/protocol.md "Presence"): a user is `online` while some
connected device is active, `away` while every connected device is idle, and `offline` once none
is connected: at once when the client closes its last socket cleanly or its last device logs out,
or after PRESENCE_OFFLINE_AFTER seconds without a heartbeat when sockets just drop.

Changes go only to the user's friends who may see them (accounts.selectors.presence_watcher_ids)
and are connected, at most one `presence` frame per user per PRESENCE_ANNOUNCE_WINDOW seconds:
the first change after a quiet window at once (from whichever process made it), later ones
coalesced into one frame at the window's end (`presence_announce_due`, Celery beat). The window
lives in Redis (presence.redis_keys), not in a process: a user's sockets span chat servers.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.selectors import presence_watcher_ids
from chat.fanout import publish_to_users, publish_to_users_async
from chatproject.redis_client import get_async_redis, get_redis
from presence import redis_keys
from presence.redis_keys import PresenceState, SocketBeat
from presence.serializers import presence_fields

log = logging.getLogger(__name__)

# The close codes daphne reports for a client that closed its socket on purpose: 1000 (normal),
# 1001 (going away: a page unloads) and None, a close frame without a code, which is what a
# browser's `WebSocket.close()` sends. A socket that just drops (TCP reset or FIN with no close
# frame) is reported as 1006, and a close the server began as the code the client echoed.
CLEAN_CLOSE_CODES: frozenset[int | None] = frozenset({1000, 1001, None})


def presence_frame(state: PresenceState) -> dict[str, object]:
    return {"type": "presence", "user_id": state.user_id, **presence_fields(state)}


def _window() -> float:
    return float(settings.PRESENCE_ANNOUNCE_WINDOW)


async def presence_heartbeat(*, user_id: int, device_id: str, conn_id: str) -> None:
    """A socket of the user connected: it counts as active from now on, and the user's watchers
    hear of it if that changes the user's status."""
    changes = await redis_keys.sockets_touch(
        get_async_redis(), [(user_id, device_id, conn_id, False)], now=time.time(), window=_window()
    )
    await _announce_async(changes)


async def _announce_async(changes: list[PresenceState]) -> None:
    for state in changes:
        watchers = await database_sync_to_async(presence_watcher_ids)(user_id=state.user_id)
        await publish_to_users_async(user_ids=watchers, frame=presence_frame(state))


class _HeartbeatBatch:
    """The heartbeats a chat server received in the last PRESENCE_TOUCH_BATCH_MS, recorded in
    Redis together: one round trip for all of them instead of one per heartbeat. A delay of
    milliseconds against an offline threshold of PRESENCE_OFFLINE_AFTER seconds changes nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[str, SocketBeat] = {}  # by connection: a socket's latest heartbeat
        self.flushing: set[asyncio.Task[None]] = set()

    def add(self, beat: SocketBeat) -> None:
        if not self.sockets:
            self.loop.call_later(settings.PRESENCE_TOUCH_BATCH_MS / 1000, self._flush)
        self.sockets[beat[2]] = beat

    async def forget(self, conn_id: str) -> None:
        """A socket closed: its pending heartbeat is dropped, and the writes already under way
        are waited for, so that none of them records the socket again after it left."""
        self.sockets.pop(conn_id, None)
        if self.flushing:
            await asyncio.wait(list(self.flushing))

    def _flush(self) -> None:
        sockets, self.sockets = list(self.sockets.values()), {}
        if not sockets:  # every socket of the batch closed meanwhile
            return
        task = self.loop.create_task(self._write(sockets))
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def _write(self, sockets: list[SocketBeat]) -> None:
        try:
            changes = await redis_keys.sockets_touch(
                get_async_redis(), sockets, now=time.time(), window=_window()
            )
            await _announce_async(changes)
        except Exception:  # the next heartbeat of each socket tries again
            log.warning("recording %d heartbeats failed", len(sockets), exc_info=True)


_batches: dict[asyncio.AbstractEventLoop, _HeartbeatBatch] = {}


def _batch() -> _HeartbeatBatch:
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        _batches.clear()  # one event loop per chat server (tests make new ones)
        batch = _batches[loop] = _HeartbeatBatch(loop)
    return batch


def presence_heartbeat_soon(*, user_id: int, device_id: str, conn_id: str, idle: bool) -> None:
    """A heartbeat on a socket, saying whether its device is idle: recorded with the others of
    the next few milliseconds."""
    _batch().add((user_id, device_id, conn_id, idle))


async def presence_socket_closed(
    *, user_id: int, device_id: str, conn_id: str, close_code: int | None
) -> None:
    """A socket ended. Closed on purpose by the client (CLEAN_CLOSE_CODES): it leaves presence at
    once, and the user is offline at once if it was the last one. Dropped: nothing now, the
    sweep takes it out after PRESENCE_OFFLINE_AFTER seconds without a heartbeat (the device may
    well be reconnecting)."""
    if close_code not in CLEAN_CLOSE_CODES:
        return
    try:
        await _batch().forget(conn_id)
        changes = await redis_keys.socket_close(
            get_async_redis(),
            user_id=user_id,
            device_id=device_id,
            conn_id=conn_id,
            now=time.time(),
            window=_window(),
        )
        await _announce_async(changes)
    except Exception:  # the sweep takes the socket out after PRESENCE_OFFLINE_AFTER
        log.warning("presence of a closed socket (user %s) not recorded", user_id, exc_info=True)


def _announce(changes: list[PresenceState]) -> None:
    for state in changes:
        publish_to_users(user_ids=presence_watcher_ids(user_id=state.user_id), frame=presence_frame(state))


def presence_sweep() -> int:
    """Take out of presence the sockets silent too long; returns how many changes went out now."""
    changes = redis_keys.sweep(
        get_redis(), now=time.time(), offline_after=settings.PRESENCE_OFFLINE_AFTER, window=_window()
    )
    _announce(changes)
    return len(changes)


def presence_announce_due() -> int:
    """Announce the changes coalesced in windows that have ended; returns how many went out."""
    changes = redis_keys.announce_due(get_redis(), now=time.time(), window=_window())
    _announce(changes)
    return len(changes)


def presence_devices_logged_out(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None
) -> None:
    """The API server tells presence that devices logged out (`device_ids`; None: every device
    but `except_device`): their sockets are forgotten, and the user is offline if none is left."""
    _announce(
        redis_keys.devices_drop(
            get_redis(),
            user_id=user_id,
            device_ids=device_ids,
            except_device=except_device,
            now=time.time(),
            window=_window(),
        )
    )
