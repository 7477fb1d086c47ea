"""The Celery app: queue `sync` is the message sync queue, queue `push` the push notification
server (DESIGN.md §2). Configuration comes from Django settings (the CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from billiard.process import current_process
from celery import Celery
from celery.signals import beat_init, setup_logging, task_postrun, worker_process_init

from chatproject.metrics import celery_task_count, metrics_server_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings.local")

app = Celery("chatproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # <app>/tasks.py of every installed app
app.autodiscover_tasks(["chat.worker"])  # the sync-queue worker's tasks: chat/worker/tasks.py


@worker_process_init.connect
def _reset_connections_after_fork(**_: Any) -> None:
    """A prefork child must not share the parent's Cassandra or Redis sockets."""
    from chat.store.cassandra.session import cassandra_reset
    from chatproject.redis_client import redis_reset

    cassandra_reset()
    redis_reset()


@setup_logging.connect
def _logging_from_settings(*, loglevel: int | str | None = None, **_: Any) -> None:
    """Log as the Django processes do (LOGGING: JSON or plain, with the log context) instead of
    Celery's own format; `--loglevel` still sets the level."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@worker_process_init.connect
def _serve_metrics(**_: Any) -> None:
    """/metrics of the process that runs the tasks: the worker itself with the solo pool, each
    pool process with prefork (its index added to the port)."""
    metrics_server_start(child_index=getattr(current_process(), "index", 0) or 0)


@beat_init.connect
def _serve_beat_metrics(**_: Any) -> None:
    """/metrics of beat, the one process of a deployment that reports the queues' depth."""
    metrics_server_start(queue_depth=True)


@task_postrun.connect
def _count_task(*, task: Any = None, state: str | None = None, **_: Any) -> None:
    celery_task_count(task_name=getattr(task, "name", "unknown"), state=state)
