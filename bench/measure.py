"""What the scenarios record: send times by client_msg_id, receipts, acknowledgements, latencies.

Latency is measured from the time a message was *due* in the open-loop schedule, not from when
the client got round to sending it, so a client that falls behind shows up as latency instead of
hiding it (no coordinated omission).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.client import ChatConnection


def percentile(samples: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `samples`, nearest-rank; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


@dataclass
class Traffic:
    """One step of one scenario: what was sent and what came back."""

    name: str
    sent: list[str] = field(default_factory=list)
    expected_receipts: int = 0
    acked: set[str] = field(default_factory=set)
    receipts: set[tuple[str, int]] = field(default_factory=set)
    duplicate_receipts: int = 0
    receive_latency: list[float] = field(default_factory=list)
    ack_latency: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_due: float = 0.0
    last_receipt: float = 0.0

    def complete(self) -> bool:
        return len(self.acked) >= len(self.sent) and len(self.receipts) >= self.expected_receipts

    def summary(self) -> dict[str, Any]:
        elapsed = self.last_receipt - self.first_due if self.last_receipt > self.first_due else 0.0
        return {
            "sent": len(self.sent),
            "acked": len(self.acked),
            "expected_receipts": self.expected_receipts,
            "receipts": len(self.receipts),
            "missing_receipts": self.expected_receipts - len(self.receipts),
            "duplicate_receipts": self.duplicate_receipts,
            "delivered_per_s": round(len(self.receipts) / elapsed, 1) if elapsed else 0.0,
            "receive_p50_ms": ms(percentile(self.receive_latency, 50)),
            "receive_p95_ms": ms(percentile(self.receive_latency, 95)),
            "receive_p99_ms": ms(percentile(self.receive_latency, 99)),
            "ack_p50_ms": ms(percentile(self.ack_latency, 50)),
            "ack_p99_ms": ms(percentile(self.ack_latency, 99)),
            "errors": dict(self.errors),
        }


class Recorder:
    """The frame handler of every traffic connection; finds each frame's step by client_msg_id."""

    def __init__(self) -> None:
        self._due: dict[str, tuple[Traffic, float]] = {}
        self.unmatched = 0

    def register(self, traffic: Traffic, client_msg_id: str, due: float, receivers: int) -> None:
        self._due[client_msg_id] = (traffic, due)
        traffic.sent.append(client_msg_id)
        traffic.expected_receipts += receivers

    def on_frame(self, conn: ChatConnection, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            cmid = frame["message"]["client_msg_id"]
            found = self._due.get(cmid)
            if found is None:
                self.unmatched += 1
                return
            traffic, due = found
            key = (cmid, conn.user_id)
            if key in traffic.receipts:
                traffic.duplicate_receipts += 1
                return
            traffic.receipts.add(key)
            traffic.receive_latency.append(now - due)
            traffic.last_receipt = max(traffic.last_receipt, now)
        elif kind == "message.ack":
            found = self._due.get(frame["client_msg_id"])
            if found is not None and frame["client_msg_id"] not in found[0].acked:
                found[0].acked.add(frame["client_msg_id"])
                found[0].ack_latency.append(now - found[1])
        elif kind == "error":
            ref = frame.get("ref")
            found = self._due.get(ref) if isinstance(ref, str) else None
            if found is not None:
                found[0].errors[str(frame.get("code"))] += 1
