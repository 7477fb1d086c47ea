"""The cost of the change feed (pipeline only: the relay has no feed; docs/protocol.md, "The change
feed" and "Receipts").

1. **Rows per message**: one member sends `messages` messages, one every `interval` s, in a direct
   conversation and in a group of `group_size`, while every other member has a connected device
   that answers each `message.new` as a real client does, with a `delivered` frame and then a
   `read` frame; then the same with devices that answer nothing (the feed's own cost of a plain
   message: no change rows). The rows are counted in Cassandra through the store modules
   (`stack.feed_rows_count`): the conversation's rows, the members' inbox and mention rows, and
   their `changes_by_user` rows by kind.
2. **Catch-up of `missed` changes**: a device syncs once (its `cur_max_message_id`), goes offline;
   partners send it `missed / 2` messages over their sockets and each is edited once through the
   message service (`stack.messages_edit`: what the REST edit calls, without its per-user
   throttle), so `missed` entries wait in its feed. The device connects again and sends `sync`
   from its position: the time from that frame to the last `sync.done` (a `sync` again while the
   answer says `has_more`), `samples` times, within the socket's sync budget; then the same over
   `GET sync` (paged by `REST_PAGE`, the API's largest `limit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from bench import stack
from bench.client import Api, ChatConnection
from bench.measure import ms, percentile
from bench.stack import BenchUser, FeedPopulation

SYNC_FRAME_INTERVAL = 1.05  # s per sync frame: the socket's default budget is 10 per 10 s
REST_PAGE = 500  # the largest `limit` GET sync takes
QUIET_S = 3.0  # no receipt frame for this long: the receipts are done (some may not move a position)
WAIT_CAP_S = 90.0
SEND_RATE = 250.0  # msg/s of the catch-up's partners together


def _now_id() -> int:
    from chat.domain.snowflake import snowflake_min_for_time

    return snowflake_min_for_time(int(time.time() * 1000))


class Devices:
    """The scenario's connected devices: counts what each receives, and answers new messages
    with `delivered` then `read` while `acking` names their conversation."""

    def __init__(self) -> None:
        self.conns: dict[int, ChatConnection] = {}
        self.received: Counter[tuple[int, str, int]] = Counter()  # (user, frame type, conversation)
        self.acks: dict[int, list[tuple[int, int]]] = defaultdict(list)  # sender → (conversation, id)
        self.acking: int | None = None
        self.last_frame = time.perf_counter()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on_frame(self, conn: ChatConnection, frame: dict[str, Any], now: float) -> None:
        kind = str(frame.get("type", ""))
        if kind == "message.ack":
            self.acks[conn.user_id].append((int(frame["conversation_id"]), int(frame["message_id"])))
            return
        message = frame.get("message") if kind == "message.new" else None
        conversation_id = int(message["conversation_id"] if message else frame.get("conversation_id") or 0)
        self.received[(conn.user_id, kind, conversation_id)] += 1
        self.last_frame = now
        if message and conversation_id == self.acking and int(message["sender_id"]) != conn.user_id:
            task = asyncio.get_running_loop().create_task(self._acknowledge(conn, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, conn: ChatConnection, message: dict[str, Any]) -> None:
        """What a client with the conversation open does: delivered, then read (in this order
        on each socket)."""
        async with self._locks.setdefault(conn.user_id, asyncio.Lock()):
            with contextlib.suppress(Exception):
                await conn.send({"type": "delivered", "message_ids": [message["id"]]})
                await conn.send(
                    {
                        "type": "read",
                        "conversation_id": message["conversation_id"],
                        "message_id": message["id"],
                    }
                )

    async def open(self, api: Api, users: list[BenchUser]) -> None:
        gate = asyncio.Semaphore(16)

        async def one(user: BenchUser) -> None:
            async with gate:
                url, ticket = await api.chat_server(token=user.token)
                conn = ChatConnection(user_id=user.user_id, on_frame=self.on_frame)
                await conn.open(url, ticket)
                self.conns[user.user_id] = conn

        await asyncio.gather(*(one(u) for u in users))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.conns.values()), return_exceptions=True)
        self.conns.clear()

    def count(self, kind: str, conversation_id: int, user_ids: list[int]) -> int:
        return sum(self.received[(uid, kind, conversation_id)] for uid in user_ids)

    async def wait(self, done: Callable[[], bool], *, quiet: bool) -> bool:
        """Until `done()`; or, with `quiet`, until no frame came for QUIET_S; at most WAIT_CAP_S."""
        start = time.perf_counter()
        while not done():
            now = time.perf_counter()
            if now - start > WAIT_CAP_S or (quiet and now - max(start, self.last_frame) > QUIET_S):
                return False
            await asyncio.sleep(0.05)
        return True


def _per_message(rows: dict[str, Any], messages: int) -> dict[str, Any]:
    changes: dict[str, int] = rows["changes_by_user"]
    split = {
        "delivered": changes.get("delivered", 0),
        "read": changes.get("read", 0),
        "other": sum(n for k, n in changes.items() if k not in ("delivered", "read")),
    }
    tables = {
        "messages_by_conversation": rows["messages_by_conversation"],
        "messages_by_user": rows["messages_by_user"],
        "mentions_by_user": rows["mentions_by_user"],
    }
    total = sum(tables.values()) + sum(split.values())
    return {
        "rows": {**tables, "changes_by_user": split, "total": total},
        "per_message": {
            **{k: round(v / messages, 2) for k, v in tables.items()},
            "changes_by_user": {k: round(v / messages, 2) for k, v in split.items()},
            "total": round(total / messages, 2),
        },
    }


async def rows_per_message(
    devices: Devices,
    *,
    label: str,
    conversation: stack.Conversation,
    sender_id: int,
    messages: int,
    interval: float,
    receipts: bool,
) -> dict[str, Any]:
    """Send `messages` messages and count the rows they and their receipts left in Cassandra."""
    members = list(conversation.member_ids)
    others = [uid for uid in members if uid != sender_id]
    cid = conversation.id
    since = _now_id()
    before = {k: devices.count(k, cid, [sender_id]) for k in ("delivered", "read")}
    got_before = devices.count("message.new", cid, others)
    devices.acking = cid if receipts else None
    sender = devices.conns[sender_id]
    tag = f"feed-{since}-{int(receipts)}"
    for i in range(messages):
        await sender.send_message(
            {
                "type": "message.send",
                "conversation_id": cid,
                "client_msg_id": f"{tag}-{i}",
                "body": f"{label} {i}",
            }
        )
        await asyncio.sleep(interval)
    sent_at = time.perf_counter()
    expected = messages * len(others)

    def receipts_in() -> bool:
        return all(devices.count(k, cid, [sender_id]) - before[k] >= expected for k in before)

    complete = await devices.wait(
        lambda: not sender.outbox and devices.count("message.new", cid, others) - got_before >= expected,
        quiet=False,
    )
    if receipts:
        complete = await devices.wait(receipts_in, quiet=True) and complete
    settle_s = time.perf_counter() - sent_at
    devices.acking = None
    rows = await asyncio.to_thread(stack.feed_rows_count, user_ids=members, conversation_id=cid, since=since)
    return {
        "conversation": label,
        "members": len(members),
        "receipts": receipts,
        "messages": messages,
        "complete": complete,
        "settle_s": round(settle_s, 2),
        "receipt_entries_to_sender": {k: devices.count(k, cid, [sender_id]) - before[k] for k in before},
        **_per_message(rows, messages),
    }


async def _ws_sync(conn: ChatConnection, since: int) -> tuple[float, int, list[dict[str, Any]], int]:
    """One catch-up over the socket from `since`: seconds from the first `sync` to the last
    `sync.done`, sync frames sent, the entries, and the position after it."""
    entries: list[dict[str, Any]] = []
    frames = 0
    batches: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_frame(_conn: ChatConnection, frame: dict[str, Any], _now: float) -> None:
        if str(frame.get("type", "")).startswith("sync."):
            batches.put_nowait(frame)

    conn.on_frame = on_frame
    start = time.perf_counter()
    position = since
    while True:
        frames += 1
        await conn.send({"type": "sync", "since": str(position)})
        has_more = False
        while True:
            frame = await asyncio.wait_for(batches.get(), timeout=60)
            if frame["type"] == "sync.batch":
                entries += frame["entries"]
                has_more = bool(frame["has_more"])
            elif frame["type"] == "sync.done":
                position = int(frame["cur_max_message_id"])
                break
            else:  # sync.reset_required: not expected within the retention
                raise RuntimeError(f"catch-up answered {frame['type']}")
        if not has_more:
            return time.perf_counter() - start, frames, entries, position


async def _rest_sync(api: Api, token: str, since: int) -> tuple[float, int, list[dict[str, Any]]]:
    """One catch-up over `GET sync` from `since`, paged: seconds, pages, entries."""
    entries: list[dict[str, Any]] = []
    pages = 0
    start = time.perf_counter()
    while True:
        page = await api.call("GET", f"sync?since={since}&limit={REST_PAGE}", token=token)
        pages += 1
        entries += page["entries"]
        since = int(page["cur_max_message_id"])
        if not page["has_more"]:
            return time.perf_counter() - start, pages, entries


def _entries_summary(entries: list[dict[str, Any]], position: int) -> dict[str, Any]:
    unique = {e["feed_id"]: e["type"] for e in entries}
    after = {f: t for f, t in unique.items() if int(f) > position}
    return {
        "received": len(entries),
        "unique": len(unique),
        "after_position": len(after),
        "by_type": dict(Counter(after.values())),
    }


def _timing(times: list[float]) -> dict[str, Any]:
    return {"samples": len(times), "p50_ms": ms(percentile(times, 50)), "p99_ms": ms(percentile(times, 99))}


async def catch_up(
    devices: Devices, api: Api, pop: FeedPopulation, *, missed: int, samples: int
) -> dict[str, Any]:
    """A device offline while `missed` changes enter its feed, then its catch-up, timed."""
    user = pop.catch_up_user
    offline = Devices()
    await offline.open(api, [user])
    _, _, _, position = await _ws_sync(offline.conns[user.user_id], _now_id())
    await offline.close()  # the device's cur_max_message_id is `position`; it is offline now

    per_partner = max(1, missed // 2 // len(pop.partners))
    acks_before = {p.user_id: len(devices.acks[p.user_id]) for p, _ in pop.partners}
    for i in range(per_partner):
        for p, cid in pop.partners:
            await devices.conns[p.user_id].send_message(
                {
                    "type": "message.send",
                    "conversation_id": cid,
                    "client_msg_id": f"feed-cu-{position}-{i}",
                    "body": f"catch-up {i}",
                }
            )
        await asyncio.sleep(len(pop.partners) / SEND_RATE)
    await devices.wait(lambda: all(not devices.conns[p.user_id].outbox for p, _ in pop.partners), quiet=False)
    edits = [
        (p.user_id, cid, mid)
        for p, _ in pop.partners
        for cid, mid in devices.acks[p.user_id][acks_before[p.user_id] :]
    ]
    edit_s = await asyncio.to_thread(stack.messages_edit, edits=edits)
    sent = len(edits)

    online = Devices()
    await online.open(api, [user])
    conn = online.conns[user.user_id]
    ws_times: list[float] = []
    ws_frames: list[int] = []
    ws_entries: dict[str, Any] = {}
    for _ in range(samples):
        took, frames, entries, _ = await _ws_sync(conn, position)
        ws_times.append(took)
        ws_frames.append(frames)
        ws_entries = _entries_summary(entries, position)
        await asyncio.sleep(max(0.0, frames * SYNC_FRAME_INTERVAL - took))  # the sync budget
    await online.close()
    rest_times: list[float] = []
    rest_pages: list[int] = []
    rest_entries: dict[str, Any] = {}
    for _ in range(samples):
        took, pages, entries = await _rest_sync(api, user.token, position)
        rest_times.append(took)
        rest_pages.append(pages)
        rest_entries = _entries_summary(entries, position)
    return {
        "messages_sent": sent,
        "messages_edited": len(edits),
        "changes_missed": 2 * sent,
        "edit_s": round(edit_s, 2),
        "ws": {**_timing(ws_times), "sync_frames": max(ws_frames), "entries": ws_entries},
        "rest": {
            **_timing(rest_times),
            "page_limit": REST_PAGE,
            "pages": max(rest_pages),
            "entries": rest_entries,
        },
    }


async def feed_cost(
    *, api: Api, pop: FeedPopulation, messages: int, interval: float, missed: int, samples: int
) -> dict[str, Any]:
    """Rows per message (1:1 and the group, with and without receipts), then the catch-up."""
    devices = Devices()
    await devices.open(api, pop.members)
    try:
        sender_id = pop.members[0].user_id
        rows = [
            await rows_per_message(
                devices,
                label=label,
                conversation=conversation,
                sender_id=sender_id,
                messages=messages,
                interval=interval,
                receipts=receipts,
            )
            for receipts in (True, False)
            for label, conversation in (("1:1", pop.direct), (f"group of {len(pop.members)}", pop.group))
        ]
        return {"rows": rows, "catch_up": await catch_up(devices, api, pop, missed=missed, samples=samples)}
    finally:
        await devices.close()
