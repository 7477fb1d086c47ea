"""Snowflake IDs: layout, monotonicity, clock steps, concurrency, and Redis-leased worker ids."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from chat.domain.snowflake import (
    EPOCH_MS,
    MAX_WORKER_ID,
    SEQUENCE_MASK,
    ClockMovedBackwards,
    SnowflakeGenerator,
    snowflake_compose,
    snowflake_min_for_time,
    snowflake_next_id,
    snowflake_next_id_async,
    snowflake_reset,
    snowflake_timestamp_ms,
    snowflake_worker_id,
)
from chat.domain.worker_lease import WorkerLeaseError, WorkerLeaseHolder
from chatproject.redis_client import get_redis

T0 = EPOCH_MS + 10_000_000


class FakeClock:
    """A wall clock the test moves; `sleep` advances it by the time slept (rounded up to 1 ms)."""

    def __init__(self, start: int = T0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(1, int(seconds * 1000 + 0.999))


@pytest.fixture
def lease_prefix() -> Iterator[str]:
    prefix = f"test:snowflake:{uuid.uuid4().hex}:"
    yield prefix
    client = get_redis()
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _holder(prefix: str, *, pool_size: int = 1024, ttl_ms: int = 5_000) -> WorkerLeaseHolder:
    return WorkerLeaseHolder(client=get_redis(), ttl_ms=ttl_ms, pool_size=pool_size, key_prefix=prefix)


def test_layout_round_trips() -> None:
    """Timestamp, worker id and sequence can be read back; the sign bit stays 0."""
    sid = snowflake_compose(timestamp_ms=T0 + 5, worker_id=MAX_WORKER_ID, sequence=SEQUENCE_MASK)
    assert sid > 0
    assert sid < 1 << 63
    assert snowflake_timestamp_ms(sid) == T0 + 5
    assert snowflake_worker_id(sid) == MAX_WORKER_ID
    assert sid & SEQUENCE_MASK == SEQUENCE_MASK
    with pytest.raises(ValueError, match="worker id"):
        snowflake_compose(timestamp_ms=T0, worker_id=MAX_WORKER_ID + 1, sequence=0)
    with pytest.raises(ValueError, match="outside the Snowflake range"):
        snowflake_compose(timestamp_ms=EPOCH_MS - 1, worker_id=0, sequence=0)


@given(
    ms=st.integers(min_value=EPOCH_MS, max_value=EPOCH_MS + (1 << 41) - 2),
    worker=st.integers(0, MAX_WORKER_ID),
    seq=st.integers(0, SEQUENCE_MASK),
)
def test_min_for_time_bounds_every_id_of_that_millisecond(ms: int, worker: int, seq: int) -> None:
    """Every ID of millisecond t lies in [min_for_time(t), min_for_time(t + 1))."""
    sid = snowflake_compose(timestamp_ms=ms, worker_id=worker, sequence=seq)
    assert snowflake_min_for_time(ms) <= sid < snowflake_min_for_time(ms + 1)
    assert snowflake_timestamp_ms(snowflake_min_for_time(ms)) == ms


def test_min_for_time_before_epoch_is_zero() -> None:
    """A time before the epoch bounds nothing out."""
    assert snowflake_min_for_time(0) == 0


@given(steps=st.lists(st.integers(min_value=-40, max_value=30), min_size=1, max_size=300))
def test_ids_strictly_increase_whatever_the_clock_does(steps: list[int]) -> None:
    """Per generator IDs strictly increase while the clock jumps forward, stalls and steps back."""
    clock = FakeClock()
    gen = SnowflakeGenerator(worker_id=7, clock_ms=clock, sleep=clock.sleep)
    last = 0
    for step in steps:
        clock.now += step
        sid = gen.next_id()
        assert sid > last
        assert snowflake_worker_id(sid) == 7
        # an ID is never stamped later than the clock reads when it is issued
        assert snowflake_timestamp_ms(sid) <= clock.now
        last = sid


def test_clock_stepping_back_waits_instead_of_going_backwards() -> None:
    """After the clock steps back 20 ms, the generator waits for it; the next ID is still larger."""
    clock = FakeClock()
    gen = SnowflakeGenerator(worker_id=1, clock_ms=clock, sleep=clock.sleep)
    first = gen.next_id()
    clock.now -= 20
    second = gen.next_id()
    assert second > first
    assert snowflake_timestamp_ms(second) >= snowflake_timestamp_ms(first)
    assert sum(clock.slept) >= 0.020


def test_large_clock_step_back_refuses_to_issue() -> None:
    """A step back beyond the allowed wait raises instead of blocking for minutes or going back."""
    clock = FakeClock()
    gen = SnowflakeGenerator(worker_id=1, clock_ms=clock, sleep=clock.sleep, max_backward_ms=100)
    gen.next_id()
    clock.now -= 101
    with pytest.raises(ClockMovedBackwards):
        gen.next_id()


def test_sequence_overflow_waits_for_the_next_millisecond() -> None:
    """4,096 IDs fit in one millisecond; the 4,097th waits for the clock and is still unique."""
    clock = FakeClock()
    gen = SnowflakeGenerator(worker_id=3, clock_ms=clock, sleep=clock.sleep)
    ids = gen.next_ids(count=SEQUENCE_MASK + 2)
    assert ids == sorted(set(ids))
    assert {snowflake_timestamp_ms(i) for i in ids[: SEQUENCE_MASK + 1]} == {T0}
    assert snowflake_timestamp_ms(ids[-1]) == T0 + 1
    assert clock.slept  # it waited rather than reuse a sequence number


def test_not_before_starts_after_the_previous_holders_high_water_mark() -> None:
    """A generator taking over a worker id starts after the millisecond its predecessor reported."""
    clock = FakeClock()
    gen = SnowflakeGenerator(worker_id=5, not_before_ms=T0 + 3, clock_ms=clock, sleep=clock.sleep)
    assert snowflake_timestamp_ms(gen.next_id()) == T0 + 4


async def test_async_ids_wait_without_blocking_the_loop() -> None:
    """The asyncio path awaits a clock step back; the blocking sleep is never called."""
    readings = iter([T0, T0 - 5, T0 - 3, T0, T0 + 1])

    def blocking_sleep(_: float) -> None:
        raise AssertionError("the event loop was blocked")

    gen = SnowflakeGenerator(worker_id=2, clock_ms=lambda: next(readings), sleep=blocking_sleep)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    first = await gen.next_id_async()
    second = await gen.next_id_async()
    task.cancel()
    assert second > first
    assert ticks > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    workers=st.integers(min_value=2, max_value=8),
    per_thread=st.integers(min_value=1, max_value=3000),
)
def test_ids_unique_across_concurrent_generators(lease_prefix: str, workers: int, per_thread: int) -> None:
    """Generators on leased worker ids, run on threads at once, never issue the same ID."""
    holders = [_holder(lease_prefix) for _ in range(workers)]
    gens = [SnowflakeGenerator(worker_id=h.acquire().worker_id) for h in holders]
    results: list[list[int]] = [[] for _ in gens]
    barrier = threading.Barrier(workers)

    def run(index: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            results[index].append(gens[index].next_id())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in holders:
        h.release()
    every = [i for r in results for i in r]
    assert len(every) == len(set(every)) == workers * per_thread
    for r in results:
        assert r == sorted(r)


@given(
    skews=st.lists(st.integers(min_value=-50, max_value=50), min_size=2, max_size=6),
    schedule=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20)), min_size=2, max_size=200),
)
def test_time_order_across_generators_within_clock_skew(
    skews: list[int], schedule: list[tuple[int, int]]
) -> None:
    """An ID made more than the clock skew after another, on any generator, is the larger one."""
    true_now = T0
    gens = []
    for worker, skew in enumerate(skews):

        def clock(skew: int = skew) -> int:
            return true_now + skew

        def sleep(seconds: float) -> None:
            nonlocal true_now
            true_now += max(1, int(seconds * 1000 + 0.999))

        gens.append(SnowflakeGenerator(worker_id=worker, clock_ms=clock, sleep=sleep))
    max_skew = max(skews) - min(skews)
    issued: list[tuple[int, int]] = []  # (true time when issued, id)
    for which, advance in schedule:
        true_now += advance
        gen = gens[which % len(gens)]
        issued.append((true_now, gen.next_id()))
    for time_a, id_a in issued:
        for time_b, id_b in issued:
            if time_b - time_a > max_skew:
                assert id_a < id_b


def test_lease_claims_are_distinct_under_contention(lease_prefix: str) -> None:
    """Threads claiming from a small pool at once get distinct ids; the pool running out is an error."""
    holders = [_holder(lease_prefix, pool_size=6) for _ in range(10)]
    got: dict[int, int] = {}
    failures: list[int] = []
    barrier = threading.Barrier(len(holders))

    def claim(index: int) -> None:
        barrier.wait()
        try:
            got[index] = holders[index].acquire().worker_id
        except WorkerLeaseError:
            failures.append(index)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(holders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got.values()) == list(range(6))
    assert len(failures) == 4


def test_lease_high_water_mark_passes_to_the_next_holder(lease_prefix: str) -> None:
    """The newest millisecond reported at release is where the next holder of that id starts."""
    first = _holder(lease_prefix, pool_size=1)
    assert first.acquire().worker_id == 0
    first.release(high_water_ms=T0 + 42)
    second = _holder(lease_prefix, pool_size=1)
    lease = second.acquire()
    assert (lease.worker_id, lease.high_water_ms) == (0, T0 + 42)
    second.release()


def test_renewal_keeps_a_lease_and_a_lost_lease_is_noticed(lease_prefix: str) -> None:
    """The renewing thread keeps the lease past its ttl; a lease taken over is reported lost."""
    holder = _holder(lease_prefix, pool_size=1, ttl_ms=300)
    holder.acquire()
    holder.start_renewing(high_water=lambda: T0)
    time.sleep(0.8)
    assert holder.is_valid()
    holder.release()
    # a holder that stopped renewing stops trusting its lease before Redis lets anyone else in
    paused = _holder(lease_prefix, pool_size=1, ttl_ms=200)
    paused.acquire()
    time.sleep(0.25)
    assert not paused.is_valid()
    other = _holder(lease_prefix, pool_size=1, ttl_ms=5_000)
    assert other.acquire().worker_id == 0
    assert paused.renew() is False
    other.release()


class LeaseMachine(RuleBasedStateMachine):
    """Holders claim, renew, release and crash against real Redis; trusted leases never overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"test:snowflake:{uuid.uuid4().hex}:"
        self.client: redis.Redis = get_redis()
        self.live: list[WorkerLeaseHolder] = []

    holders = Bundle("holders")

    @rule(target=holders)
    def claim(self) -> WorkerLeaseHolder | None:
        holder = WorkerLeaseHolder(client=self.client, ttl_ms=150, pool_size=3, key_prefix=self.prefix)
        # read before the claim: nothing here creates a key between this read and the claim, keys
        # only expire, so a claim refused means every key existed at this read (read after the
        # claim, a 150 ms key may have expired in between: a CI run's stall did just that)
        held_before = [bool(self.client.exists(f"{self.prefix}{i}")) for i in range(3)]
        try:
            holder.acquire()
        except WorkerLeaseError:
            assert all(held_before), held_before  # only when every id is really held in Redis
            return None
        self.live.append(holder)
        return holder

    @rule(holder=holders)
    def renew(self, holder: WorkerLeaseHolder | None) -> None:
        if holder is not None:
            holder.renew()

    @rule(holder=consumes(holders))
    def release(self, holder: WorkerLeaseHolder | None) -> None:
        if holder is not None:
            holder.release()
            self.live.remove(holder)

    @rule(holder=consumes(holders))
    def crash(self, holder: WorkerLeaseHolder | None) -> None:
        """The process dies without releasing: its key stays until it expires."""
        if holder is not None:
            self.live.remove(holder)

    @rule(ms=st.sampled_from([20, 80, 200]))
    def wait(self, ms: int) -> None:
        time.sleep(ms / 1000)

    @invariant()
    def trusted_leases_are_exclusive_and_really_held(self) -> None:
        trusted: dict[int, WorkerLeaseHolder] = {}
        for holder in self.live:
            # Redis first, then the holder: a holder that still trusts its lease after the read
            # trusted it at the read too (nothing renews a lease inside this check, trust only
            # runs out), whereas the other order lets a stall of the test process (150 ms leases,
            # 15 ms of margin) expire the key between the check and the read
            try:
                worker_id = holder.worker_id
            except WorkerLeaseError:
                continue  # it holds no id (a renewal found its lease gone)
            held = self.client.get(f"{self.prefix}{worker_id}")
            if not holder.is_valid():
                continue
            assert worker_id not in trusted
            trusted[worker_id] = holder
            assert held == holder._token.encode()

    def teardown(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}*"))
        if keys:
            self.client.delete(*keys)


@pytest.mark.django_db
def test_worker_leases_never_overlap() -> None:
    """Property: whatever holders do, no two trust the same worker id at once."""
    LeaseMachine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
    )
    LeaseMachine.TestCase().runTest()


def _child_worker_id(conn: multiprocessing.connection.Connection) -> None:
    conn.send(snowflake_worker_id(snowflake_next_id()))
    snowflake_reset()
    conn.close()


def test_process_generator_leases_and_a_forked_child_claims_its_own() -> None:
    """The process generator holds a lease in Redis; a forked child never reuses the parent's id."""
    snowflake_reset()
    try:
        first = snowflake_next_id()
        worker = snowflake_worker_id(first)
        assert get_redis().exists(f"snowflake:worker:{worker}")
        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe()
        child = ctx.Process(target=_child_worker_id, args=(child_end,))
        child.start()
        child_worker = parent_end.recv()
        child.join(10)
        assert child_worker != worker
        assert snowflake_next_id() > first
    finally:
        snowflake_reset()
    assert not get_redis().exists(f"snowflake:worker:{worker}")


async def test_process_generator_from_asyncio() -> None:
    """The asyncio entry point claims the lease off the loop and returns increasing IDs."""
    await asyncio.to_thread(snowflake_reset)
    try:
        a = await snowflake_next_id_async()
        b = await snowflake_next_id_async()
        assert b > a
    finally:
        await asyncio.to_thread(snowflake_reset)
