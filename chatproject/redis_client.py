"""The process's Redis clients (sync and asyncio), created lazily and re-created after fork.

Apps own their keys (presence keys live in `presence/`, routing keys in `chat/`); this module only
owns the connections.
"""

from __future__ import annotations

import asyncio
import os
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from chatproject.settings.env import redis_url_build

_sync: tuple[int, redis.Redis] | None = None


def redis_url() -> str:
    """The URL of the settings as they are now (tests change REDIS_* on the fly)."""
    return redis_url_build(
        host=settings.REDIS_HOST,
        port=settings.REDIS_PORT,
        db=settings.REDIS_DB,
        password=settings.REDIS_PASSWORD,
        tls=settings.REDIS_TLS,
        ca_certs=settings.REDIS_TLS_CA_CERTS,
    )


def get_redis() -> redis.Redis:
    """The synchronous client of this process (thread-safe connection pool)."""
    global _sync
    if _sync is None or _sync[0] != os.getpid():
        _sync = (os.getpid(), redis.Redis.from_url(redis_url(), socket_timeout=15, socket_connect_timeout=2))
    return _sync[1]


_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def get_async_redis() -> aioredis.Redis:
    """The asyncio client of the running event loop (one per loop: its sockets belong to it)."""
    loop = asyncio.get_running_loop()
    client = _async.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)
        _async[loop] = client
    return client


def async_redis_named(name: str) -> aioredis.Redis:
    """An asyncio client of its own whose connections carry `name` (CLIENT SETNAME), for a
    long-lived connection an operator should find in CLIENT LIST (a subscription). The caller
    closes it."""
    return aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2, client_name=name)


def redis_reset() -> None:
    """Forget this process's client (after fork, or when the Redis settings change)."""
    global _sync
    _sync = None
    _async.clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: object) -> None:
    if setting.startswith("REDIS_"):
        redis_reset()
