"""Clients that ride out faults as a real app does, and the load the fault tests put on the stack.

A `Member` is a `Device` (tests/chat_client.py) with a keeper task: when its socket closes it asks
discovery for a chat server again and reconnects (retrying while the service is down), catches
up (`sync` until nothing more is waiting) and resends its outbox with the same client_msg_ids;
while connected it resends what has waited for an ack longer than RESEND_AFTER seconds (a send
refused with `overloaded` or `unavailable`, or lost with a worker), and catches up when the chat
server says it dropped live frames (`live.gap`). Its cursor moves with what a sync brings only.
Nothing here gives up before its deadline, and everything stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.chat_client import PASSWORD, Account, Device, register
from tests.stack import Stack, api_call

RESEND_AFTER = 4.0  # seconds a send waits for its ack before the outbox sends it again
RECONNECT_DEADLINE = 90.0  # seconds a member keeps trying to reconnect before the test fails


def group(stack: Stack, owner: Account, members: Sequence[Account], title: str) -> int:
    status, body = api_call(
        stack.api,
        "POST",
        "conversations",
        {"type": "group", "title": title, "member_ids": [m.user_id for m in members]},
        owner.token,
    )
    assert status == 201, body
    return int(body["id"])


class Member:
    """A device that keeps itself connected, caught up and its outbox sent (module docstring)."""

    def __init__(self, stack: Stack, account: Account, name: str) -> None:
        self.account = account
        self.device = Device.login(api=stack.api, username=account.username, password=PASSWORD, name=name)
        self.sent_at: dict[str, float] = {}  # client_msg_id -> when it was last (re)sent
        self.sent: list[str] = []  # every client_msg_id sent, in order
        self.first_sent: dict[str, float] = {}  # client_msg_id -> when it was first sent
        self.conversation_of: dict[str, int] = {}  # client_msg_id -> its conversation
        self.connects = 0
        self.url: str | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._syncing = asyncio.Lock()  # one catch-up at a time: each waits for its own sync.done
        self._gaps_seen = 0  # live.gap frames already answered with a catch-up

    @property
    def name(self) -> str:
        return self.device.name

    async def start(self, url: str | None = None) -> None:
        """Connect (to `url`, or where discovery says) and keep connected from now on."""
        self.url = await self.device.connect(url)
        self.connects += 1
        self._keeper = asyncio.create_task(self._keep())

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self.device.close()

    async def send(self, conversation_id: int, body: str) -> str:
        cmid = await self.device.send(conversation_id, body)
        self.sent.append(cmid)
        self.conversation_of[cmid] = conversation_id
        self.sent_at[cmid] = self.first_sent[cmid] = time.monotonic()
        return cmid

    def connected(self) -> bool:
        return self.device.ws is not None and self.device.closed_with is None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            try:
                if not self.connected():
                    await self._reconnect()
                else:
                    if self.device.gaps > self._gaps_seen:  # the server dropped live frames
                        self._gaps_seen = self.device.gaps
                        await self.catch_up()
                    await self._resend(older_than=RESEND_AFTER)
            except asyncio.CancelledError:
                raise
            except Exception:  # the socket went away mid-step: the next turn reconnects
                continue

    async def _reconnect(self) -> None:
        deadline = time.monotonic() + RECONNECT_DEADLINE
        while True:
            with contextlib.suppress(Exception):
                await self.device.close()
            try:
                self.url = await self.device.connect()  # through discovery
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self.connects += 1
        await self.catch_up()
        await self._resend(older_than=0.0)

    async def _resend(self, *, older_than: float) -> None:
        now = time.monotonic()
        ws = self.device.ws
        assert ws is not None
        for cmid, frame in list(self.device.outbox.items()):
            if now - self.sent_at.get(cmid, 0.0) >= older_than:
                self.sent_at[cmid] = now
                await ws.send(json.dumps(frame))

    async def catch_up(self) -> None:
        """`sync` from cur_max_message_id until the server has nothing more (every page). A `sync`
        answered by an error frame instead (a store or Redis call that failed just after a fault)
        is asked again, as a client does, at most twice; a sync that gets no answer at all fails."""
        async with self._syncing:
            await self._catch_up()

    async def _catch_up(self) -> None:
        retries = 2
        while True:
            _drain(self.device.frames)  # answers of requests that timed out must not answer this one
            errors_before = len(self.device.errors)
            try:
                await self.device.sync()
            except TimeoutError:
                if retries == 0 or len(self.device.errors) == errors_before:
                    raise
                retries -= 1
                print(f"sync answered by {self.device.errors[errors_before:]}: asked again")
                continue
            if not self.device.sync_has_more:
                return

    async def settle(self, *, wait: float) -> None:
        """Wait until every send is acknowledged (the keeper resends meanwhile)."""
        async with asyncio.timeout(wait):
            while self.device.outbox:  # noqa: ASYNC110  (the reader task empties it)
                await asyncio.sleep(0.1)


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()


async def members_start(members: Sequence[Member], url: str | None = None) -> None:
    for member in members:
        await member.start(url)


async def members_stop(members: Sequence[Member]) -> None:
    await asyncio.gather(*(m.stop() for m in members))


@dataclass
class Traffic:
    """Senders each writing to their conversation at a steady pace, until `count` messages in
    all or until stopped."""

    senders: Sequence[tuple[Member, int]]  # (member, conversation id)
    rate: float  # messages per second, all senders together
    count: int
    body_size: int = 40

    def __post_init__(self) -> None:
        self.stopped = asyncio.Event()
        self.started_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = 1 / self.rate
        pad = "x" * max(0, self.body_size - 12)
        for n in range(self.count):
            if self.stopped.is_set():
                return
            member, conversation_id = self.senders[n % len(self.senders)]
            await member.send(conversation_id, f"m{n} {pad}")
            due = self.started_at + (n + 1) * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def finish(self) -> None:
        """Wait until every message of the run has been sent."""
        assert self._task is not None
        await self._task

    async def stop(self) -> None:
        self.stopped.set()
        await self.finish()


def first_ack_after(members: Sequence[Member], moment: float) -> float | None:
    """Seconds from `moment` (the end of a fault) to the first ack of a message that `members`
    first sent after it: how long the service took to take new messages again."""
    times = [t for m in members for c, t in m.device.ack_times.items() if m.first_sent.get(c, 0.0) >= moment]
    return round(min(times) - moment, 2) if times else None


@dataclass
class Crowd:
    """Groups of senders and one receiving member each: every member device is checked at the end."""

    senders: list[Member]
    receivers: list[Member]
    conversations: dict[int, list[Member]]  # conversation id -> its member devices
    sending: list[tuple[Member, int]]  # each sender with its conversation

    @property
    def members(self) -> list[Member]:
        return self.senders + self.receivers

    async def connect(self, *, sender_url: str | None, receiver_url: str | None) -> None:
        await members_start(self.senders, sender_url)
        await members_start(self.receivers, receiver_url)

    async def stop(self) -> None:
        await members_stop(self.members)


def _crowd(stack: Stack, *, prefix: str, groups: int, senders_per_group: int) -> Crowd:
    crowd = Crowd(senders=[], receivers=[], conversations={}, sending=[])
    for g in range(groups):
        receiver = register(stack, f"{prefix}r")
        senders = [register(stack, f"{prefix}s") for _ in range(senders_per_group)]
        conversation_id = group(stack, receiver, senders, f"{prefix} {g}")
        receiving = Member(stack, receiver, f"{prefix}-r{g}")
        sending = [Member(stack, s, f"{prefix}-s{g}.{n}") for n, s in enumerate(senders)]
        crowd.receivers.append(receiving)
        crowd.senders.extend(sending)
        crowd.sending.extend((s, conversation_id) for s in sending)
        crowd.conversations[conversation_id] = [receiving, *sending]
    return crowd


async def crowd_connected(
    stack: Stack,
    *,
    prefix: str,
    groups: int,
    senders_per_group: int,
    sender_url: str | None = None,
    receiver_url: str | None = None,
) -> Crowd:
    """New users in `groups` groups, each of `senders_per_group` senders and one receiver, every
    one's device connected (senders to `sender_url`, receivers to `receiver_url`, or where
    discovery says) and kept connected."""
    crowd = await asyncio.to_thread(
        _crowd, stack, prefix=prefix, groups=groups, senders_per_group=senders_per_group
    )
    await crowd.connect(sender_url=sender_url, receiver_url=receiver_url)
    return crowd
