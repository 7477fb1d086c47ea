"""Snowflake message IDs: unique, 64-bit, and ordered by time (DESIGN.md §4).

Layout, high bit to low: sign 0, 41 bits of milliseconds since `EPOCH_MS` (2024-01-01 UTC, good
until 2093), 10 bits of worker id, 12 bits of sequence (4,096 IDs per millisecond per worker).
`SnowflakeGenerator` is the arithmetic: it never issues an ID smaller than one it issued before —
when the clock steps back it waits for it to catch up, and when a millisecond's sequence runs out
it waits for the next millisecond. Both waits are returned as durations by one locked step, so the
blocking API sleeps and the asyncio API awaits; the lock is never held while waiting.

`snowflake_next_id()` / `snowflake_next_id_async()` use the process's generator, whose worker id
is leased from Redis (`chat.domain.worker_lease`) on first use, renewed by a daemon thread, released at
exit, and claimed again in a forked child. In JSON an ID is a decimal string.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from chat.domain.worker_lease import WorkerLeaseError, WorkerLeaseHolder
from chatproject.redis_client import get_redis

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z; never change it: IDs would stop sorting by time
TIMESTAMP_BITS = 41
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER_ID = (1 << WORKER_BITS) - 1
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
MAX_TIMESTAMP = (1 << TIMESTAMP_BITS) - 1
TIMESTAMP_SHIFT = WORKER_BITS + SEQUENCE_BITS
MAX_ID = (1 << 63) - 1


class ClockMovedBackwards(RuntimeError):
    """The wall clock went back further than SNOWFLAKE_MAX_CLOCK_BACKWARD_MS: no ID is issued."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def snowflake_compose(*, timestamp_ms: int, worker_id: int, sequence: int) -> int:
    """The ID made of a Unix time in ms, a worker id and a sequence number."""
    elapsed = timestamp_ms - EPOCH_MS
    if not 0 <= elapsed <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp_ms} is outside the Snowflake range")
    if not 0 <= worker_id <= MAX_WORKER_ID:
        raise ValueError(f"worker id {worker_id} is outside 0..{MAX_WORKER_ID}")
    if not 0 <= sequence <= SEQUENCE_MASK:
        raise ValueError(f"sequence {sequence} is outside 0..{SEQUENCE_MASK}")
    return (elapsed << TIMESTAMP_SHIFT) | (worker_id << SEQUENCE_BITS) | sequence


def snowflake_timestamp_ms(snowflake_id: int) -> int:
    """The Unix time in milliseconds at which `snowflake_id` was made."""
    return (snowflake_id >> TIMESTAMP_SHIFT) + EPOCH_MS


def snowflake_worker_id(snowflake_id: int) -> int:
    return (snowflake_id >> SEQUENCE_BITS) & MAX_WORKER_ID


def snowflake_min_for_time(timestamp_ms: int) -> int:
    """The smallest ID of the millisecond `timestamp_ms` (0 before the epoch): a time-window bound."""
    elapsed = min(max(timestamp_ms - EPOCH_MS, 0), MAX_TIMESTAMP)
    return elapsed << TIMESTAMP_SHIFT


class SnowflakeGenerator:
    """IDs of one worker id, strictly increasing; thread-safe.

    Args:
        worker_id: 0..1023, owned by this generator alone (leased).
        not_before_ms: start after this millisecond (the lease's high-water mark).
        clock_ms: Unix time in ms (injectable for tests).
        sleep: the blocking wait used by `next_id` (injectable for tests).
        max_backward_ms: how far back the clock may step before `ClockMovedBackwards` is raised
            instead of waiting.
    """

    def __init__(
        self,
        *,
        worker_id: int,
        not_before_ms: int = 0,
        clock_ms: Callable[[], int] = wall_clock_ms,
        sleep: Callable[[float], None] = time.sleep,
        max_backward_ms: int = 5_000,
    ) -> None:
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker id {worker_id} is outside 0..{MAX_WORKER_ID}")
        self.worker_id = worker_id
        self._clock = clock_ms
        self._sleep = sleep
        self._max_backward_ms = max_backward_ms
        self._lock = threading.Lock()
        # "the sequence of not_before_ms is used up": the first ID comes from a later millisecond
        self._last_ms = max(not_before_ms, EPOCH_MS - 1)
        self._sequence = SEQUENCE_MASK

    @property
    def last_timestamp_ms(self) -> int:
        """The millisecond of the newest ID issued (or of the starting point)."""
        return self._last_ms

    def _reserve(self, count: int) -> tuple[list[int], float]:
        """Up to `count` IDs now, or none and how many seconds to wait before trying again."""
        with self._lock:
            now = self._clock()
            if now < self._last_ms:
                behind = self._last_ms - now
                if behind > self._max_backward_ms:
                    raise ClockMovedBackwards(f"the clock is {behind} ms behind the last ID issued")
                return [], behind / 1000
            if now > self._last_ms:
                self._last_ms, self._sequence = now, -1
            free = SEQUENCE_MASK - self._sequence
            if free == 0:
                return [], 0.001  # this millisecond is used up: the next one is at most 1 ms away
            take = min(count, free)
            first = self._sequence + 1
            self._sequence += take
            base = snowflake_compose(timestamp_ms=now, worker_id=self.worker_id, sequence=0)
            return [base | seq for seq in range(first, first + take)], 0.0

    def next_ids(self, *, count: int) -> list[int]:
        """`count` new IDs, ascending, blocking for as long as the clock requires."""
        out: list[int] = []
        while len(out) < count:
            ids, wait = self._reserve(count - len(out))
            out.extend(ids)
            if wait:
                self._sleep(wait)
        return out

    def next_id(self) -> int:
        return self.next_ids(count=1)[0]

    async def next_ids_async(self, *, count: int) -> list[int]:
        """As `next_ids`, awaiting instead of sleeping: the event loop is never blocked."""
        out: list[int] = []
        while len(out) < count:
            ids, wait = self._reserve(count - len(out))
            out.extend(ids)
            if wait:
                await asyncio.sleep(wait)
        return out

    async def next_id_async(self) -> int:
        return (await self.next_ids_async(count=1))[0]


@dataclass
class _ProcessIds:
    pid: int
    holder: WorkerLeaseHolder
    generator: SnowflakeGenerator


_state: _ProcessIds | None = None
_state_lock = threading.Lock()


def _new_generator(holder: WorkerLeaseHolder, after_ms: int) -> SnowflakeGenerator:
    lease = holder.acquire()
    return SnowflakeGenerator(
        worker_id=lease.worker_id,
        not_before_ms=max(lease.high_water_ms, after_ms),
        max_backward_ms=settings.SNOWFLAKE_MAX_CLOCK_BACKWARD_MS,
    )


def _release_at_exit(state: _ProcessIds) -> None:
    if state.pid == os.getpid():  # a forked child inherits the handler, not the lease
        # exiting anyway: if Redis is unreachable the lease expires by itself
        with contextlib.suppress(Exception):
            state.holder.release(high_water_ms=state.generator.last_timestamp_ms)


def _process_generator() -> SnowflakeGenerator:
    """This process's generator, with a lease that is currently trusted (claims or renews it)."""
    global _state
    state = _state
    if state is not None and state.pid == os.getpid() and state.holder.is_valid():
        return state.generator
    with _state_lock:
        state = _state
        if state is None or state.pid != os.getpid():
            holder = WorkerLeaseHolder(client=get_redis(), ttl_ms=settings.SNOWFLAKE_LEASE_TTL_MS)
            fresh = _ProcessIds(pid=os.getpid(), holder=holder, generator=_new_generator(holder, 0))
            holder.start_renewing(high_water=lambda: fresh.generator.last_timestamp_ms)
            atexit.register(_release_at_exit, fresh)
            _state = state = fresh
        elif not state.holder.is_valid():
            last = state.generator.last_timestamp_ms
            if not state.holder.renew(high_water_ms=last):
                # lost (expired while renewals failed): take any free id, continuing after `last`
                # so that this process's IDs still only grow
                state.generator = _new_generator(state.holder, last)
        return state.generator


def snowflake_next_id() -> int:
    """A new ID from this process's leased generator."""
    return _process_generator().next_id()


def snowflake_next_ids(*, count: int) -> list[int]:
    return _process_generator().next_ids(count=count)


async def snowflake_next_ids_async(*, count: int) -> list[int]:
    """As `snowflake_next_ids`, for asyncio code: Redis lease I/O runs in a thread."""
    state = _state
    if state is not None and state.pid == os.getpid() and state.holder.is_valid():
        generator = state.generator
    else:
        generator = await asyncio.to_thread(_process_generator)
    return await generator.next_ids_async(count=count)


async def snowflake_next_id_async() -> int:
    return (await snowflake_next_ids_async(count=1))[0]


def snowflake_reset() -> None:
    """Give back this process's worker id; the next ID claims a new lease (tests, shutdown)."""
    global _state
    with _state_lock:
        state, _state = _state, None
    if state is not None and state.pid == os.getpid():
        state.holder.release(high_water_ms=state.generator.last_timestamp_ms)


__all__ = [
    "EPOCH_MS",
    "MAX_ID",
    "ClockMovedBackwards",
    "SnowflakeGenerator",
    "WorkerLeaseError",
    "snowflake_compose",
    "snowflake_min_for_time",
    "snowflake_next_id",
    "snowflake_next_id_async",
    "snowflake_next_ids",
    "snowflake_next_ids_async",
    "snowflake_reset",
    "snowflake_timestamp_ms",
    "snowflake_worker_id",
]
