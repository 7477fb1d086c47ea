"""The producers' handle on the message sync queue (the Celery queue `sync`).

Chat servers and API servers enqueue `chat.messages_sync` by its name, so neither imports the
worker's code (`chat.worker.tasks`): a process that enqueues never loads what stores and routes.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

MESSAGES_SYNC = "chat.messages_sync"
SYNC_QUEUE = "sync"


class SyncQueue:
    """Enqueues `chat.messages_sync`: the registered task when this process has it (tests run it
    eagerly), else by name through the broker."""

    def apply_async(self, *, kwargs: dict[str, Any], queue: str = SYNC_QUEUE) -> None:
        task = current_app.tasks.get(MESSAGES_SYNC)
        if task is not None:
            task.apply_async(kwargs=kwargs, queue=queue)
        else:
            current_app.send_task(MESSAGES_SYNC, kwargs=kwargs, queue=queue)


messages_sync = SyncQueue()
