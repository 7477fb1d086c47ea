"""Overload, then a normal step at once: is overload bounded, and how soon is the service back?

The 20 pairs offer far more than the pipeline carries for a few seconds; the chat servers shed
sends (`overloaded`, with `retry_after_ms`) and the clients' outboxes send them again. Right after,
the same pairs send at a normal rate. Reported: the overload step's accepted rate (messages whose
accepted send fell inside the overload), its shed answers, the p99 of accepted messages (from the
send the server accepted to the receipt), and the recovery time: the seconds after the overload
ended until the normal step's per-second p99 stays under the sustained limit with nothing
missing (per second of due time).
"""

from __future__ import annotations

import math
from typing import Any

from bench.measure import P99_LIMIT_MS, Recorder, Traffic, ms, percentile
from bench.scenarios.traffic import Runner, Sender

RECOVERY_LIMIT_S = 10.0  # issue 13: back to normal within 10 s of the overload ending


def per_second(traffic: Traffic, *, rate: float) -> list[dict[str, Any]]:
    """The step's p99 (ms) and missing receipts per second of due time (1:1 traffic: one receipt
    a message)."""
    seconds = max(1, math.ceil(len(traffic.sent) / rate))
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    for due, latency in zip(traffic.receive_due, traffic.receive_latency, strict=True):
        index = round((due - traffic.first_due) * rate)  # the message's place in the schedule
        latencies[min(seconds - 1, int(index / rate))].append(latency)
    out = []
    for second, got in enumerate(latencies):
        expected = sum(1 for i in range(len(traffic.sent)) if int(i / rate) == second)
        out.append(
            {
                "second": second,
                "received": len(got),
                "missing": max(0, expected - len(got)),
                "p99_ms": ms(percentile(got, 99)),
            }
        )
    return out


def recovery_s(seconds: list[dict[str, Any]]) -> int | None:
    """The first second from which every later second is under the limit with nothing missing
    (None: not recovered within the step)."""
    recovered: int | None = None
    for row in seconds:
        good = row["missing"] == 0 and row["p99_ms"] is not None and row["p99_ms"] < P99_LIMIT_MS
        if not good:
            recovered = None
        elif recovered is None:
            recovered = row["second"]
    return recovered


def _accepted_during(recorder: Recorder, traffic: Traffic) -> int:
    """Messages of `traffic` whose accepted send left before its offering ended."""
    return sum(1 for cmid in traffic.acked if recorder.last_send(cmid) <= traffic.last_due)


async def overload_then_normal(
    *,
    runner: Runner,
    senders: list[Sender],
    overload_rate: float,
    overload_s: float,
    normal_rate: float,
    normal_s: float,
    drain_s: float,
) -> dict[str, Any]:
    before = await runner.meter.begin() if runner.meter is not None else None
    hot = await runner.offer(name="overload", senders=senders, rate=overload_rate, duration=overload_s)
    calm = await runner.offer(name="after overload", senders=senders, rate=normal_rate, duration=normal_s)
    await runner.drain([hot, calm], within=drain_s)
    overload = runner.report(hot, rate=overload_rate, duration=overload_s)
    accepted = _accepted_during(runner.recorder, hot)
    overload["accepted"] = accepted
    overload["accepted_per_s"] = round(accepted / overload_s, 1)
    normal = runner.report(calm, rate=normal_rate, duration=normal_s)
    seconds = per_second(calm, rate=normal_rate)
    recovered = recovery_s(seconds)
    out: dict[str, Any] = {
        "overload": overload,
        "normal": normal,
        "normal_per_second": seconds,
        "recovery_s": recovered,
        "recovered_within_s": RECOVERY_LIMIT_S,
        "recovered": recovered is not None and recovered <= RECOVERY_LIMIT_S,
    }
    if runner.meter is not None and before is not None:
        out.update(await runner.meter.end(before, [hot, calm]))
    return out
