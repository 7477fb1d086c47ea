"""Where the time of a message goes: the per-hop timestamps of sampled messages (`chat.domain.hops`,
one in CHAT_HOP_SAMPLE), taken from Redis after each step (`chat.store.redis.hops.hops_take`) and
summed up per interval between two hops, and from the first hop to the last.

A sample may lack a hop (a message that took another path); an interval counts only the samples
that carry both of its ends. Samples that name their message ID are kept for the step whose
messages they are; those that do not count for the step during which they were taken.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from bench.measure import ms, percentile

Samples = list[dict[str, Any]]


def intervals() -> list[tuple[str, str]]:
    """Each hop to the next, then the whole path (received → delivered)."""
    from chat.domain.hops import HOPS

    return [*itertools.pairwise(HOPS), (HOPS[0], HOPS[-1])]


def interval_name(start: str, end: str) -> str:
    return f"{start}→{end}"


def hops_summary(samples: Samples) -> dict[str, Any]:
    """Per interval: how many samples carry both ends, and p50/p99 of the time between them (ms)."""
    out: dict[str, Any] = {}
    for start, end in intervals():
        spans = [
            s["hops"][end] - s["hops"][start]
            for s in samples
            if start in s.get("hops", {}) and end in s.get("hops", {})
        ]
        out[interval_name(start, end)] = {
            "count": len(spans),
            "p50_ms": ms(percentile(spans, 50)),
            "p99_ms": ms(percentile(spans, 99)),
        }
    return {"samples": len(samples), "intervals": out}


def _take_from_redis() -> Samples:
    from chat.store.redis.hops import hops_take
    from chatproject.redis_client import get_redis

    return hops_take(get_redis())


class HopCollector:
    """Takes the samples kept in Redis and hands each step its own."""

    def __init__(self, take: Callable[[], Samples] = _take_from_redis) -> None:
        self._take = take
        self._pending: Samples = []

    def reset(self) -> None:
        """Forget every sample so far (those of earlier traffic, or of nobody's)."""
        self._take()
        self._pending = []

    def collect(self, message_ids: set[int]) -> Samples:
        """The samples of these messages (and those naming no message), taken now; samples of
        other messages wait for their own step."""
        self._pending += self._take()
        mine: Samples = []
        others: Samples = []
        for sample in self._pending:
            sample_id = sample.get("id")
            (mine if sample_id is None or int(sample_id) in message_ids else others).append(sample)
        self._pending = others
        return mine
