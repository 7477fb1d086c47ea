"""A test client device of the chat protocol (docs/protocol.md), as a real app would be written:
it keeps `cur_max_message_id`, an outbox of unacknowledged sends that it resends with the same
`client_msg_id`, and the messages it has seen, de-duplicated by ID. It applies the change feed
with one code path for live frames and sync batches (`apply`): conversation titles and members,
read and delivered positions, so that its unread counts can be compared with the server's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.frames import frame_received, frame_sent
from tests.stack import Stack, api_call

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Account:
    user_id: int
    username: str
    token: str


def register(stack: Stack, prefix: str = "u") -> Account:
    """A new user registered through the API (a unique name per call)."""
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    status, body = api_call(
        stack.api,
        "POST",
        "auth/register",
        {"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    return Account(user_id=body["user"]["id"], username=username, token=body["token"])


REFUSED_FOR_NOW = {"overloaded", "unavailable"}  # error codes of a send to try again later


class Device:
    def __init__(self, *, api: str, token: str, user_id: int, name: str) -> None:
        self.api = api
        self.token = token
        self.user_id = user_id
        self.name = name
        self.ws: ClientConnection | None = None
        self.cur_max = 0
        # the cursor moves with what a sync brings only, as docs/protocol.md asks of a client: a
        # live frame dropped before it (a chat server's Redis subscription reconnecting), or an
        # entry older than the look-back that the device has not synced yet, is then found by the
        # next sync. False (the look-back test): live frames and acks move it too
        self.cursor_from_sync_only = True
        self.seen: dict[int, dict[str, Any]] = {}  # message id -> message, de-duplicated
        self.order: list[int] = []  # message ids in the order they arrived (live or sync)
        self.outbox: dict[str, dict[str, Any]] = {}  # client_msg_id -> frame, until acked
        self.acks: dict[str, int] = {}  # client_msg_id -> message id
        self.live: list[int] = []  # ids of the message.new frames received
        self.live_at: dict[int, float] = {}  # message id -> wall-clock time its message.new came
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed_with: int | None = None
        self.close_codes: list[int | None] = []  # every close of this device's sockets, in order
        self.errors: list[dict[str, Any]] = []  # every error frame
        self.ack_times: dict[str, float] = {}  # client_msg_id -> time.monotonic() of its ack
        self.sync_has_more = False  # the last sync.batch said more is waiting
        self._reader: asyncio.Task[None] | None = None
        # the change feed as applied: each entry once, in the order first applied
        self.entries: dict[int, dict[str, Any]] = {}  # feed id -> entry
        self.entry_log: list[int] = []
        self.titles: dict[int, str] = {}
        self.members: dict[int, set[int]] = {}
        self.left: set[int] = set()
        self.read: dict[tuple[int, int], int] = {}  # (conversation, user) -> read position
        self.delivered: dict[tuple[int, int], int] = {}
        self.reset_required = False
        self.gaps = 0  # live.gap frames: the server may have dropped live frames before them

    @classmethod
    def login(cls, *, api: str, username: str, password: str, name: str) -> Device:
        status, body = api_call(
            api, "POST", "auth/login", {"username": username, "password": password, "device_name": name}
        )
        assert status == 200, body
        return cls(api=api, token=body["token"], user_id=body["user"]["id"], name=name)

    def ticket(self) -> tuple[str, str]:
        status, body = api_call(self.api, "GET", "chat/server", token=self.token)
        assert status == 200, body
        return body["chat_server"]["url"], body["ticket"]

    async def connect(self, url: str | None = None) -> str:
        """Open the socket (to `url`, or where discovery says); returns the URL used."""
        assigned, ticket = await asyncio.to_thread(self.ticket)
        target = url or assigned
        try:
            # v: the protocol version this client speaks (docs/protocol.md, "Versions")
            self.ws = await websockets.connect(f"{target}?ticket={ticket}&v=1", max_size=2**20)
        except websockets.InvalidStatus as exc:
            # through the load balancer a dead chat server answers 502: as unreachable as a refused port
            if exc.response.status_code in (502, 503, 504):
                raise ConnectionRefusedError(f"{target}: {exc.response.status_code}") from exc
            raise
        self.closed_with = None
        self._reader = asyncio.create_task(self._read(self.ws))
        await self.request({"type": "heartbeat"}, "heartbeat.ack")
        return target

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                frame_received(frame)  # against docs/asyncapi.yaml (tests/frames.py)
                kind = frame["type"]
                if kind == "message.ack":
                    sent = self.outbox.pop(frame["client_msg_id"], None)
                    self.acks[frame["client_msg_id"]] = int(frame["message_id"])
                    self.ack_times.setdefault(frame["client_msg_id"], time.monotonic())
                    if sent is not None:  # my own message is part of what this device has
                        message = {**sent, "id": frame["message_id"], "sender_id": self.user_id}
                        self._see(message, moves_cursor=not self.cursor_from_sync_only)
                elif "feed_id" in frame:
                    if kind == "message.new":
                        self.live.append(int(frame["message"]["id"]))
                        self.live_at[int(frame["message"]["id"])] = time.time()
                    self.apply(frame, moves_cursor=not self.cursor_from_sync_only)
                elif kind == "sync.batch":
                    self.sync_has_more = bool(frame["has_more"])
                    for entry in frame["entries"]:
                        self.apply(entry)
                elif kind == "sync.done":
                    self.cur_max = max(self.cur_max, int(frame["cur_max_message_id"]))
                elif kind == "sync.reset_required":
                    self.reset_required = True
                    self.cur_max = int(frame["cur_max_message_id"])
                elif kind == "live.gap":
                    self.gaps += 1
                elif kind == "error":
                    self.errors.append(frame)
                await self.frames.put(frame)
        except websockets.ConnectionClosed as exc:
            self.closed_with = exc.rcvd.code if exc.rcvd else None
        finally:
            if self.closed_with is None and ws.close_code is not None:
                self.closed_with = ws.close_code
            self.close_codes.append(self.closed_with)

    def apply(self, entry: dict[str, Any], *, moves_cursor: bool = True) -> None:
        """A feed entry, live or from a sync batch; one already applied changes nothing."""
        feed_id = int(entry["feed_id"])
        if moves_cursor:
            self.cur_max = max(self.cur_max, feed_id)
        if feed_id in self.entries:
            return
        self.entries[feed_id] = entry
        self.entry_log.append(feed_id)
        kind = entry["type"]
        conversation_id: int = entry.get("conversation_id", 0)
        if kind in ("message.new", "message.updated"):
            self._see(entry["message"], moves_cursor=moves_cursor)
        elif kind in ("read", "delivered"):
            key = (conversation_id, entry["user_id"])
            # read implies delivered (docs/protocol.md): a read that reached the server before the
            # reader's delivered frame moved both positions, and no delivered entry follows
            for positions in (self.read, self.delivered) if kind == "read" else (self.delivered,):
                positions[key] = max(positions.get(key, 0), int(entry["message_id"]))
        elif kind in ("conversation.created", "conversation.joined"):
            conversation = entry["conversation"]
            self.titles[conversation["id"]] = conversation["title"]
            self.members[conversation["id"]] = set(conversation["member_ids"])
            self.left.discard(conversation["id"])
        elif kind == "conversation.updated":
            self.titles[conversation_id] = entry["title"]
        elif kind == "conversation.left":
            self.left.add(conversation_id)
        elif kind == "member.added":
            self.members.setdefault(entry["conversation_id"], set()).add(entry["user_id"])
        elif kind == "member.removed":
            self.members.setdefault(entry["conversation_id"], set()).discard(entry["user_id"])

    def unread(self, conversation_id: int) -> int:
        """Messages of others after my read marker, not deleted: the client's unread count."""
        marker = self.read.get((conversation_id, self.user_id), 0)
        return sum(
            1
            for mid, m in self.seen.items()
            if m["conversation_id"] == conversation_id
            and mid > marker
            and m["sender_id"] != self.user_id
            and not m.get("deleted")
        )

    def _see(self, message: dict[str, Any], *, moves_cursor: bool) -> None:
        mid = int(message["id"])
        if mid not in self.seen:
            self.order.append(mid)
        elif (
            message.get("edited_at") is None
            and not message.get("deleted")
            and self.seen[mid].get("edited_at")
        ):
            return  # an older copy of an edited message (a look-back repeat) does not undo the edit
        self.seen[mid] = message
        if moves_cursor:
            self.cur_max = max(self.cur_max, mid)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send a well-formed frame (one malformed on purpose goes raw: `self.ws.send`)."""
        assert self.ws is not None
        frame_sent(frame)
        await self.ws.send(json.dumps(frame))

    async def request(self, frame: dict[str, Any], answer: str, *, wait: float = 10) -> dict[str, Any]:
        await self.send_frame(frame)
        return await self.next_frame(answer, wait=wait)

    async def next_frame(self, kind: str, *, wait: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(wait):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind:
                    return frame

    async def send(self, conversation_id: int, body: str) -> str:
        client_msg_id = uuid.uuid4().hex
        frame = {
            "type": "message.send",
            "conversation_id": conversation_id,
            "client_msg_id": client_msg_id,
            "body": body,
        }
        self.outbox[client_msg_id] = frame
        frame_sent(frame)
        if self.ws is not None:  # else it waits in the outbox for the next connection
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.ws.send(json.dumps(frame))
        return client_msg_id

    async def resend_outbox(self) -> None:
        assert self.ws is not None
        for frame in list(self.outbox.values()):
            await self.ws.send(json.dumps(frame))

    async def wait_acked(
        self, client_msg_ids: list[str], *, wait: float = 30, resend_every: float = 8
    ) -> None:
        """Wait until every send is acknowledged, resending the outbox now and then, and a send
        refused for now (`overloaded`, `unavailable`: it used no budget) once its retry_after_ms
        has passed, as a client does. A timeout says what is missing and what refused it."""
        handled = 0  # errors already looked at
        due: dict[str, float] = {}  # client_msg_id -> when to send it again
        try:
            async with asyncio.timeout(wait):
                waited = 0.0
                while any(c not in self.acks for c in client_msg_ids):
                    await asyncio.sleep(0.1)
                    for error in self.errors[handled:]:
                        if error["code"] in REFUSED_FOR_NOW and error.get("ref") in self.outbox:
                            due[error["ref"]] = time.monotonic() + error.get("retry_after_ms", 500) / 1000
                    handled = len(self.errors)
                    for cmid, at in list(due.items()):
                        if time.monotonic() >= at:
                            del due[cmid]
                            if cmid in self.outbox and self.ws is not None:
                                await self.ws.send(json.dumps(self.outbox[cmid]))
                    waited += 0.1
                    if waited >= resend_every:
                        waited = 0.0
                        await self.resend_outbox()
        except TimeoutError:
            missing = [c for c in client_msg_ids if c not in self.acks]
            refusals = [e for e in self.errors if e.get("ref") in missing]
            raise AssertionError(
                f"{len(missing)} of {len(client_msg_ids)} not acknowledged; their errors: {refusals[:5]}"
            ) from None

    async def sync(self) -> list[int]:
        """sync from cur_max_message_id; returns the IDs that were new to this device."""
        before = set(self.seen)
        await self.request({"type": "sync", "since": str(self.cur_max)}, "sync.done", wait=30)
        return sorted(set(self.seen) - before)

    async def wait_seen(self, ids: set[int], *, wait: float = 10) -> None:
        async with asyncio.timeout(wait):
            while not ids <= set(self.seen):  # noqa: ASYNC110  (polls state the reader task fills)
                await asyncio.sleep(0.05)

    async def wait_closed(self, *, wait: float = 10) -> int:
        async with asyncio.timeout(wait):
            while self.closed_with is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return self.closed_with

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        self.ws = None
