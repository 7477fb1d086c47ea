"""`manage.py cassandra_restore <dir>`: a keyspace made again from `cassandra_backup`'s files."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.store.cassandra.backup import BackupError, keyspace_import, keyspace_import_check


class Command(BaseCommand):
    help = "Create the Cassandra keyspace (it must not exist) from a cassandra_backup directory."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory", help="a directory written by cassandra_backup")
        parser.add_argument("--keyspace", help="keyspace to create (default: CASSANDRA_KEYSPACE)")
        parser.add_argument("--check", action="store_true", help="only check that the restore can begin")

    def handle(self, *args: Any, **options: Any) -> None:
        directory, keyspace = Path(options["directory"]), options["keyspace"]
        try:
            if options["check"]:
                keyspace_import_check(directory=directory, keyspace=keyspace)
                return
            copies = keyspace_import(directory=directory, keyspace=keyspace)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for copy in copies:
            self.stdout.write(f"cassandra: {copy.table}: {copy.rows} rows restored")
