"""The producers' handle on the message sync queue (the Celery queue `sync`).

Chat servers and API servers enqueue `chat.messages_sync` by its name, so neither imports the
worker's code (`chat.worker.tasks`): a process that enqueues never loads what stores and routes.

A chat server puts its batches on the queue from its event loop (`SyncQueue.push`): the message
Celery's worker reads (task protocol 2 in kombu's Redis envelope, the same shape `send_task`
writes) is built here and pushed with one LPUSH on the loop's own Redis connection — no thread
hop, no blocking call on the loop, and none of kombu's per-publish bookkeeping. The API servers'
threads use Celery's own `send_task` (`SyncQueue.apply_async`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import uuid
import weakref
from typing import Any

import orjson
import redis.asyncio as aioredis
from celery import current_app
from django.conf import settings

from chatproject.redis_client import get_async_redis, redis_url

MESSAGES_SYNC = "chat.messages_sync"
SYNC_QUEUE = "sync"

_NO_CANVAS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"

_brokers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def task_envelope(name: str, kwargs: dict[str, Any], *, queue: str) -> bytes:
    """A Celery task message (protocol 2) as kombu's Redis transport stores it in a queue's list."""
    task_id = str(uuid.uuid4())
    body = orjson.dumps([[], kwargs, _NO_CANVAS])
    return orjson.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": name,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": "()",
                "kwargsrepr": "{…}",
                "origin": _ORIGIN,
                "ignore_result": True,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def _broker() -> aioredis.Redis:
    """The event loop's connection to the broker (the project's Redis unless CELERY_BROKER_URL
    names another)."""
    if redis_url() == settings.CELERY_BROKER_URL:
        return get_async_redis()
    loop = asyncio.get_running_loop()
    client = _brokers.get(loop)
    if client is None:
        client = _brokers[loop] = aioredis.Redis.from_url(settings.CELERY_BROKER_URL)
    return client


class SyncQueue:
    """Enqueues `chat.messages_sync`: the registered task when this process has it (tests run it
    eagerly), else by name through the broker."""

    def apply_async(self, *, kwargs: dict[str, Any], queue: str = SYNC_QUEUE) -> None:
        task = current_app.tasks.get(MESSAGES_SYNC)
        if task is not None:
            task.apply_async(kwargs=kwargs, queue=queue)
        else:
            current_app.send_task(MESSAGES_SYNC, kwargs=kwargs, queue=queue)

    async def push(self, *, kwargs: dict[str, Any], queue: str = SYNC_QUEUE) -> None:
        """From an event loop: one LPUSH of the task message (in a thread through Celery when
        tasks run eagerly in this process, as in the in-process tests)."""
        if current_app.conf.task_always_eager and MESSAGES_SYNC in current_app.tasks:
            await asyncio.to_thread(self.apply_async, kwargs=kwargs, queue=queue)
            return
        await _broker().lpush(queue, task_envelope(MESSAGES_SYNC, kwargs, queue=queue))  # type: ignore[misc]


messages_sync = SyncQueue()
