"""The bench's client of the chat service: REST calls through the load balancer and a WebSocket
client of the protocol of docs/protocol.md.

REST calls run in a small thread pool (one `requests.Session` per thread); the WebSocket side is
asyncio (`websockets`). Every received frame is decoded once and handed to the connection's
`on_frame` callback, with the arrival time, so scenarios measure without awaiting each frame.

`message.send` goes through an outbox, as a real client's does: a message stays there until its
`message.ack`, and when the server answers `overloaded` (it sheds sends while its sync backlog is
past its bounds) or `rate_limited`, it is sent again with the same client_msg_id after the
answer's `retry_after_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FrameHandler = Callable[["ChatConnection", dict[str, Any], float], None]
ResendHandler = Callable[["ChatConnection", str, float], None]  # connection, client_msg_id, time

RETRY_CODES = frozenset({"overloaded", "rate_limited"})  # error codes the outbox sends again after


class ApiError(Exception):
    pass


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    token: str


class Api:
    """The REST API of the stack (`/api/v1/` behind nginx), called from asyncio through threads."""

    def __init__(self, base_url: str, *, threads: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-http")
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _call(self, method: str, path: str, token: str | None, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._session().request(
            method, f"{self.base_url}/api/v1/{path}", json=body, headers=headers, timeout=30
        )
        if response.status_code >= 400:
            raise ApiError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response.json() if response.content else None

    async def call(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, method, path, token, body)

    async def timed(self, method: str, path: str, *, token: str) -> float:
        """Seconds one call takes (raises on an error answer)."""
        start = time.perf_counter()
        await self.call(method, path, token=token)
        return time.perf_counter() - start

    async def login(self, *, username: str, password: str, device_name: str) -> dict[str, Any]:
        body = {"username": username, "password": password, "device_name": device_name}
        result: dict[str, Any] = await self.call("POST", "auth/login", body=body)
        return result

    async def chat_server(self, *, token: str) -> tuple[str, str]:
        """Discovery: (chat server URL, fresh connect ticket)."""
        answer = await self.call("GET", "chat/server", token=token)
        return answer["chat_server"]["url"], answer["ticket"]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ChatConnection:
    """One device's WebSocket to a chat server (or to the bare relay)."""

    def __init__(
        self,
        *,
        user_id: int,
        on_frame: FrameHandler | None = None,
        on_resend: ResendHandler | None = None,
    ) -> None:
        self.user_id = user_id
        self.on_frame = on_frame
        self.on_resend = on_resend
        self.server_url = ""
        self.outbox: dict[str, str] = {}  # client_msg_id → frame, until acknowledged
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._resends: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    async def open(self, url: str, ticket: str) -> None:
        self.server_url = url
        self._ws = await connect(
            f"{url}?ticket={ticket}",
            compression=None,
            max_size=2**22,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                now = time.perf_counter()
                frame = orjson.loads(raw)
                waiters = self._waiters.get(frame.get("type", ""))
                if waiters:
                    waiter = waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(frame)
                if self.on_frame is not None:
                    self.on_frame(self, frame, now)
                self._outbox_answer(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def expect(self, frame_type: str) -> asyncio.Future[dict[str, Any]]:
        """A future of the next frame of `frame_type` (register it before sending the request)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(frame_type, []).append(future)
        return future

    async def send(self, frame: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(orjson.dumps(frame).decode())

    async def send_message(self, frame: dict[str, Any]) -> None:
        """A `message.send`, through the outbox."""
        assert self._ws is not None
        text = orjson.dumps(frame).decode()
        self.outbox[frame["client_msg_id"]] = text
        await self._ws.send(text)

    def _outbox_answer(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message.ack":
            self.outbox.pop(frame.get("client_msg_id", ""), None)
        elif kind == "error" and frame.get("code") in RETRY_CODES and frame.get("ref") in self.outbox:
            delay = max(0, int(frame.get("retry_after_ms") or 0)) / 1000
            asyncio.get_running_loop().call_later(delay, self._resend_soon, frame["ref"])

    def _resend_soon(self, client_msg_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._resend(client_msg_id))
        self._resends.add(task)
        task.add_done_callback(self._resends.discard)

    async def _resend(self, client_msg_id: str) -> None:
        text = self.outbox.get(client_msg_id)
        if text is None or self._ws is None or self.closed.is_set():
            return
        if self.on_resend is not None:
            self.on_resend(self, client_msg_id, time.perf_counter())
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(text)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
