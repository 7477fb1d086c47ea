#!/usr/bin/env bash
# `make test`'s pytest part. The suites run as four parallel groups, each a pytest run of its own with
# its own PostgreSQL test database, Cassandra keyspace and Redis database (TEST_RUN_ID,
# TEST_REDIS_DB: chatproject/settings/test.py), so that the process stacks the groups start never
# share a registry or a queue. Each group's output goes to var/test/<group>.log; the summary of
# every group is printed at the end, and the whole log of a group that failed.
#
#   scripts/test.sh                 every group (what `make test` runs)
#   PYTEST_ARGS="chat -k feed" scripts/test.sh   one pytest run with these arguments instead
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT_DIR"
export DJANGO_SETTINGS_MODULE=chatproject.settings.test
PYTEST=.venv/bin/pytest

if [ -n "${PYTEST_ARGS:-}" ]; then
  # shellcheck disable=SC2086  # the arguments are meant to split
  exec "$PYTEST" $PYTEST_ARGS
fi

OUT="$CHAT_VAR_DIR/test"
mkdir -p "$OUT"
# group name (a word: it names the test database and keyspace) | Redis database | what it runs
GROUPS_TABLE="
units|1|accounts audit chat presence notifications web
processes|2|$(ls tests/test_*.py | tr '\n' ' ')
security_browser|3|tests/security tests/browser
reliability|4|tests/reliability
"

run_group() {  # name, Redis database, paths...: one pytest run, its wall time in <name>.secs
  local name="$1" db="$2" start rc
  shift 2
  start=$(date +%s)
  # a base temp directory per group: pytest removes old ones of its shared default at start
  TEST_RUN_ID="$name" TEST_REDIS_DB="$db" "$PYTEST" --basetemp="$OUT/$name-tmp" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  echo $(( $(date +%s) - start )) >"$OUT/$name.secs"
  return $rc
}

declare -A pids
while IFS='|' read -r name db paths; do
  [ -n "$name" ] || continue
  existing=()
  for path in $paths; do [ -e "$path" ] && existing+=("$path"); done
  [ "${#existing[@]}" -gt 0 ] || continue
  run_group "$name" "$db" "${existing[@]}" &
  pids[$name]=$!
  echo "[test] $name: pytest ${existing[*]} (log: $OUT/$name.log)"
done <<<"$GROUPS_TABLE"

failed=()
for name in "${!pids[@]}"; do
  wait "${pids[$name]}" || failed+=("$name")
done
for name in "${!pids[@]}"; do
  echo "[test] $name: $(cat "$OUT/$name.secs") s, $(tail -n 1 "$OUT/$name.log")"
done
for name in "${failed[@]}"; do
  echo; echo "=============== $name failed: its log ==============="; cat "$OUT/$name.log"
done
for name in "${!pids[@]}"; do
  echo; echo "--- $name: summary ---"; sed -n '/short test summary info/,$p' "$OUT/$name.log" | tail -n 40
done
[ "${#failed[@]}" -eq 0 ] || { echo "[test] FAILED: ${failed[*]}"; exit 1; }
echo "[test] every group passed"
