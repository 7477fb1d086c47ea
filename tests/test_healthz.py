"""`GET /healthz` reports each backing store and answers 503 when one is down."""

from __future__ import annotations

import socket

import pytest
from django.test import Client, override_settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db
def test_healthz_all_ok(cassandra_keyspace: str) -> None:
    """With every service up, /healthz is 200 and each check is ok."""
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok", "cassandra": "ok"},
    }


@pytest.mark.django_db
def test_healthz_503_names_cassandra_when_it_is_unreachable() -> None:
    """Cassandra settings pointing at a closed port give 503 naming Cassandra as down."""
    with override_settings(CASSANDRA_PORT=_closed_port(), CASSANDRA_CONNECT_TIMEOUT=1.0):
        response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["cassandra"] == "down"


@pytest.mark.django_db
def test_healthz_503_names_redis_when_it_is_unreachable() -> None:
    """Redis settings pointing at a closed port give 503 naming Redis as down."""
    with override_settings(REDIS_PORT=_closed_port()):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "down"


def test_healthz_rejects_post() -> None:
    """Only GET is allowed."""
    assert Client().post("/healthz").status_code == 405
