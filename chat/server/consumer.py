"""The chat server's WebSocket consumer (`/ws/chat`, protocol in docs/protocol.md).

Thin: it authenticates the socket (connect ticket or browser session), registers it with the
process's `ChatServerRuntime`, turns each frame into a typed frame (`chat.protocol`) and calls one
service per frame type. A refused frame gets an `error` frame; the socket stays open.

Deliveries do not use the Channels layer: the runtime writes frames published for this chat
server straight to the local sockets (see README, "Routing"), so the consumer opts out of it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import protocol
from chat.domain.events import Origin
from chat.domain.hops import hops_start
from chat.protocol import (
    CLOSE_BAD_TICKET,
    CLOSE_DRAINING,
    CLOSE_TOO_SLOW,
    CLOSE_UNSUPPORTED_VERSION,
    frame_text,
)
from chat.server import handlers
from chat.server.backpressure import send_admit
from chat.server.budget import SocketBudget
from chat.server.daphne import close_grace, send_backlog
from chat.server.metrics import counts
from chat.server.runtime import chat_runtime
from chat.server.sending import queue_message_send
from chat.store.redis.tickets import TicketInvalid, ticket_redeem
from chatproject.errors import RateLimited, ServiceError, service_error_of
from chatproject.logs import log_context, log_context_set
from presence.services import presence_heartbeat, presence_heartbeat_soon, presence_socket_closed

log = logging.getLogger(__name__)

NO_CHANNEL_LAYER = "chat-servers-use-redis-routing"  # an alias with no layer configured


class ChatConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = NO_CHANNEL_LAYER

    conn_id: str
    user_id: int
    device_id: str
    budget: SocketBudget
    attached = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # channels' loop (`await_many_dispatch`) wraps each wait for a frame in a new task and an
        # `asyncio.wait`, objects that then live until the socket's next frame: ~10 s on an idle
        # socket, so every heartbeat moved a fresh set into the oldest GC generation, and at 10k
        # sockets a full collection of the whole heap (~1 s of CPU) ran every 5-10 s. With no
        # channel layer the socket is the only source of messages: wait on it directly.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels closes stale database connections before every handler, by a hop to the
        # thread-sensitive executor: one thread round trip per frame. This consumer's database
        # work runs only inside database_sync_to_async, which does that itself in its thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message.get('type')!r}")
        await handler(message)

    # ---------------------------------------------------------------- connection

    async def connect(self) -> None:
        runtime = chat_runtime()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        if protocol.protocol_version_of(query.get("v")) is None:  # before the ticket is spent
            await self.accept()
            await self.close(code=CLOSE_UNSUPPORTED_VERSION)
            return
        identity = await self._identify()
        await self.accept()
        if identity is None:
            await self.close(code=CLOSE_BAD_TICKET)
            return
        if runtime.draining:
            await self.close(code=CLOSE_DRAINING)
            return
        self.user_id, self.device_id = identity
        self.conn_id = uuid.uuid4().hex
        log_context_set(conn_id=self.conn_id)  # on every line of this connection's task from now on
        self.budget = SocketBudget(settings.CHAT_FRAME_BUDGETS, window=settings.CHAT_FRAME_BUDGET_WINDOW)
        await runtime.ensure_started()
        await runtime.attach(self)
        self.attached = True
        # the login may have ended between the check above and the attach, when the close that
        # logout sends to this user's chat servers could not find this socket yet: check again
        if not await handlers.device_login_alive(user_id=self.user_id, device_id=self.device_id):
            await self.close_with(CLOSE_BAD_TICKET)
            return
        await presence_heartbeat(user_id=self.user_id, device_id=self.device_id, conn_id=self.conn_id)
        if runtime.draining:  # the drain began while this socket was being set up
            await self.close(code=CLOSE_DRAINING)

    async def _identify(self) -> tuple[int, str] | None:
        """The (user, device) of a valid ticket or browser session whose login still stands."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        tickets = query.get("ticket")
        user = self.scope.get("user")
        if tickets:
            try:
                claims = await ticket_redeem(tickets[0])
            except TicketInvalid as exc:
                log.info("websocket refused: %s", exc)
                return None
            if user is not None and user.is_authenticated and user.pk != claims.user_id:
                log.info("websocket refused: the ticket belongs to another user than the session")
                return None
            identity = claims.user_id, claims.device_id
        else:
            session = self.scope.get("session")
            if user is None or not user.is_authenticated or session is None or not session.session_key:
                return None
            identity = int(user.pk), f"session:{session.session_key}"
        if not await handlers.device_login_alive(user_id=identity[0], device_id=identity[1]):
            log.info("websocket refused: the device's login has ended")
            return None
        return identity

    async def disconnect(self, code: int | None) -> None:
        if self.attached:
            self.attached = False
            await chat_runtime().detach(self)
            # daphne's code: 1000, 1001 or None for a close the client meant, 1006 for a drop
            await presence_socket_closed(
                user_id=self.user_id, device_id=self.device_id, conn_id=self.conn_id, close_code=code
            )

    # the runtime's LocalConnection interface
    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def close_for_drain(self) -> None:
        await self.close(code=CLOSE_DRAINING)

    async def close_with(self, code: int) -> None:
        if code == CLOSE_TOO_SLOW:  # its close frame waits behind what the client has not read yet
            close_grace(self.scope, settings.CHAT_SLOW_CLOSE_GRACE)
        await self.close(code=code)

    def send_backlog(self) -> int:
        return send_backlog(self.scope)

    # ---------------------------------------------------------------- frames

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        ref: str | None = None
        try:
            try:
                data = protocol.frame_decode(text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
                ref = protocol.client_msg_id_of(data)
                frame = protocol.frame_parse(data, max_body=settings.CHAT_MESSAGE_MAX_LENGTH)
            except ServiceError:
                counts.frames_in["invalid"] += 1
                self._spend("invalid")
                raise
            counts.frames_in[data["type"]] += 1
            if ref is None:
                await self._dispatch(frame)
            else:
                with log_context(client_msg_id=ref):
                    await self._dispatch(frame)
        except Exception as exc:
            error = service_error_of(exc)
            if error is None:
                await self._internal_error(ref)
                return
            if error is not exc:  # Redis went away mid-frame: worth a line, not a traceback
                log.warning("frame refused, %s: %r", error.code, exc, extra={"client_msg_id": ref})
            counts.frame_errors[error.frame_code or error.code] += 1
            await self.send_text(frame_text(error.as_frame(ref)))

    async def _internal_error(self, ref: str | None) -> None:
        """A frame whose handling failed for a reason no error code names: a bug."""
        counts.frame_errors["internal"] += 1
        log.exception(  # called in the `except` block: the traceback is the frame's
            "frame handling failed (user %s)",
            getattr(self, "user_id", None),
            extra={"client_msg_id": ref},
        )
        await self.send_text(frame_text(protocol.internal_error_frame(ref)))

    def _spend(self, kind: str) -> None:
        """Count a frame against this socket's budget of its kind; raises RateLimited."""
        retry_after_ms = self.budget.take(kind)
        if retry_after_ms:
            raise RateLimited(
                f"too many {kind} frames: at most {settings.CHAT_FRAME_BUDGETS[kind]} per "
                f"{settings.CHAT_FRAME_BUDGET_WINDOW:g} s",
                retry_after_ms=retry_after_ms,
            )

    async def _dispatch(self, frame: protocol.Frame) -> None:
        if isinstance(frame, protocol.MessageSend):
            await self._message_send(frame)
        elif isinstance(frame, protocol.SyncRequest):
            self._spend("sync")
            async for batch in handlers.catch_up_frames(user_id=self.user_id, since=frame.since):
                await self.send_text(frame_text(batch))
        elif isinstance(frame, protocol.Heartbeat):
            self._spend("heartbeat")
            presence_heartbeat_soon(
                user_id=self.user_id, device_id=self.device_id, conn_id=self.conn_id, idle=frame.idle is True
            )
            await self.send_text('{"type":"heartbeat.ack"}')
        elif isinstance(frame, protocol.Typing):
            self._spend("typing")
            await handlers.typing_announce(
                user_id=self.user_id,
                conversation_id=frame.conversation_id,
                skip_conn=self.conn_id,
                server_id=chat_runtime().server_id,
            )
        elif isinstance(frame, protocol.Delivered):
            self._spend("delivered")
            await handlers.delivered_mark(user_id=self.user_id, message_ids=frame.message_ids)
        elif isinstance(frame, protocol.ReadMarker):
            self._spend("read")
            await handlers.read_mark(
                user_id=self.user_id,
                conversation_id=frame.conversation_id,
                message_id=frame.message_id,
                skip_conn=self.conn_id,
                server_id=chat_runtime().server_id,
            )

    async def _message_send(self, frame: protocol.MessageSend) -> None:
        hops = hops_start()
        runtime = chat_runtime()
        try:
            send_admit(runtime)  # a send this server or the sync queue could not take soon is refused first
            entry = await handlers.send_budget_take(user_id=self.user_id)
        except ServiceError as exc:
            counts.messages_refused[exc.frame_code or exc.code] += 1
            raise
        try:
            await queue_message_send(
                batcher=runtime.batcher,
                sender_id=self.user_id,
                conversation_id=frame.conversation_id,
                client_msg_id=frame.client_msg_id,
                body=frame.body,
                origin=Origin(server_id=runtime.server_id, conn_id=self.conn_id),
                hops=hops,
            )
        except ServiceError as exc:
            counts.messages_refused[exc.frame_code or exc.code] += 1
            await handlers.send_budget_return(user_id=self.user_id, entry=entry)
            raise
