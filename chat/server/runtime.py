"""The chat server's per-process runtime: the local sockets and their life cycle, from start to
drain.

One `ChatServerRuntime` per daphne process holds the state the rest of `chat.server` works on:
- the **local connections** by user, with the Redis routing table recording which users have
  devices here and each user's socket count over all servers (`attach`, `detach`);
- the background tasks it starts once per event loop: the **registration** in discovery
  (`chat.server.registry`), the **subscription** to this server's delivery channel
  (`chat.server.delivery`), and the event-loop lag probe and slow-socket check
  (`chat.server.backpressure`);
- on SIGTERM it **drains**: leaves discovery, tells every client `server.draining`, and closes
  the sockets (code 4503) after CHAT_DRAIN_GRACE seconds. An operator's drain (the admin's chat
  servers page) arrives as a `ServerDrain` delivery event, or is found in the registry at the
  next refresh, and takes the same path (`request_drain`).

Under daphne (`chat/server/daphne.py`) it starts when the reactor runs and drains before the
reactor shuts down; elsewhere (tests) it starts on the first connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings

from chat.domain.errors import StoreUnavailable
from chat.domain.events import DeliveryEvent, DeviceSocketsClose, Origin, SocketClose
from chat.protocol import CLOSE_BAD_TICKET, CLOSE_TOO_MANY_SOCKETS, frame_text, server_draining_frame
from chat.server.backpressure import lag_loop, slow_sockets_loop
from chat.server.delivery import deliver, delivery_loop
from chat.server.metrics import chat_server_collector_register, counts
from chat.server.registry import registry_loop
from chat.server.sending import SendBatcher
from chat.store.redis import keys as redis_keys
from chatproject.redis_client import get_async_redis

log = logging.getLogger(__name__)


class LocalConnection(Protocol):
    """What the runtime needs of a consumer."""

    conn_id: str
    user_id: int
    device_id: str

    async def send_text(self, text: str) -> None: ...

    async def close_for_drain(self) -> None: ...

    async def close_with(self, code: int) -> None: ...

    def send_backlog(self) -> int: ...


class ChatServerRuntime:
    """The state of this chat server process: its sockets, its sending window, drain and load."""

    def __init__(self) -> None:
        self.server_id: str = settings.CHAT_SERVER_ID or f"{socket.gethostname()}-{os.getpid()}"
        self.connections: dict[str, LocalConnection] = {}
        self.by_user: dict[int, set[str]] = defaultdict(set)
        self.draining = False
        self._start_lock: asyncio.Lock | None = None
        self._subscribed: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batcher = SendBatcher(server_id=self.server_id, on_failure=self._enqueue_failed)
        self.loop_lag_ms = 0.0  # how late the event loop ran its last timer (`lag_loop`)
        self.shedding = False  # refusing sends (`send_admit`)
        # how an operator's drain request is carried out: under daphne, as SIGTERM is (drain, then
        # stop the process; `chat.server.daphne`); else (tests) a drain in a task of its own
        self.on_drain_request: Callable[[], None] | None = None
        self._drain_requested = False
        self._drain_task: asyncio.Future[None] | None = None

    # ---------------------------------------------------------------- life cycle

    async def ensure_started(self) -> None:
        """Start registration and the delivery subscription once per event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._subscribed is not None and self._subscribed.is_set():
            return
        if self._loop is not loop:  # a new loop (tests): the old tasks died with the old loop
            self._loop = loop
            self._start_lock = asyncio.Lock()
            self._subscribed = asyncio.Event()
            self._tasks = []
            self.batcher = SendBatcher(server_id=self.server_id, on_failure=self._enqueue_failed)
        assert self._start_lock is not None
        assert self._subscribed is not None
        async with self._start_lock:
            if not self._tasks:
                # contexts of their own: not that of the connection that may have started them
                self._tasks = [
                    loop.create_task(registry_loop(self), context=contextvars.Context()),
                    loop.create_task(delivery_loop(self, self._subscribed), context=contextvars.Context()),
                    loop.create_task(lag_loop(self), context=contextvars.Context()),
                    loop.create_task(slow_sockets_loop(self), context=contextvars.Context()),
                ]
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        """Cancel the background tasks and leave discovery (tests and shutdown)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await redis_keys.registry_remove(get_async_redis(), self.server_id)

    async def drain(self) -> None:
        """Stop taking clients, tell the connected ones to reconnect elsewhere, close them."""
        if self.draining:
            return
        self.draining = True
        log.info("chat server %s draining %d connections", self.server_id, len(self.connections))
        with contextlib.suppress(Exception):
            await redis_keys.registry_remove(get_async_redis(), self.server_id)
        await self.batcher.drain()
        notice = frame_text(server_draining_frame())
        for conn in list(self.connections.values()):
            await self.send(conn, notice)
        await asyncio.sleep(settings.CHAT_DRAIN_GRACE)
        for conn in list(self.connections.values()):
            with contextlib.suppress(Exception):
                await conn.close_for_drain()
        if self.connections:
            await asyncio.sleep(0.5)  # let the close frames go out before the server shuts down
        await self.stop()

    def request_drain(self) -> None:
        """An operator asked this server to drain (at most one drain starts)."""
        if self.draining or self._drain_requested:
            return
        self._drain_requested = True
        log.info("chat server %s: drain requested by an operator", self.server_id)
        if self.on_drain_request is not None:
            self.on_drain_request()
        else:
            self._drain_task = asyncio.ensure_future(self.drain())

    # ---------------------------------------------------------------- connections

    async def attach(self, conn: LocalConnection) -> None:
        """Take a socket in: routing, and the user's socket count (beyond CHAT_SOCKETS_PER_USER
        the user's oldest socket is closed, here or on the chat server that holds it)."""
        self.connections[conn.conn_id] = conn
        self.by_user[conn.user_id].add(conn.conn_id)
        counts.connections_opened += 1
        client = get_async_redis()
        await redis_keys.route_attach(client, user_id=conn.user_id, server_id=self.server_id)
        evicted = await redis_keys.user_socket_add(
            client,
            user_id=conn.user_id,
            server_id=self.server_id,
            conn_id=conn.conn_id,
            limit=settings.CHAT_SOCKETS_PER_USER,
        )
        remote: dict[str, list[DeliveryEvent]] = defaultdict(list)
        for server_id, conn_id in evicted:
            event = SocketClose(conn_id=conn_id, code=CLOSE_TOO_MANY_SOCKETS)
            if server_id == self.server_id:
                await deliver(self, [event])
            else:
                remote[server_id].append(event)
        if remote:
            await redis_keys.deliveries_publish_async(client, remote)

    async def detach(self, conn: LocalConnection) -> None:
        if self.connections.pop(conn.conn_id, None) is None:
            return
        conns = self.by_user.get(conn.user_id)
        if conns is not None:
            conns.discard(conn.conn_id)
            if not conns:
                del self.by_user[conn.user_id]
        with contextlib.suppress(Exception):  # a lost decrement is repaired when the server's entry dies
            client = get_async_redis()
            await redis_keys.route_detach(client, user_id=conn.user_id, server_id=self.server_id)
            await redis_keys.user_socket_remove(
                client, user_id=conn.user_id, server_id=self.server_id, conn_id=conn.conn_id
            )

    async def close_devices(self, ended: DeviceSocketsClose) -> None:
        """Close the sockets of the devices whose logins ended."""
        for conn_id in list(self.by_user.get(ended.user_id, ())):
            conn = self.connections.get(conn_id)
            if conn is None:
                continue
            if (ended.device_ids is None and conn.device_id != ended.except_device) or (
                ended.device_ids and conn.device_id in ended.device_ids
            ):
                await self.close(conn, CLOSE_BAD_TICKET)

    async def close(self, conn: LocalConnection, code: int) -> None:
        """Close a socket and stop delivering to it at once (its disconnect follows)."""
        await self.detach(conn)
        try:
            await conn.close_with(code)
        except Exception:
            log.debug("close of %s failed", conn.conn_id, exc_info=True)

    async def _enqueue_failed(self, items: list[dict[str, Any]]) -> None:
        """Tell each sending device its message was not queued (its outbox will resend it)."""
        for item in items:
            origin = Origin.from_dict(item.get("o") or {})
            conn = self.connections.get(origin.conn_id or "")
            if conn is not None:
                frame = StoreUnavailable().as_frame(item["m"]["client_msg_id"])
                await self.send(conn, frame_text(frame))

    @staticmethod
    async def send(conn: LocalConnection, text: str) -> None:
        """Write a frame to one socket; a failed write is logged, never raised."""
        try:
            await conn.send_text(text)
        except Exception:  # a socket closing under us must not stop the delivery of others
            log.debug("send to %s failed", conn.conn_id, exc_info=True)


_runtime: ChatServerRuntime | None = None


def chat_runtime() -> ChatServerRuntime:
    global _runtime
    if _runtime is None:
        _runtime = ChatServerRuntime()
    return _runtime


chat_server_collector_register(chat_runtime)
