"""The run's figures once the traffic is over: every message counted in Cassandra (lost, stored
twice), each step's sustained verdict with those counts, and the headline of each side."""

from __future__ import annotations

from typing import Any

from bench import stack
from bench.measure import Traffic, sustained


def storage_check(traffics: list[Traffic], population: stack.Population) -> tuple[int, int]:
    """Count every message of the pipeline's run in Cassandra: (lost, duplicated) in all, and
    per reported step (its `stored_lost` and `stored_duplicated`, and its verdict again)."""
    counts = stack.stored_counts(
        conversation_ids=population.conversations().keys(), after_id=population.run_start_id
    )
    lost = duplicated = 0
    for traffic in traffics:
        t_lost = sum(1 for cmid in traffic.sent if counts.get(cmid, 0) == 0)
        t_dup = sum(1 for cmid in traffic.sent if counts.get(cmid, 0) > 1)
        lost += t_lost
        duplicated += t_dup
        if traffic.result:
            traffic.result["stored_lost"], traffic.result["stored_duplicated"] = t_lost, t_dup
            traffic.result["sustained"] = sustained(traffic.result)
    return lost, duplicated


def max_sustained(steps: list[dict[str, Any]], key: str = "offered_per_s") -> float:
    """The highest step that was sustained (p99 under 100 ms, nothing lost), 0 if none."""
    return max((float(s[key]) for s in steps if s.get("sustained")), default=0.0)


def at_rate(steps: list[dict[str, Any]], rate: float, key: str) -> float | None:
    for step in steps:
        if step.get("offered_per_s") == rate and key in step:
            value = step[key]
            return None if value is None else float(value)
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _cpu_at(steps: list[dict[str, Any]], rate: float) -> float | None:
    for step in steps:
        if step.get("offered_per_s") == rate and "cpu" in step:
            value = step["cpu"]["ms_per_stored"]
            return None if value is None else float(value)
    return None


def headline(side: dict[str, Any]) -> dict[str, Any]:
    ladder = side["ladder"]
    fast = side["fast"]
    fan = side["fanout"]
    top_fan = max((s for s in fan if s.get("sustained")), key=lambda s: s["offered_per_s"], default=None)
    conns = side["connections"]
    return {
        "max_sustained_msgs_per_s": max_sustained(ladder),
        "p99_ms_at_500": at_rate(ladder, 500, "receive_p99_ms"),
        "p50_ms_at_500": at_rate(ladder, 500, "receive_p50_ms"),
        "ack_p99_ms_at_500": at_rate(ladder, 500, "ack_p99_ms"),
        "fast_max_sustained_msgs_per_s": max_sustained(fast),
        "fast_p99_ms_at_500": at_rate(fast, 500, "receive_p99_ms"),
        "fast_p50_ms_at_20": at_rate(fast, 20, "receive_p50_ms"),
        "cpu_ms_per_stored_at_500": _cpu_at(ladder, 500),
        "fast_cpu_ms_per_stored_at_500": _cpu_at(fast, 500),
        "fanout_max_deliveries_per_s": top_fan["delivered_per_s"] if top_fan else 0.0,
        "fanout_p99_ms": top_fan["receive_p99_ms"] if top_fan else None,
        "connections_per_server": conns["max_per_server"],
        "bytes_per_connection": conns["bytes_per_connection"],
        "heartbeat_cpu_pct": conns["heartbeat_cpu_pct_per_server"],
    }
