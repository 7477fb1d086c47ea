#!/usr/bin/env bash
# Puts back a backup of scripts/backup.sh: the PostgreSQL database POSTGRES_DB and the Cassandra
# keyspace CASSANDRA_KEYSPACE are created from it (names from the environment, .env, .env.example:
# restoring into other names than the backup's is allowed). Neither may exist: the restore never
# merges into or overwrites live data; drop them first (docs/operations.md, "Restore"). The
# keyspace gets the replication of CASSANDRA_REPLICATION, not the backup's, so a backup of a
# production cluster can be restored onto one local node. Stop the application processes first.
#
#   scripts/restore.sh DIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT_DIR"

say() { printf '[restore] %s\n' "$*"; }
die() { printf '[restore] ERROR: %s\n' "$*" >&2; exit 1; }
pg_tool() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$bin" ] && [ -x "$bin/$1" ]; then echo "$bin/$1"; else command -v "$1" || die "$1 not found"; fi
}

[ $# -eq 1 ] || die "usage: $0 DIR (a directory written by scripts/backup.sh)"
DIR="$1"
[ -f "$DIR/postgres.dump" ] && [ -f "$DIR/cassandra/manifest.json" ] || die "$DIR is not a backup of scripts/backup.sh"
export PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT="${POSTGRES_CONNECT_TIMEOUT:-5}"
PG_ARGS=(--host "$POSTGRES_HOST" --port "$POSTGRES_PORT" --username "$POSTGRES_USER" --no-password)
started=$(date +%s)

exists="$(printf "SELECT 1 FROM pg_database WHERE datname = :'db'\n" \
  | "$(pg_tool psql)" "${PG_ARGS[@]}" --dbname postgres -v db="$POSTGRES_DB" -At)"
[ -z "$exists" ] || die "database $POSTGRES_DB already exists: drop it first, or set POSTGRES_DB to another name"
# the keyspace's checks too, before anything is created (never half a restore for a foreseeable reason)
"$ROOT_DIR/.venv/bin/python" manage.py cassandra_restore --check "$DIR/cassandra" \
  || die "the keyspace cannot be restored (above); nothing was changed"

say "PostgreSQL: database $POSTGRES_DB on $POSTGRES_HOST:$POSTGRES_PORT from $DIR/postgres.dump"
"$(pg_tool createdb)" "${PG_ARGS[@]}" --maintenance-db postgres "$POSTGRES_DB"
# objects owned by POSTGRES_USER, whoever owned them where the dump was taken
"$(pg_tool pg_restore)" "${PG_ARGS[@]}" --dbname "$POSTGRES_DB" --no-owner --no-privileges \
  --exit-on-error --single-transaction "$DIR/postgres.dump"

say "Cassandra: keyspace $CASSANDRA_KEYSPACE on $CASSANDRA_HOSTS:$CASSANDRA_PORT from $DIR/cassandra"
"$ROOT_DIR/.venv/bin/python" manage.py cassandra_restore "$DIR/cassandra" | sed 's/^/[restore] /'

say "done in $(( $(date +%s) - started )) s; then: manage.py migrate and manage.py cassandra_migrate (newer migrations than the backup's), start the processes"
