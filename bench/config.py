"""The two runs of `make bench`: the full one and the quick one (`make bench QUICK=1`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WarmUp:
    """A step before a ladder, not reported: every sender sends at least once (caches, JIT, pools)."""

    rate: float
    at_least_s: float


@dataclass(frozen=True)
class Config:
    mode: str
    pairs: int  # the many users' 1:1 pairs
    groups: int
    group_size: int
    rates: list[float]  # the 1:1 ladder
    step_s: float
    drain_s: float
    fanout_rates: list[float]
    fanout_s: float
    load_rate: float
    load_s: float
    missed: int
    conn_steps: list[int]
    conn_measure_s: float
    api_logins: int
    fast_rates: list[float]  # the 20 pairs' ladder (20 msg/s: the p50 under light load)
    overload_s: float
    normal_s: float  # the normal step right after the overload: long enough to see recovery
    fast_pairs: int = 20
    overload_rate: float = 4000
    normal_rate: float = 200
    overload_drain_s: float = 30  # for the shed messages the outboxes send again
    sync_partners: int = 20
    feed_messages: int = 20  # per conversation and case of the feed's rows per message
    feed_interval_s: float = 0.5  # between them: each one's receipts come before the next
    feed_missed: int = 1000  # changes a device catches up with (half new messages, half edits)
    feed_partners: int = 10  # who send them, each in a direct conversation with the device
    feed_samples: int = 5  # catch-ups timed, over the socket and over REST each
    slow_senders: int = 5  # the slow consumer's group: 8 msg/s each, within the default send limit
    slow_readers: int = 9  # members that read, on the slow socket's chat server
    slow_rounds: int = 3  # each a phase without the slow socket, then one with a fresh one
    slow_phase_s: float = 8  # long enough for the chat server to close the slow socket (~5 s in)
    warmup: WarmUp = WarmUp(rate=125, at_least_s=3)
    fast_warmup: WarmUp = WarmUp(rate=40, at_least_s=1)
    extra: dict[str, Any] = field(default_factory=dict)


FULL = Config(
    mode="full",
    pairs=500,
    groups=2,
    group_size=100,
    rates=[100, 250, 500, 1000, 2000, 4000],
    step_s=20,
    drain_s=10,
    fanout_rates=[5, 10, 20, 40],
    fanout_s=10,
    load_rate=500,
    load_s=20,
    missed=1000,
    conn_steps=[2500, 5000, 7500, 10000],
    conn_measure_s=10,
    api_logins=40,
    fast_rates=[20, 100, 250, 500, 1000, 2000, 4000],
    overload_s=10,
    normal_s=20,
)
QUICK = Config(
    mode="quick",
    pairs=250,
    groups=2,
    group_size=100,
    rates=[100, 250, 500, 1000, 2000],
    step_s=3,
    drain_s=3,
    fanout_rates=[5, 10, 20],
    fanout_s=3,
    load_rate=500,
    load_s=5,
    missed=1000,
    conn_steps=[1000, 2000],
    conn_measure_s=2,
    api_logins=10,
    fast_rates=[20, 100, 500, 1000, 2000],
    overload_s=5,
    normal_s=12,
    overload_drain_s=20,
    feed_messages=5,
    slow_rounds=2,
    slow_phase_s=6,
)
