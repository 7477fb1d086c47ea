"""The hop samples of the send path (`chat.domain.hops`) in Redis: the list `chat:hops`, newest
first, capped at HOPS_KEEP entries; the bench takes them after each step."""

from __future__ import annotations

from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

_HOPS = "chat:hops"
HOPS_KEEP = 20_000


async def hops_record(client: aioredis.Redis, samples: list[dict[str, Any]]) -> None:
    """Keep complete samples: {"id", "hops": {hop: monotonic seconds}}."""
    if not samples:
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.lpush(_HOPS, *(orjson.dumps(s) for s in samples))
        pipe.ltrim(_HOPS, 0, HOPS_KEEP - 1)
        await pipe.execute()


def hops_take(client: redis.Redis) -> list[dict[str, Any]]:
    """Every sample kept so far, oldest first, and forget them."""
    with client.pipeline(transaction=True) as pipe:
        pipe.lrange(_HOPS, 0, -1)
        pipe.delete(_HOPS)
        raw, _ = pipe.execute()
    return [orjson.loads(r) for r in reversed(raw)]
