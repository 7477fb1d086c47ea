"""The Cassandra migration runner: keyspace replication from settings, idempotent, ordered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from chat.store.cassandra.migrate import MigrationError, migrate, migrations_on_disk, replication_from_setting
from chat.store.cassandra.session import cassandra_session


@pytest.fixture
def scratch_keyspace() -> Iterator[str]:
    name = f"mig_{uuid.uuid4().hex[:12]}"
    yield name
    cassandra_session().execute(f"DROP KEYSPACE IF EXISTS {name}")


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


def test_replication_setting_parsing() -> None:
    """Both strategies parse; a bad value is refused with a clear error."""
    assert replication_from_setting("SimpleStrategy:1") == {
        "class": "SimpleStrategy",
        "replication_factor": 1,
    }
    assert replication_from_setting("NetworkTopologyStrategy:dc1=3,dc2=2") == {
        "class": "NetworkTopologyStrategy",
        "dc1": 3,
        "dc2": 2,
    }
    for bad in ("SimpleStrategy:x", "NetworkTopologyStrategy:", "Other:1", ""):
        with pytest.raises(MigrationError):
            replication_from_setting(bad)


def test_migrate_creates_keyspace_and_is_idempotent(scratch_keyspace: str, tmp_path: Path) -> None:
    """First run creates the keyspace and applies every file in order; a second applies nothing."""
    _write(tmp_path, "0001_first.cql", "CREATE TABLE {keyspace}.a (id int PRIMARY KEY);")
    _write(
        tmp_path,
        "0002_second.cql",
        "-- two statements\nCREATE TABLE {keyspace}.b (id int PRIMARY KEY);\n"
        "ALTER TABLE {keyspace}.a ADD note text;",
    )
    with override_settings(CASSANDRA_REPLICATION="SimpleStrategy:1"):
        first = migrate(keyspace=scratch_keyspace, directory=tmp_path)
        second = migrate(keyspace=scratch_keyspace, directory=tmp_path)
    assert [m.version for m in first] == ["0001", "0002"]
    assert second == []
    session = cassandra_session()
    ks = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (scratch_keyspace,)
    ).one()
    assert dict(ks.replication) == {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "1",
    }
    columns = {
        row.column_name
        for row in session.execute(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND table_name = 'a'",
            (scratch_keyspace,),
        )
    }
    assert columns == {"id", "note"}
    recorded = [
        r.version for r in session.execute(f"SELECT version FROM {scratch_keyspace}.schema_migrations")
    ]
    assert sorted(recorded) == ["0001", "0002"]


def test_migrate_applies_only_new_files(scratch_keyspace: str, tmp_path: Path) -> None:
    """A migration added later is the only one applied by the next run."""
    _write(tmp_path, "0001_first.cql", "CREATE TABLE {keyspace}.a (id int PRIMARY KEY);")
    migrate(keyspace=scratch_keyspace, directory=tmp_path)
    _write(tmp_path, "0002_more.cql", "CREATE TABLE {keyspace}.c (id int PRIMARY KEY);")
    assert [m.name for m in migrate(keyspace=scratch_keyspace, directory=tmp_path)] == ["more"]


def test_changed_migration_is_refused(scratch_keyspace: str, tmp_path: Path) -> None:
    """Editing an applied migration is an error, not a silent skip."""
    _write(tmp_path, "0001_first.cql", "CREATE TABLE {keyspace}.a (id int PRIMARY KEY);")
    migrate(keyspace=scratch_keyspace, directory=tmp_path)
    _write(tmp_path, "0001_first.cql", "CREATE TABLE {keyspace}.a (id bigint PRIMARY KEY);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(keyspace=scratch_keyspace, directory=tmp_path)


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    """Files must be named NNNN_name.cql."""
    _write(tmp_path, "first.cql", "SELECT 1")
    with pytest.raises(MigrationError, match="NNNN_name"):
        migrations_on_disk(tmp_path)


def test_management_command_is_idempotent(
    cassandra_keyspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`manage.py cassandra_migrate` on an up-to-date keyspace applies nothing."""
    call_command("cassandra_migrate")
    assert "no migrations to apply" in capsys.readouterr().out


def test_network_topology_replication(scratch_keyspace: str, tmp_path: Path) -> None:
    """The keyspace takes NetworkTopologyStrategy from settings, as production does."""
    with override_settings(CASSANDRA_REPLICATION="NetworkTopologyStrategy:datacenter1=1"):
        migrate(keyspace=scratch_keyspace, directory=tmp_path)
    ks = (
        cassandra_session()
        .execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (scratch_keyspace,)
        )
        .one()
    )
    assert ks.replication["class"] == "org.apache.cassandra.locator.NetworkTopologyStrategy"
    assert ks.replication["datacenter1"] == "1"
