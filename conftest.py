"""Fixtures shared by every test: named users, API clients, and clean Cassandra state.

The services are the real ones started by `make test` (PostgreSQL, Redis, Cassandra); the test
settings give the run its own PostgreSQL database and Cassandra keyspace.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

import chat.worker.tasks  # noqa: F401  (eager Celery runs the sync tasks in the test process)
from accounts.tests.factories import UserFactory

# CI runs the property tests and the schema fuzzing with a fixed seed, so a run is reproducible
# and a red one can be replayed; locally each run explores new examples
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def cassandra_keyspace(django_db_blocker: object) -> str:
    """The test keyspace, created and migrated once per run."""
    from chat.store.cassandra.migrate import migrate

    migrate()
    return str(settings.CASSANDRA_KEYSPACE)


def cassandra_truncate(keyspace: str) -> None:
    """Empty every table of the test keyspace (truncate, not drop) and what remembers its rows."""
    from chat.store.cassandra.session import cassandra_session

    session = cassandra_session()
    tables = [
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
        if row.table_name != "schema_migrations"
    ]
    for table in tables:
        session.execute(f"TRUNCATE {keyspace}.{table}")
    # the store skips bucket-index rows it believes written; after a truncate they are gone
    from chat.store.cassandra.message_store import message_store_forget_cache
    from chat.store.redis.claims import message_claims_clear
    from chatproject.redis_client import get_redis

    message_store_forget_cache()
    message_claims_clear(get_redis())  # claims of truncated messages


@pytest.fixture
def cassandra_clean(cassandra_keyspace: str) -> str:
    """A test that writes to Cassandra starts from empty tables (truncate, not drop)."""
    cassandra_truncate(cassandra_keyspace)
    return cassandra_keyspace


@pytest.fixture(autouse=True)
def _private_cache(settings: Any) -> None:
    """Each test gets its own empty cache, so throttle counters never leak from one test to another."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def api_client_for(db: None) -> Callable[..., APIClient]:
    """`api_client_for(user)`: a DRF test client logged in as `user` with a fresh device token."""
    from accounts.services import device_token_create

    def make(user: Any, device_name: str = "test device") -> APIClient:
        _token, raw = device_token_create(user=user, device_name=device_name)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def alice(db: None) -> object:
    return UserFactory(username="alice", display_name="Alice")


@pytest.fixture
def bob(db: None) -> object:
    return UserFactory(username="bob", display_name="Bob")


@pytest.fixture
def carol(db: None) -> object:
    return UserFactory(username="carol", display_name="Carol")


@pytest.fixture
def operator(db: None) -> Client:
    """A Django test client logged in to the admin as a superuser ("root")."""
    from accounts.models import User

    root = User.objects.create_superuser(username="root", email="root@example.com", password="x")
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
async def fresh_chat_runtime() -> AsyncIterator[None]:
    """A new in-process chat server runtime for the test (registry, routing, delivery loop),
    stopped and forgotten afterwards."""
    from chat.server import runtime as runtime_module

    runtime_module._runtime = None
    yield
    if runtime_module._runtime is not None:
        await runtime_module._runtime.stop()
    runtime_module._runtime = None


@pytest.fixture(autouse=True)
def _frames_match_the_asyncapi_document(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every frame a chat server sends to a test, in process or over a real socket, and every frame
    a test helper sends, must be in docs/asyncapi.yaml and valid against it (tests/frames.py)."""
    from channels.testing import WebsocketCommunicator

    from tests import frames

    receive_from = WebsocketCommunicator.receive_from

    # the signature of the method it wraps
    async def checked_receive_from(self: WebsocketCommunicator, timeout: float = 1) -> Any:  # noqa: ASYNC109
        received = await receive_from(self, timeout)
        frames.frame_text_received(received)
        return received

    monkeypatch.setattr(WebsocketCommunicator, "receive_from", checked_receive_from)
    frames.violations.clear()
    yield
    found, frames.violations[:] = list(frames.violations), []
    assert not found, "frames that docs/asyncapi.yaml does not allow:\n" + "\n".join(found)
