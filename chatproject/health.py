"""`GET /healthz`: the state of each backing store, for load balancers and operators.

200 when PostgreSQL, Redis and Cassandra all answer, 503 otherwise; each dependency is reported as
`ok` or `down`. What went wrong is logged, never answered: exception texts carry addresses,
credentials in URLs and driver internals, and /healthz answers anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chat.store.cassandra.session import cassandra_ping
from chatproject.redis_client import get_redis

logger = logging.getLogger(__name__)


def _check_postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    get_redis().ping()


def _check_cassandra() -> None:
    cassandra_ping()


CHECKS: dict[str, Callable[[], None]] = {
    "postgres": _check_postgres,
    "redis": _check_redis,
    "cassandra": _check_cassandra,
}


def health_report() -> dict[str, str]:
    """Run every check; each value is `ok` or `down` (the reason goes to the log)."""
    report: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            report[name] = "ok"
        except Exception:  # a health check reports every failure, whatever its type
            logger.warning("health check %s failed", name, exc_info=True)
            report[name] = "down"
    return report


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    healthy = all(value == "ok" for value in report.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": report},
        status=200 if healthy else 503,
    )
