"""A chat server's metrics (`/metrics` on its own port: `chat.server.app`).

The event loop counts in plain integers (`ServerCounts`: an attribute or a dict entry incremented,
no lock, no label lookup) and `ChatServerCollector` turns them into Prometheus counters at scrape
time, beside gauges read from the runtime then (connections, the sending window, the event loop's
lag). Histograms are observed once per batch (a sync task enqueued, a delivery batch received),
never per frame.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatproject.metrics import BATCH_SIZE_BUCKETS

if TYPE_CHECKING:
    from chat.server.runtime import ChatServerRuntime

SEND_BATCH_SIZE = Histogram(
    "chat_send_batch_size", "Messages per sync task this chat server enqueued", buckets=BATCH_SIZE_BUCKETS
)
DELIVERY_BATCH_SIZE = Histogram(
    "chat_delivery_batch_size",
    "Delivery events per batch received on this chat server's delivery channel",
    buckets=BATCH_SIZE_BUCKETS,
)


class ServerCounts:
    """Counters of one chat server process, bumped on the event loop's thread only."""

    __slots__ = (
        "connections_opened",
        "deliveries",
        "enqueue_errors",
        "frame_errors",
        "frames_in",
        "messages_accepted",
        "messages_refused",
        "slow_closes",
    )

    def __init__(self) -> None:
        self.connections_opened = 0
        self.frames_in: defaultdict[str, int] = defaultdict(int)  # by frame type, `invalid` for the rest
        self.frame_errors: defaultdict[str, int] = defaultdict(int)  # error frames sent, by code
        self.messages_accepted = 0  # validated, numbered and handed to the sync queue
        self.messages_refused: defaultdict[str, int] = defaultdict(int)  # message.send refused, by code
        self.deliveries = 0  # frames the delivery loop wrote to local sockets
        self.enqueue_errors = 0  # batches the sync queue did not take
        self.slow_closes = 0  # sockets closed with 4008: their clients stopped reading


counts = ServerCounts()


def _counter(name: str, doc: str, values: dict[str, int] | int, label: str | None = None) -> Metric:
    metric = CounterMetricFamily(name, doc, labels=[label] if label else None)
    if isinstance(values, int):
        metric.add_metric([], float(values))
    else:
        for key, value in sorted(values.items()):
            metric.add_metric([key], float(value))
    return metric


class ChatServerCollector(Collector):
    """`counts` and the runtime's state, read when /metrics is asked for."""

    def __init__(self, runtime: Callable[[], ChatServerRuntime]) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable[Metric]:
        runtime = self.runtime()
        c = counts
        yield GaugeMetricFamily(
            "chat_connections", "Open WebSocket connections", value=len(runtime.connections)
        )
        yield _counter("chat_connections_opened", "WebSocket connections taken in", c.connections_opened)
        yield _counter("chat_frames_in", "Client frames received, by type", dict(c.frames_in), "type")
        yield _counter("chat_frame_errors", "Error frames sent, by code", dict(c.frame_errors), "code")
        yield _counter(
            "chat_messages_accepted",
            "Sends validated, numbered and handed to the sync queue",
            c.messages_accepted,
        )
        yield _counter(
            "chat_messages_refused",
            "Sends refused, by error code (overloaded: shed; rate_limited; forbidden...)",
            dict(c.messages_refused),
            "reason",
        )
        yield _counter("chat_deliveries", "Frames the delivery loop wrote to local sockets", c.deliveries)
        yield _counter("chat_send_enqueue_errors", "Sync tasks the broker did not take", c.enqueue_errors)
        yield _counter(
            "chat_slow_closes", "Sockets closed with 4008: their clients stopped reading", c.slow_closes
        )
        batcher = runtime.batcher
        yield GaugeMetricFamily(
            "chat_send_inflight",
            "Sync tasks of this server in flight (its sending window)",
            value=batcher.inflight,
        )
        yield GaugeMetricFamily(
            "chat_send_waiting", "Sends waiting for the sending window", value=batcher.waiting
        )
        yield GaugeMetricFamily(
            "chat_event_loop_lag_seconds",
            "How late the event loop ran its last timers",
            value=runtime.loop_lag_ms / 1000,
        )
        yield GaugeMetricFamily(
            "chat_shedding", "1 while this server refuses sends", value=int(runtime.shedding)
        )


_registered: list[ChatServerCollector] = []


def chat_server_collector_register(runtime: Callable[[], ChatServerRuntime]) -> None:
    """Register the collector once per process."""
    if not _registered:
        _registered.append(ChatServerCollector(runtime))
        REGISTRY.register(_registered[0])
