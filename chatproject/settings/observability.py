"""Settings of logs and metrics (README, "Logs and metrics"), imported by `base`: the log format
and LOGGING built from it, the process's name, and where a Celery process serves /metrics."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from chatproject.settings.env import env_int, env_str

# --- logs and metrics (README, "Logs and metrics"): JSON lines (LOG_FORMAT=json, `make run`) or
# plain text (the test settings' default), each with the id of its request, connection or batch;
# PROCESS_NAME is set per process by scripts/run.sh (api-1, chat-1, worker-sync-0, beat...)
LOG_FORMAT = env_str("LOG_FORMAT", "json")
PROCESS_NAME = env_str("PROCESS_NAME", "") or Path(sys.argv[0]).name
PROCESS_KIND = re.sub(r"-\d+$", "", PROCESS_NAME)  # api, chat, worker-sync, ...
# a Celery process serves /metrics on METRICS_ADDR:METRICS_PORT + METRICS_PORT_INDEX (0: none);
# API and chat servers serve it on their own HTTP port
METRICS_ADDR = env_str("METRICS_ADDR", "127.0.0.1")
METRICS_PORT = env_int("METRICS_PORT", 0)
METRICS_PORT_INDEX = env_int("METRICS_PORT_INDEX", 0)


def logging_config(log_format: str) -> dict[str, Any]:
    """The LOGGING of a format, `json` or `plain`."""
    if log_format not in ("json", "plain"):
        raise RuntimeError(f"LOG_FORMAT must be json or plain, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "chatproject.logs.LogContextFilter"}},
        "formatters": {
            "plain": {"()": "chatproject.logs.PlainFormatter"},
            "json": {"()": "chatproject.logs.JsonFormatter", "process": PROCESS_NAME, "kind": PROCESS_KIND},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        "loggers": {
            "cassandra": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
            # one line per sampled message with its per-hop times (chat/domain/hops.py): DEBUG to see them
            "chat.hops": {"level": env_str("LOG_LEVEL_HOPS", "INFO")},
        },
    }


LOGGING = logging_config(LOG_FORMAT)
