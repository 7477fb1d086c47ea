"""Schemathesis against /api/schema/: every operation, authenticated with a bearer token.

Stateless fuzzing of every app's endpoints through the WSGI app, in the test's own database
transaction. Checks: no 5xx, every status code and content type is documented, and every body
matches its schema.
`SCHEMATHESIS_MAX_EXAMPLES` bounds the examples per operation (default 25).
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from redis import asyncio as aioredis
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import device_token_create
from chat.store.redis import keys as redis_keys
from chat.store.redis.keys import ChatServerEntry
from chatproject.redis_client import redis_url
from chatproject.wsgi import application

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
GENERATED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report_generated_cases(request):
    """After the module: how many cases schemathesis generated, on how many operations."""
    yield
    if GENERATED:
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        line = f"schemathesis: {len(GENERATED)} generated cases on {len(set(GENERATED))} operations"
        if reporter is not None:
            reporter.write_line(line)


@pytest.fixture
def _wsgi_requests_in_the_test_transaction(db, cassandra_clean, monkeypatch):
    # the fuzzer sends far more than 200 requests a minute; throttling has its own test
    rates = {scope: "100000/min" for scope in ("anon", "user", "message_edit", "message_delete")}
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", rates)
    # as Django's test client does: keep the test's connection (and transaction) across requests
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def _live_chat_server():
    """One registered chat server, so that discovery (`GET chat/server`) has a server to give."""
    entry = ChatServerEntry(
        id="schemathesis-1",
        url="ws://127.0.0.1:1/ws/chat",
        region="local",
        capacity=1_000_000,
        connections=0,
        draining=False,
    )

    async def publish() -> None:
        client = aioredis.Redis.from_url(redis_url())
        await redis_keys.registry_publish(client, entry, ttl=600)
        await client.aclose()

    async def remove() -> None:
        client = aioredis.Redis.from_url(redis_url())
        await redis_keys.registry_remove(client, entry.id)
        await client.aclose()

    asyncio.run(publish())
    yield
    asyncio.run(remove())


@pytest.fixture
def bearer_header(alice, bob) -> dict[str, str]:
    """Alice's token; Bob exists so that ids 1..n hit real users now and then."""
    _token, raw = device_token_create(user=alice, device_name="schemathesis")
    return {"Authorization": f"Bearer {raw}"}


# loaded at collection through the app itself; a private cache keeps the throttle off Redis
with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@pytest.mark.usefixtures("_wsgi_requests_in_the_test_transaction", "_live_chat_server")
def test_api_matches_its_schema(case, bearer_header):
    """No operation answers 5xx or anything its schema does not describe."""
    GENERATED.append(case.operation.label)
    case.call_and_validate(headers=bearer_header, checks=CHECKS)


def test_schema_lists_every_accounts_operation(client):
    """The published schema has every accounts endpoint, with the bearer scheme and the error body."""
    document = client.get("/api/schema/?format=json").json()
    operations = {
        f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods
    }
    expected = {
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/password",
        "GET /api/v1/auth/csrf",
        "GET /api/v1/auth/tokens",
        "DELETE /api/v1/auth/tokens/{device_id}",
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "POST /api/v1/me/avatar",
        "DELETE /api/v1/me/avatar",
        "GET /api/v1/users",
        "GET /api/v1/users/{user_id}",
        "GET /api/v1/friends",
        "DELETE /api/v1/friends/{user_id}",
        "POST /api/v1/friends/requests",
        "GET /api/v1/friends/requests/incoming",
        "GET /api/v1/friends/requests/outgoing",
        "POST /api/v1/friends/requests/{request_id}/accept",
        "POST /api/v1/friends/requests/{request_id}/decline",
        "POST /api/v1/friends/requests/{request_id}/cancel",
        "GET /api/v1/blocks",
        "POST /api/v1/blocks/{user_id}",
        "DELETE /api/v1/blocks/{user_id}",
    }
    assert expected <= operations
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
