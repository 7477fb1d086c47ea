"""The Celery app: queue `sync` is the message sync queue, queue `push` the push notification
server (DESIGN.md §2). Configuration comes from Django settings (the CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

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
