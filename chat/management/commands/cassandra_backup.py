"""`manage.py cassandra_backup <dir>`: every table of the keyspace to files (scripts/backup.sh)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.store.cassandra.backup import BackupError, keyspace_export


class Command(BaseCommand):
    help = "Export every table of the Cassandra keyspace, with write times and TTLs, into a directory."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory", help="where to write (created; must be empty)")
        parser.add_argument("--keyspace", help="keyspace to export (default: CASSANDRA_KEYSPACE)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            copies = keyspace_export(directory=Path(options["directory"]), keyspace=options["keyspace"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for copy in copies:
            self.stdout.write(f"cassandra: {copy.table}: {copy.rows} rows")
