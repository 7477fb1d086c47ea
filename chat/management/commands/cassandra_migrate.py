"""`manage.py cassandra_migrate`: create the keyspace and apply pending CQL migrations."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.store.cassandra.migrate import MigrationError, migrate


class Command(BaseCommand):
    help = "Create the Cassandra keyspace and apply the CQL migrations not yet applied."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--keyspace", help="keyspace to migrate (default: CASSANDRA_KEYSPACE)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            applied = migrate(keyspace=options["keyspace"])
        except MigrationError as exc:
            raise CommandError(str(exc)) from exc
        if not applied:
            self.stdout.write("cassandra: no migrations to apply")
        for migration in applied:
            self.stdout.write(f"cassandra: applied {migration.version}_{migration.name}")
