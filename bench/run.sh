#!/usr/bin/env bash
# `make bench` (`make bench QUICK=1` passes --quick): runs the load generator against the stack of
# `make run`. When that stack is not running, it does the set-up steps of `make run`, starts the
# stack in the background (scripts/run.sh up) with the per-user send limit raised (the 20 pairs
# send up to thousands of messages a second each), a larger share of hop samples and the fault
# stack's bound of a slow socket (256 KiB unsent, a 64 KiB kernel send buffer: the slow consumer's
# socket is closed within its phase, not ~90 s in as at the defaults), and stops it again when the
# bench ends. A running stack is used as it is: the bench reports its limits.
set -euo pipefail
# what the caller set wins over the bench's own values (scripts/env.sh below fills in the rest)
BENCH_RATE_LIMIT_MESSAGES="${CHAT_RATE_LIMIT_MESSAGES:-100000}"
BENCH_HOP_SAMPLE="${CHAT_HOP_SAMPLE:-0.05}"
BENCH_SEND_BACKLOG_MAX="${CHAT_SEND_BACKLOG_MAX:-262144}"
BENCH_SOCKET_SEND_BUFFER="${CHAT_SOCKET_SEND_BUFFER:-65536}"
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$ROOT_DIR"

RUN="$CHAT_VAR_DIR/run"
supervisor_running() { [ -f "$RUN/supervisord.pid" ] && kill -0 "$(cat "$RUN/supervisord.pid")" 2>/dev/null; }

if supervisor_running; then
  echo "[bench] using the running stack (its own send limits)"
  .venv/bin/python -m bench "$@"
else
  echo "[bench] the stack is not running: setting it up and starting it (stopped again at the end)"
  export CHAT_RATE_LIMIT_MESSAGES="$BENCH_RATE_LIMIT_MESSAGES" CHAT_HOP_SAMPLE="$BENCH_HOP_SAMPLE" \
    CHAT_SEND_BACKLOG_MAX="$BENCH_SEND_BACKLOG_MAX" CHAT_SOCKET_SEND_BUFFER="$BENCH_SOCKET_SEND_BUFFER"
  make --no-print-directory seed collectstatic
  scripts/services.sh start nginx
  scripts/run.sh up
  trap 'scripts/run.sh stop' EXIT
  .venv/bin/python -m bench --own-stack "$@"
fi
