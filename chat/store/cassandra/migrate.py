"""Versioned CQL schema migrations.

Migration files live in `chat/store/cassandra/migrations/` as `NNNN_name.cql`: statements separated by `;`,
with `{keyspace}` standing for the configured keyspace. `migrate` creates the keyspace with the
replication of CASSANDRA_REPLICATION, then applies, in order, each file not yet recorded in
`{keyspace}.schema_migrations`. A file edited after it was applied is refused (its checksum
changed): write a new migration instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from chat.store.cassandra.session import cassandra_session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class MigrationError(Exception):
    """A migration cannot be applied (bad file, changed file, bad setting)."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    statements: tuple[str, ...]
    checksum: str


def replication_from_setting(value: str) -> dict[str, str | int]:
    """Parse CASSANDRA_REPLICATION.

    `SimpleStrategy:1` → {'class': 'SimpleStrategy', 'replication_factor': 1};
    `NetworkTopologyStrategy:dc1=3,dc2=3` → {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}.
    """
    strategy, _, rest = value.partition(":")
    strategy = strategy.strip()
    try:
        if strategy == "SimpleStrategy":
            return {"class": strategy, "replication_factor": int(rest)}
        if strategy == "NetworkTopologyStrategy":
            pairs = [p.split("=", 1) for p in rest.split(",") if p.strip()]
            if not pairs:
                raise ValueError("no datacenter")
            return {"class": strategy, **{dc.strip(): int(rf) for dc, rf in pairs}}
    except ValueError as exc:
        raise MigrationError(f"bad CASSANDRA_REPLICATION {value!r}: {exc}") from exc
    raise MigrationError(f"bad CASSANDRA_REPLICATION {value!r}: unknown strategy {strategy!r}")


def _replication_cql(replication: dict[str, str | int]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in replication.items()) + "}"


def migrations_on_disk(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.cql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must be NNNN_name.cql: {path.name}")
        text = path.read_text()
        body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        statements = tuple(s.strip() for s in body.split(";") if s.strip())
        found.append(
            Migration(
                version=match.group(1),
                name=match.group(2),
                statements=statements,
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def migrate(*, keyspace: str | None = None, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Create the keyspace if needed and apply pending migrations; return those applied."""
    keyspace = keyspace or settings.CASSANDRA_KEYSPACE
    if not _IDENT_RE.match(keyspace):
        raise MigrationError(f"bad keyspace name {keyspace!r}")
    replication = replication_from_setting(settings.CASSANDRA_REPLICATION)
    session = cassandra_session()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {_replication_cql(replication)}"
    )
    current = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    wanted = {k: str(v) for k, v in replication.items()}
    wanted["class"] = f"org.apache.cassandra.locator.{replication['class']}"
    if current is not None and dict(current.replication) != wanted:
        session.execute(f"ALTER KEYSPACE {keyspace} WITH replication = {_replication_cql(replication)}")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations ("
        "version text PRIMARY KEY, name text, checksum text, applied_at timestamp)"
    )
    applied = {
        row.version: row.checksum
        for row in session.execute(f"SELECT version, checksum FROM {keyspace}.schema_migrations")
    }
    done: list[Migration] = []
    for migration in migrations_on_disk(directory):
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version}_{migration.name} changed after it was applied"
                )
            continue
        for statement in migration.statements:
            session.execute(statement.replace("{keyspace}", keyspace))
        session.execute(
            f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
            "VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
        )
        done.append(migration)
    return done
