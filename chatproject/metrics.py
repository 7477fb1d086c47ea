"""Prometheus metrics: what every process kind shares (README, "Logs and metrics").

Each process keeps its own metrics in prometheus-client's default registry and serves them itself
(never the multiprocess mode: every process of the stack is a single process that runs its own
work — gunicorn with one worker, daphne, Celery's solo pool or a prefork pool of one):
- API servers: `/metrics` on their HTTP port (`metrics_view`), with the request metrics of
  `HttpMetricsMiddleware`;
- chat servers: `/metrics` on their port, answered by `chat.server.app` without Django;
- Celery processes: a small HTTP server of prometheus-client in a thread, on
  METRICS_PORT + METRICS_PORT_INDEX (`metrics_server_start`, from `chatproject.celery`), with the
  task metrics of `celery_task_count`; beat's also carries the queues' depth
  (`QueueDepthCollector`: one process computes it, at scrape time).
The load balancer answers `/metrics` with 404 (deploy/nginx.conf.in): scrapes go to each
process's own port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "chat_http_requests", "HTTP requests answered, by view, method and status", ["view", "method", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "chat_http_request_seconds",
    "Time from the request to the response, by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CELERY_TASKS = Counter(
    "chat_celery_tasks", "Celery tasks run in this process, by task and final state", ["task", "state"]
)

# powers of two: batch sizes go up to CHAT_SEND_BATCH_MAX (200)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# a store or publish round: ~1-3 ms unloaded, hundreds of ms under overload
ROUND_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def metrics_text(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`/metrics` of an API server (the load balancer does not forward it)."""
    from django.http import HttpResponse

    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)


class HttpMetricsMiddleware:
    """Counts and times every request by the view that answered it (its URL name, or its route
    when it has none; `unmatched` for a path no view takes)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or match.route) if match is not None else "unmatched"
        HTTP_REQUEST_SECONDS.labels(view).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(view, request.method or "", str(response.status_code)).inc()
        return response


def celery_task_count(*, task_name: str, state: str | None) -> None:
    """One task finished in this process (Celery's task_postrun: SUCCESS, FAILURE, RETRY...)."""
    CELERY_TASKS.labels(task_name, state or "unknown").inc()


class QueueDepthCollector(Collector):
    """The Celery queues' depth, read from the broker at scrape time: the length of each queue's
    Redis list (tasks waiting) and of kombu's `unacked` hash (tasks a worker has taken and not
    yet acknowledged). Served by one process (beat) so that each series exists once."""

    def __init__(self, queues: Iterable[str]) -> None:
        self.queues = sorted(set(queues))

    def collect(self) -> Iterable[Metric]:
        from chatproject.redis_client import get_redis

        depth = GaugeMetricFamily("chat_queue_depth", "Tasks waiting in a Celery queue", labels=["queue"])
        unacked = GaugeMetricFamily("chat_queue_unacked", "Tasks taken by workers, not yet acknowledged")
        try:
            pipe = get_redis().pipeline(transaction=False)
            for queue in self.queues:
                pipe.llen(queue)
            pipe.hlen("unacked")
            *lengths, taken = pipe.execute()
        except Exception:
            log.warning("queue depth: the broker did not answer", exc_info=True)
            return
        for queue, length in zip(self.queues, lengths, strict=True):
            depth.add_metric([queue], float(length))
        unacked.add_metric([], float(taken))
        yield depth
        yield unacked


def celery_queues() -> set[str]:
    """Every queue the stack's tasks go to: the default (`sync`), `push`, and the routed ones."""
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return {settings.CELERY_TASK_DEFAULT_QUEUE, "push", *routed}


_served: list[int] = []


def metrics_server_start(*, child_index: int = 0, queue_depth: bool = False) -> int | None:
    """Serve this Celery process's metrics over HTTP, in a thread, on METRICS_ADDR at
    METRICS_PORT + METRICS_PORT_INDEX + `child_index` (a prefork pool's process); returns the
    port, or None when METRICS_PORT is 0 or the port is taken (logged: the worker runs on
    without metrics rather than die and be restarted over and over)."""
    if not settings.METRICS_PORT or _served:
        return _served[0] if _served else None
    port = settings.METRICS_PORT + settings.METRICS_PORT_INDEX + child_index
    if queue_depth:
        REGISTRY.register(QueueDepthCollector(celery_queues()))
    try:
        start_http_server(port, addr=settings.METRICS_ADDR)
    except OSError as exc:
        log.warning("metrics: cannot serve on %s:%d (%s)", settings.METRICS_ADDR, port, exc)
        return None
    _served.append(port)
    log.info("metrics on http://%s:%d/metrics", settings.METRICS_ADDR, port)
    return port
