"""Per-hop timestamps of sampled messages (the send path's own stopwatch).

A sampled message (one in CHAT_HOP_SAMPLE) carries the monotonic time (`time.monotonic()`, one
clock for every process of a machine) at each hop of the send path: `received` (the chat server
read the frame), `queued` (its batch left for the sync queue), `task_start` (a sync worker took the
batch), `stored` (the message store answered), `published` (its deliveries were published) and
`delivered` (the recipient's chat server wrote it to the recipient's sockets). The recipient's chat
server records the complete sample (`chat.store.redis.hops`); `make bench` reads them and reports
each hop's share of the latency.
"""

from __future__ import annotations

import random
import time

from django.conf import settings

HOPS = ("received", "queued", "task_start", "stored", "published", "delivered")

Hops = dict[str, float]


def hops_start() -> Hops | None:
    """The stopwatch of a message just received, or None when it is not sampled."""
    rate = settings.CHAT_HOP_SAMPLE
    if rate <= 0 or random.random() >= rate:
        return None
    return {"received": time.monotonic()}


def hops_mark(hops: Hops | None, hop: str) -> None:
    """Record the time of `hop` on a sampled message's stopwatch (nothing when not sampled)."""
    if hops is not None:
        hops[hop] = time.monotonic()
