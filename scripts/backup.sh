#!/usr/bin/env bash
# A backup of the service's data: the PostgreSQL database (pg_dump, custom format) and the
# Cassandra keyspace (every table exported through the driver with its cells' write times and TTLs:
# `manage.py cassandra_backup`; why not `nodetool snapshot`: docs/operations.md, "Backups").
# Settings as everywhere (environment, then .env, then .env.example): POSTGRES_HOST/PORT/DB/USER/
# PASSWORD, CASSANDRA_HOSTS/PORT/KEYSPACE and the rest of CASSANDRA_*. Nothing is stopped: PostgreSQL
# is dumped first (one consistent snapshot), then Cassandra table by table.
#
#   scripts/backup.sh [DIR]    default DIR: $CHAT_VAR_DIR/backups/<UTC time>; must not exist or be empty
#
# DIR gets postgres.dump, cassandra/ (manifest.json and one <table>.jsonl.gz per table) and
# backup.txt (what was copied, when, from which commit). scripts/restore.sh DIR puts it back.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT_DIR"

say() { printf '[backup] %s\n' "$*"; }
die() { printf '[backup] ERROR: %s\n' "$*" >&2; exit 1; }
pg_tool() {  # the newest local PostgreSQL client of that name (pg_dump must not be older than the server)
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$bin" ] && [ -x "$bin/$1" ]; then echo "$bin/$1"; else command -v "$1" || die "$1 not found"; fi
}

DIR="${1:-$CHAT_VAR_DIR/backups/$(date -u +%Y%m%dT%H%M%SZ)}"
[ ! -e "$DIR" ] || [ -z "$(ls -A "$DIR")" ] || die "$DIR exists and is not empty"
mkdir -p "$DIR"
started=$(date +%s)

say "PostgreSQL: pg_dump of $POSTGRES_DB on $POSTGRES_HOST:$POSTGRES_PORT"
PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT="${POSTGRES_CONNECT_TIMEOUT:-5}" "$(pg_tool pg_dump)" \
  --host "$POSTGRES_HOST" --port "$POSTGRES_PORT" --username "$POSTGRES_USER" --no-password \
  --format custom --file "$DIR/postgres.dump" "$POSTGRES_DB"

say "Cassandra: keyspace $CASSANDRA_KEYSPACE on $CASSANDRA_HOSTS:$CASSANDRA_PORT"
"$ROOT_DIR/.venv/bin/python" manage.py cassandra_backup "$DIR/cassandra" | sed 's/^/[backup] /'

{
  echo "taken_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "postgres=$POSTGRES_HOST:$POSTGRES_PORT/$POSTGRES_DB"
  echo "cassandra=$CASSANDRA_HOSTS:$CASSANDRA_PORT/$CASSANDRA_KEYSPACE"
  echo "commit=$(git -C "$ROOT_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
} >"$DIR/backup.txt"
say "done in $(( $(date +%s) - started )) s: $DIR ($(du -sh "$DIR" | cut -f1))"
