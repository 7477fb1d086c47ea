#!/usr/bin/env bash
# `make bench` (`make bench QUICK=1` passes --quick): runs the load generator against the stack of
# `make run`. When that stack is not running, it does the set-up steps of `make run`, starts the
# stack in the background (scripts/run.sh up), and stops it again when the bench ends.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$ROOT_DIR"

RUN="$CHAT_VAR_DIR/run"
supervisor_running() { [ -f "$RUN/supervisord.pid" ] && kill -0 "$(cat "$RUN/supervisord.pid")" 2>/dev/null; }

if supervisor_running; then
  echo "[bench] using the running stack"
else
  echo "[bench] the stack is not running: setting it up and starting it (stopped again at the end)"
  make --no-print-directory seed collectstatic
  scripts/services.sh start nginx
  scripts/run.sh up
  trap 'scripts/run.sh stop' EXIT
fi
.venv/bin/python -m bench "$@"
