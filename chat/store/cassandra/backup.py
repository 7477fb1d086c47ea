"""A keyspace exported to files through the driver, and imported back (scripts/backup.sh, restore.sh).

Why an export over CQL rather than `nodetool snapshot`: docs/operations.md, "Backups". What it keeps:
every row of every table, each cell with its write time, and its time to live (less the time
between the export and the import; a cell that would have expired by then is left out). What it
does not keep: deleted data (tombstones), and the time to live of rows that have only key columns
(`change_buckets`: such a row comes back without expiry, which costs a sync one empty read).
The export reads table after table while the service may be writing: it is a copy of each table
at the time it was read, not of the keyspace at one instant (a message stored during the export
may be in one table and not in another; restoring both is harmless, the message store's rows are
idempotent).

Layout of a backup directory: `manifest.json` (keyspace, time taken, each table's CREATE statement
and row count) and `<table>.jsonl.gz` per table, one JSON line per row: `{"key": {...}, "cells":
[[write_time_us, ttl_s, {...}], ...]}`, the values as Cassandra's own JSON (`SELECT JSON`, read
back with `INSERT ... JSON ... DEFAULT UNSET`, so every CQL type round-trips), the regular columns
grouped by their write time and TTL.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.metadata import TableMetadata, protect_name
from cassandra.query import SimpleStatement
from django.conf import settings

from chat.store.cassandra.migrate import MigrationError, _replication_cql, replication_from_setting
from chat.store.cassandra.session import cassandra_session

FORMAT = 1
_PAGE = 500
_CONCURRENCY = 64


class BackupError(Exception):
    """A backup cannot be taken or restored (a keyspace missing or already there, a bad file)."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int


def _tables(keyspace: str) -> list[TableMetadata]:
    session = cassandra_session()
    session.cluster.refresh_schema_metadata()
    meta = session.cluster.metadata.keyspaces.get(keyspace)
    if meta is None:
        raise BackupError(f"keyspace {keyspace!r} does not exist")
    if meta.user_types or meta.functions or meta.aggregates or meta.views:
        raise BackupError(
            f"keyspace {keyspace!r} has types, functions or views, which this export does not copy"
        )
    tables = [meta.tables[name] for name in sorted(meta.tables)]
    for table in tables:
        if table.indexes:
            raise BackupError(f"table {table.name!r} has secondary indexes, which this export does not copy")
    return tables


def _regular_columns(table: TableMetadata) -> list[str]:
    keys = {c.name for c in table.primary_key}
    return [name for name in table.columns if name not in keys]


def _rows(keyspace: str, table: TableMetadata) -> Iterator[dict[str, Any]]:
    """The table's rows as export lines, read page by page."""
    keys = [c.name for c in table.primary_key]
    regular = _regular_columns(table)
    selected = [protect_name(c) for c in keys + regular]
    for column in regular:
        # a cell's write time and TTL; columns are frozen or scalar here (one cell each), and a
        # non-frozen collection has no single write time: refuse rather than copy it wrongly
        cql_type = str(table.columns[column].cql_type)
        if cql_type.split("<", 1)[0] in ("list", "set", "map"):
            raise BackupError(
                f"{table.name}.{column} is a non-frozen collection, which this export does not copy"
            )
        selected += [f"WRITETIME({protect_name(column)})", f"TTL({protect_name(column)})"]
    query = SimpleStatement(
        f"SELECT JSON {', '.join(selected)} FROM {protect_name(keyspace)}.{protect_name(table.name)}",
        fetch_size=_PAGE,
    )
    for row in cassandra_session().execute(query):
        values = json.loads(row[0])
        key = {name: values[_json_key(name)] for name in keys}
        groups: dict[tuple[int, int], dict[str, Any]] = {}
        for name in regular:
            written = values[f"writetime({_json_key(name)})"]
            if written is None:  # no cell: the column is unset in this row
                continue
            ttl = values[f"ttl({_json_key(name)})"] or 0
            groups.setdefault((written, ttl), {})[_json_key(name)] = values[_json_key(name)]
        yield {"key": key, "cells": [[ts, ttl, cells] for (ts, ttl), cells in sorted(groups.items())]}


def _json_key(column: str) -> str:
    """The column's key in `SELECT JSON` output (a case-sensitive name keeps its quotes)."""
    return protect_name(column)


def keyspace_export(*, directory: Path, keyspace: str | None = None) -> list[TableCopy]:
    """Write every table of the keyspace to `directory` (created; must be empty)."""
    keyspace = keyspace or settings.CASSANDRA_KEYSPACE
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty")
    taken_at_us = int(time.time() * 1_000_000)
    copies: list[TableCopy] = []
    schema: list[dict[str, str]] = []
    for table in _tables(keyspace):
        count = 0
        with gzip.open(directory / f"{table.name}.jsonl.gz", "wt", encoding="utf-8") as out:
            for line in _rows(keyspace, table):
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                count += 1
        copies.append(TableCopy(table=table.name, rows=count))
        schema.append({"table": table.name, "cql": table.as_cql_query()})
    manifest = {
        "format": FORMAT,
        "keyspace": keyspace,
        "taken_at_us": taken_at_us,
        "tables": schema,
        "rows": {c.table: c.rows for c in copies},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return copies


def _create_table_cql(cql: str, *, source: str, target: str, table: str) -> str:
    prefix = f"CREATE TABLE {protect_name(source)}.{protect_name(table)} "
    if not cql.startswith(prefix):
        raise BackupError(f"unexpected CREATE statement for {table!r} in the manifest")
    return f"CREATE TABLE {protect_name(target)}.{protect_name(table)} " + cql[len(prefix) :]


def keyspace_import_check(*, directory: Path, keyspace: str | None = None) -> dict[str, Any]:
    """The backup's manifest, once sure that the import can begin: the manifest is readable, the
    replication setting is valid, and the keyspace does not exist (an import never merges)."""
    keyspace = keyspace or settings.CASSANDRA_KEYSPACE
    try:
        manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"no readable manifest.json in {directory}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    missing = [t["table"] for t in manifest["tables"] if not (directory / f"{t['table']}.jsonl.gz").is_file()]
    if missing:
        raise BackupError(f"{directory} lacks the rows of {', '.join(missing)}")
    try:
        replication_from_setting(settings.CASSANDRA_REPLICATION)
    except MigrationError as exc:
        raise BackupError(str(exc)) from exc
    session = cassandra_session()
    session.cluster.refresh_schema_metadata()
    if keyspace in session.cluster.metadata.keyspaces:
        raise BackupError(
            f"keyspace {keyspace!r} already exists: drop it first, or restore into another name"
        )
    return manifest


def keyspace_import(*, directory: Path, keyspace: str | None = None) -> list[TableCopy]:
    """Create the keyspace (it must not exist; replication from CASSANDRA_REPLICATION) with the
    backup's tables, and write their rows back with their write times and remaining TTLs."""
    keyspace = keyspace or settings.CASSANDRA_KEYSPACE
    manifest = keyspace_import_check(directory=directory, keyspace=keyspace)
    session = cassandra_session()
    replication = _replication_cql(replication_from_setting(settings.CASSANDRA_REPLICATION))
    session.execute(f"CREATE KEYSPACE {protect_name(keyspace)} WITH replication = {replication}")
    for entry in manifest["tables"]:
        session.execute(
            _create_table_cql(
                entry["cql"], source=manifest["keyspace"], target=keyspace, table=entry["table"]
            )
        )
    elapsed_s = max(0, (int(time.time() * 1_000_000) - manifest["taken_at_us"]) // 1_000_000)
    copies: list[TableCopy] = []
    for entry in manifest["tables"]:
        name = entry["table"]
        insert = session.prepare(
            f"INSERT INTO {protect_name(keyspace)}.{protect_name(name)} JSON ? DEFAULT UNSET "
            "USING TIMESTAMP ? AND TTL ?"
        )
        params: list[tuple[str, int, int]] = []
        rows = 0
        with gzip.open(directory / f"{name}.jsonl.gz", "rt", encoding="utf-8") as lines:
            for text in lines:
                line = json.loads(text)
                written = 0
                if not line["cells"]:  # only key columns: the row itself, as of the backup
                    params.append((json.dumps(line["key"]), manifest["taken_at_us"], 0))
                    written += 1
                for ts, ttl, cells in line["cells"]:
                    remaining = ttl - elapsed_s if ttl else 0
                    if ttl and remaining <= 0:  # would have expired by now
                        continue
                    params.append((json.dumps({**line["key"], **cells}), ts, remaining))
                    written += 1
                rows += 1 if written else 0
                if len(params) >= 1000:
                    _write(insert, params)
                    params = []
        _write(insert, params)
        copies.append(TableCopy(table=name, rows=rows))
    return copies


def _write(insert: Any, params: list[tuple[str, int, int]]) -> None:
    if not params:
        return
    for ok, result in execute_concurrent_with_args(
        cassandra_session(), insert, params, concurrency=_CONCURRENCY, raise_on_first_error=True
    ):
        if not ok:  # pragma: no cover - raise_on_first_error raises first
            raise BackupError(f"a row could not be written: {result}")
