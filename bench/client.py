"""The bench's client of the chat service: REST calls through the load balancer and a WebSocket
client of the protocol of docs/protocol.md.

REST calls run in a small thread pool (one `requests.Session` per thread); the WebSocket side is
asyncio (`websockets`). Every received frame is decoded once and handed to the connection's
`on_frame` callback, with the arrival time, so scenarios measure without awaiting each frame.
"""

from __future__ import annotations

import asyncio
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

    def __init__(self, *, user_id: int, on_frame: FrameHandler | None = None) -> None:
        self.user_id = user_id
        self.on_frame = on_frame
        self.server_url = ""
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
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

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
