"""Each backing service is real: a round trip through PostgreSQL, Redis and Cassandra."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from accounts.models import User
from chat.store.cassandra.session import cassandra_prepare, cassandra_session
from chatproject.redis_client import get_redis


@pytest.mark.django_db
def test_postgres_orm_round_trip() -> None:
    """A user written through the ORM is read back from PostgreSQL."""
    User.objects.create_user(username="roundtrip", email="rt@example.com", password="x-1234-abcd")
    assert User.objects.get(username="roundtrip").email == "rt@example.com"
    assert connection.vendor == "postgresql"


def test_redis_round_trip() -> None:
    """A value written to Redis is read back, and expires."""
    client = get_redis()
    key = f"test:roundtrip:{uuid.uuid4()}"
    client.set(key, "hello", ex=30)
    assert client.get(key) == b"hello"
    ttl = client.ttl(key)
    assert isinstance(ttl, int)
    assert 0 < ttl <= 30
    client.delete(key)


def test_cassandra_prepared_round_trip(cassandra_keyspace: str) -> None:
    """A prepared statement writes and reads back a row in the project's keyspace."""
    session = cassandra_session()
    insert = cassandra_prepare(
        f"INSERT INTO {cassandra_keyspace}.schema_migrations (version, name, checksum) VALUES (?, ?, ?)"
    )
    select = cassandra_prepare(
        f"SELECT name, checksum FROM {cassandra_keyspace}.schema_migrations WHERE version = ?"
    )
    version = f"test-{uuid.uuid4().hex[:8]}"
    session.execute(insert, (version, "round_trip", "abc"))
    try:
        row = session.execute(select, (version,)).one()
        assert (row.name, row.checksum) == ("round_trip", "abc")
        assert cassandra_prepare(select.query_string) is select  # prepared once per session
    finally:
        session.execute(f"DELETE FROM {cassandra_keyspace}.schema_migrations WHERE version = %s", (version,))
    release = session.execute("SELECT release_version FROM system.local").one().release_version
    assert release.startswith("5.0.")
