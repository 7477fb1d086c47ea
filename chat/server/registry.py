"""A chat server's entry in the discovery registry (`chat.discovery` reads it): its id, public
URL, region, capacity and live connection count, refreshed every CHAT_REGISTRY_REFRESH seconds;
a server that stops refreshing expires out of discovery by itself. The refresh also finds an
operator's drain request whose delivery event was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from django.conf import settings

from chat.store.redis import keys as redis_keys
from chat.store.redis.keys import ChatServerEntry
from chatproject.redis_client import get_async_redis

if TYPE_CHECKING:
    from chat.server.runtime import ChatServerRuntime

log = logging.getLogger(__name__)


def registry_entry(runtime: ChatServerRuntime) -> ChatServerEntry:
    """This server's entry as discovery shows it now."""
    return ChatServerEntry(
        id=runtime.server_id,
        url=settings.CHAT_SERVER_URL,
        region=settings.CHAT_SERVER_REGION,
        capacity=settings.CHAT_SERVER_CAPACITY,
        connections=len(runtime.connections),
        draining=runtime.draining,
    )


async def registry_loop(runtime: ChatServerRuntime) -> None:
    """Publish this server's entry every CHAT_REGISTRY_REFRESH seconds until it drains."""
    client = get_async_redis()
    with contextlib.suppress(Exception):
        await redis_keys.registry_drain_forget(client, runtime.server_id)
    while True:
        try:
            if not runtime.draining and await redis_keys.registry_drain_requested(client, runtime.server_id):
                runtime.request_drain()  # its delivery event was lost (Redis reconnecting)
            elif not runtime.draining:
                existed = await redis_keys.registry_publish(
                    client, registry_entry(runtime), ttl=settings.CHAT_REGISTRY_TTL
                )
                if not existed and runtime.by_user:
                    # the entry had expired or Redis lost its data: the routing entries of
                    # this server's users may be gone too, so write them again
                    await redis_keys.routes_reassert(
                        client,
                        server_id=runtime.server_id,
                        counts={u: len(c) for u, c in runtime.by_user.items()},
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("chat server %s: registry refresh failed", runtime.server_id, exc_info=True)
        await asyncio.sleep(settings.CHAT_REGISTRY_REFRESH)
