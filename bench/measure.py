"""What the scenarios record: send times by client_msg_id, receipts, acknowledgements, latencies.

Latency is measured from the time a message was *due* in the open-loop schedule, not from when
the client got round to sending it, so a client that falls behind shows up as latency instead of
hiding it (no coordinated omission). A message the server sheds (`overloaded`) or rate-limits
is sent again by the client's outbox (`bench.client`): it is counted as refused and resent, not as
lost, and its latency still runs from the first due time; the latency from the send the server
accepted is kept beside it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.client import RETRY_CODES, ChatConnection

P99_LIMIT_MS = 100.0  # a step is sustained below this p99 (and with nothing lost or duplicated)


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
    message_ids: set[int] = field(default_factory=set)  # as acknowledged: the hop samples name them
    receipts: set[tuple[str, int]] = field(default_factory=set)
    duplicate_receipts: int = 0
    receive_latency: list[float] = field(default_factory=list)
    receive_due: list[float] = field(default_factory=list)  # each receipt's due time, same order
    accepted_latency: list[float] = field(default_factory=list)  # from the accepted send
    ack_latency: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # answers the outbox resends after
    refused_messages: set[str] = field(default_factory=set)
    resends: int = 0
    first_due: float = 0.0
    last_due: float = 0.0
    offered_until: float = 0.0  # when the client had sent the last message (late: it lagged)
    last_receipt: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)  # the step's figures, once reported

    def complete(self) -> bool:
        return len(self.acked) >= len(self.sent) and len(self.receipts) >= self.expected_receipts

    def summary(self) -> dict[str, Any]:
        elapsed = self.last_receipt - self.first_due if self.last_receipt > self.first_due else 0.0
        return {
            "sent": len(self.sent),
            "acked": len(self.acked),
            "expected_receipts": self.expected_receipts,
            "receipts": len(self.receipts),
            "client_lag_s": round(max(0.0, self.offered_until - self.last_due), 2),
            "missing_receipts": self.expected_receipts - len(self.receipts),
            "duplicate_receipts": self.duplicate_receipts,
            "delivered_per_s": round(len(self.receipts) / elapsed, 1) if elapsed else 0.0,
            "receive_p50_ms": ms(percentile(self.receive_latency, 50)),
            "receive_p95_ms": ms(percentile(self.receive_latency, 95)),
            "receive_p99_ms": ms(percentile(self.receive_latency, 99)),
            "accepted_p99_ms": ms(percentile(self.accepted_latency, 99)),
            "ack_p50_ms": ms(percentile(self.ack_latency, 50)),
            "ack_p99_ms": ms(percentile(self.ack_latency, 99)),
            "errors": dict(self.errors),
            "shed": self.refused["overloaded"],
            "rate_limited": self.refused["rate_limited"],
            "refused_messages": len(self.refused_messages),
            "resends": self.resends,
        }


def sustained(step: dict[str, Any]) -> bool:
    """The rule of a sustained step: p99 under P99_LIMIT_MS, every message acknowledged and
    received once, no error, and (once counted in the store) none lost or stored twice."""
    p99 = step.get("receive_p99_ms")
    return bool(
        p99 is not None
        and p99 < P99_LIMIT_MS
        and step["missing_receipts"] == 0
        and step["duplicate_receipts"] == 0
        and step["acked"] == step["sent"]
        and not step["errors"]
        and not step.get("stored_lost")
        and not step.get("stored_duplicated")
    )


class Recorder:
    """The frame handler of every traffic connection; finds each frame's step by client_msg_id."""

    def __init__(self) -> None:
        self._due: dict[str, tuple[Traffic, float]] = {}
        self._resent_at: dict[str, float] = {}  # the last resend of a refused message
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
            traffic.receive_due.append(due)
            traffic.accepted_latency.append(now - self._resent_at.get(cmid, due))
            traffic.last_receipt = max(traffic.last_receipt, now)
        elif kind == "message.ack":
            cmid = frame["client_msg_id"]
            found = self._due.get(cmid)
            if found is not None and cmid not in found[0].acked:
                found[0].acked.add(cmid)
                found[0].ack_latency.append(now - found[1])
                found[0].message_ids.add(int(frame["message_id"]))
        elif kind == "error":
            ref = frame.get("ref")
            found = self._due.get(ref) if isinstance(ref, str) else None
            if found is None:
                return
            code = str(frame.get("code"))
            if code in RETRY_CODES:
                found[0].refused[code] += 1
                found[0].refused_messages.add(str(ref))
            else:
                found[0].errors[code] += 1

    def last_send(self, client_msg_id: str) -> float:
        """When the message was last sent: its last resend, else its due time."""
        return self._resent_at.get(client_msg_id, self._due[client_msg_id][1])

    def on_resend(self, _conn: ChatConnection, client_msg_id: str, now: float) -> None:
        """The outbox sent a refused message again."""
        found = self._due.get(client_msg_id)
        if found is not None:
            found[0].resends += 1
            self._resent_at[client_msg_id] = now
