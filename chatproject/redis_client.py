"""The process's Redis clients (sync and asyncio), created lazily and re-created after fork.

Apps own their keys (presence keys live in `presence/`, routing keys in `chat/`); this module only
owns the connections.
"""

from __future__ import annotations

import os

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_sync: tuple[int, redis.Redis] | None = None


def redis_url() -> str:
    return f"redis://{settings.REDIS_HOST}:{settings.REDIS_PORT}/{settings.REDIS_DB}"


def get_redis() -> redis.Redis:
    """The synchronous client of this process (thread-safe connection pool)."""
    global _sync
    if _sync is None or _sync[0] != os.getpid():
        _sync = (os.getpid(), redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2))
    return _sync[1]


def get_async_redis() -> aioredis.Redis:
    """A fresh asyncio client; callers keep it for the life of their event loop."""
    return aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)


def redis_reset() -> None:
    """Forget this process's client (after fork, or when the Redis settings change)."""
    global _sync
    _sync = None


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: object) -> None:
    if setting.startswith("REDIS_"):
        redis_reset()
