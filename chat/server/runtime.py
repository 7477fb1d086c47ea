"""The chat server's per-process runtime: registration, local sockets, delivery, draining.

One `ChatServerRuntime` per daphne process:
- it **registers** the server in the discovery registry (id, public URL, region, capacity, live
  connection count) and refreshes the entry every CHAT_REGISTRY_REFRESH seconds; a server that
  stops refreshing expires out of discovery by itself;
- it keeps the **local connections** by user and records in the Redis routing table which users
  have devices here;
- it **subscribes** to this server's delivery channel, on which sync workers (and other chat
  servers, for typing and read events) publish batches of already-serialised frames, and writes
  them to the local sockets of the users they name;
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

import orjson
from django.conf import settings

from chat.domain.errors import Overloaded, StoreUnavailable
from chat.domain.events import (
    BatchDone,
    DeliveryEvent,
    DeviceSocketsClose,
    FrameToSocket,
    FrameToUsers,
    Origin,
    SendRulesStale,
    ServerDrain,
    SocketClose,
    deliveries_decode,
)
from chat.domain.hops import hops_mark
from chat.protocol import (
    CLOSE_BAD_TICKET,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_TOO_SLOW,
    frame_text,
    server_draining_frame,
)
from chat.selectors import send_rules_forget
from chat.server.metrics import DELIVERY_BATCH_SIZE, chat_server_collector_register, counts
from chat.server.sending import SendBatcher, overloaded
from chat.store.redis import keys as redis_keys
from chat.store.redis.hops import hops_record
from chat.store.redis.keys import ChatServerEntry
from chatproject.redis_client import get_async_redis

log = logging.getLogger(__name__)
hops_log = logging.getLogger("chat.hops")

LAG_PROBE_SECONDS = 0.05
SLOW_CHECK_SECONDS = 1.0  # how often the sockets' unsent bytes are looked at (`_slow_loop`)


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
        self.loop_lag_ms = 0.0  # how late the event loop ran its last timer (`_lag_loop`)
        self.shedding = False
        # how an operator's drain request is carried out: under daphne, as SIGTERM is (drain, then
        # stop the process; `chat.server.daphne`); else (tests) a drain in a task of its own
        self.on_drain_request: Callable[[], None] | None = None
        self._drain_requested = False
        self._drain_task: asyncio.Future[None] | None = None

    # ---------------------------------------------------------------- life cycle

    def entry(self) -> ChatServerEntry:
        return ChatServerEntry(
            id=self.server_id,
            url=settings.CHAT_SERVER_URL,
            region=settings.CHAT_SERVER_REGION,
            capacity=settings.CHAT_SERVER_CAPACITY,
            connections=len(self.connections),
            draining=self.draining,
        )

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
                    loop.create_task(self._registry_loop(), context=contextvars.Context()),
                    loop.create_task(self._delivery_loop(), context=contextvars.Context()),
                    loop.create_task(self._lag_loop(), context=contextvars.Context()),
                    loop.create_task(self._slow_loop(), context=contextvars.Context()),
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
            await self._send(conn, notice)
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

    def admit_send(self) -> None:
        """Raise Overloaded while this chat server sheds sends: its event loop runs what is due
        CHAT_SHED_LAG_MS late or more (frames read from the sockets wait behind each other), or
        its sending window's backlog is past its bounds (`SendBatcher.admit`)."""
        try:
            if self.loop_lag_ms >= settings.CHAT_SHED_LAG_MS:
                raise overloaded(behind_ms=self.loop_lag_ms)
            self.batcher.admit()
        except Overloaded:
            if not self.shedding:
                self.shedding = True
                log.warning(
                    "chat server %s sheds sends (event loop %.0f ms late, %d sends waiting)",
                    self.server_id,
                    self.loop_lag_ms,
                    self.batcher.waiting,
                )
            raise
        if self.shedding:
            self.shedding = False
            log.warning("chat server %s takes sends again", self.server_id)

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
                await self.deliver([event])
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

    async def deliver(self, events: list[DeliveryEvent]) -> None:
        """Write a batch of delivery events to the local sockets they name, in order."""
        sampled: list[dict[str, Any]] = []
        delivered = 0
        for event in events:
            match event:
                case FrameToUsers(user_ids=user_ids, text=text, skip_conn=skip, hops=hops):
                    written = 0
                    for user_id in user_ids:
                        for conn_id in list(self.by_user.get(user_id, ())):
                            if conn_id != skip and (conn := self.connections.get(conn_id)) is not None:
                                await self._send(conn, text)
                                written += 1
                    delivered += written
                    if hops is not None and written:
                        hops_mark(hops, "delivered")
                        sampled.append({"id": _message_id(text), "server": self.server_id, "hops": hops})
                case FrameToSocket(conn_id=conn_id, text=text):
                    if (conn := self.connections.get(conn_id)) is not None:
                        await self._send(conn, text)
                        delivered += 1
                case BatchDone(batch_id=batch_id):
                    self.batcher.done(batch_id)
                case SendRulesStale(conversation_ids=conversation_ids):
                    send_rules_forget(conversation_ids=conversation_ids)
                case SocketClose(conn_id=conn_id, code=code):
                    if (conn := self.connections.get(conn_id)) is not None:
                        await self._close(conn, code)
                case DeviceSocketsClose():
                    await self._close_devices(event)
                case ServerDrain():
                    self.request_drain()
        counts.deliveries += delivered
        if sampled:
            await self._hops_record(sampled)

    @staticmethod
    async def _hops_record(sampled: list[dict[str, Any]]) -> None:
        for sample in sampled:
            hops_log.debug("%s", sample)
        with contextlib.suppress(Exception):  # a lost sample is no loss
            await hops_record(get_async_redis(), sampled)

    async def _close_devices(self, ended: DeviceSocketsClose) -> None:
        for conn_id in list(self.by_user.get(ended.user_id, ())):
            conn = self.connections.get(conn_id)
            if conn is None:
                continue
            if (ended.device_ids is None and conn.device_id != ended.except_device) or (
                ended.device_ids and conn.device_id in ended.device_ids
            ):
                await self._close(conn, CLOSE_BAD_TICKET)

    async def _close(self, conn: LocalConnection, code: int) -> None:
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
                await self._send(conn, frame_text(frame))

    @staticmethod
    async def _send(conn: LocalConnection, text: str) -> None:
        try:
            await conn.send_text(text)
        except Exception:  # a socket closing under us must not stop the delivery of others
            log.debug("send to %s failed", conn.conn_id, exc_info=True)

    # ---------------------------------------------------------------- background loops

    async def _registry_loop(self) -> None:
        client = get_async_redis()
        with contextlib.suppress(Exception):
            await redis_keys.registry_drain_forget(client, self.server_id)
        while True:
            try:
                if not self.draining and await redis_keys.registry_drain_requested(client, self.server_id):
                    self.request_drain()  # its delivery event was lost (Redis reconnecting)
                elif not self.draining:
                    existed = await redis_keys.registry_publish(
                        client, self.entry(), ttl=settings.CHAT_REGISTRY_TTL
                    )
                    if not existed and self.by_user:
                        # the entry had expired or Redis lost its data: the routing entries of
                        # this server's users may be gone too, so write them again
                        await redis_keys.routes_reassert(
                            client,
                            server_id=self.server_id,
                            counts={u: len(c) for u, c in self.by_user.items()},
                        )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("chat server %s: registry refresh failed", self.server_id, exc_info=True)
            await asyncio.sleep(settings.CHAT_REGISTRY_REFRESH)

    async def _lag_loop(self) -> None:
        """Measure how late the event loop runs a timer, every LAG_PROBE_SECONDS; `loop_lag_ms` is
        the smaller of the last two, so one pause (a garbage collection) does not count, a backlog
        that keeps the loop behind does."""
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            due = loop.time() + LAG_PROBE_SECONDS
            await asyncio.sleep(LAG_PROBE_SECONDS)
            lag = max(0.0, (loop.time() - due) * 1000)
            self.loop_lag_ms, last = min(lag, last), lag

    async def _slow_loop(self) -> None:
        """Close the sockets whose clients stopped reading (4008, docs/protocol.md).

        Writing to a socket never waits (Twisted buffers what the kernel does not take), so a slow
        client delays nobody, but its buffer, and this process, would grow without end. Once a
        second, off the delivery path, every socket's unsent bytes are read; one past
        CHAT_SEND_BACKLOG_MAX at two checks in a row is closed (a client that reads drains a burst,
        a large sync answer say, before the next check). So a socket holds at most the limit plus
        about two seconds of what is sent to it, until its close's grace (CHAT_SLOW_CLOSE_GRACE)
        ends and the connection is aborted with what it still holds.
        """
        over: set[str] = set()
        while True:
            await asyncio.sleep(SLOW_CHECK_SECONDS)
            try:
                over = await self._close_slow(over)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("chat server %s: slow socket check failed", self.server_id, exc_info=True)

    async def _close_slow(self, over: set[str]) -> set[str]:
        """One check of `_slow_loop`: close the sockets past the limit now and at the check before
        (`over`); returns those past it now and left open."""
        limit = settings.CHAT_SEND_BACKLOG_MAX
        now = {conn_id for conn_id, conn in self.connections.items() if conn.send_backlog() > limit}
        for conn_id in now & over:
            if (conn := self.connections.get(conn_id)) is not None:
                log.warning(
                    "closing socket %s of user %s: %d bytes unsent, its client is not reading",
                    conn_id,
                    conn.user_id,
                    conn.send_backlog(),
                )
                counts.slow_closes += 1
                await self._close(conn, CLOSE_TOO_SLOW)
        return now - over

    async def _delivery_loop(self) -> None:
        assert self._subscribed is not None
        channel = redis_keys.delivery_channel(self.server_id)
        while True:
            pubsub = get_async_redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        events = deliveries_decode(message["data"])
                    except (ValueError, TypeError):
                        log.error("chat server %s: undecodable delivery batch", self.server_id)
                        continue
                    DELIVERY_BATCH_SIZE.observe(len(events))
                    await self.deliver(events)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception:
                # Redis went away: deliveries published meanwhile are lost, and the clients'
                # periodic re-sync repairs them; subscribe again after a short pause
                log.warning("chat server %s: delivery subscription lost", self.server_id, exc_info=True)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(0.5)


def _message_id(text: str) -> int | None:
    """The ID of the message a `message.new` frame carries (for a hop sample)."""
    try:
        return int(orjson.loads(text)["message"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


_runtime: ChatServerRuntime | None = None


def chat_runtime() -> ChatServerRuntime:
    global _runtime
    if _runtime is None:
        _runtime = ChatServerRuntime()
    return _runtime


chat_server_collector_register(chat_runtime)
