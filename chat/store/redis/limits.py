"""The per-user limits a chat server keeps in Redis: the sliding window of a user's sends
(`chat:rate:<user_id>`, the send budget) and the typing throttle
(`chat:typing:<user_id>:<conversation_id>`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from chatproject.redis_scripts import LuaScript

_RATE = "chat:rate:{}"
_TYPING = "chat:typing:{}:{}"

# the sliding window of a user's sends, in one round trip: trim, then either refuse (answering the
# milliseconds until the oldest send leaves the window) or count this send (answering -1). A
# refused send is not counted, so a client that backs off recovers.
_RATE_LUA = LuaScript("""
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) * 1000))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return -1
""")


async def rate_limits_take(
    client: aioredis.Redis, *, user_ids: Sequence[int], limit: int, window: int
) -> list[tuple[str | None, int]]:
    """Count one send of each of `user_ids` (a user may appear several times) in its sliding window
    of `window` seconds, in order, in one round trip.

    For each: (the send's entry, for `rate_limit_return` if the send is refused later; 0) when it
    is within `limit`, else (None, milliseconds until a send is allowed again).
    """
    now = time.time()
    members = [f"{now:.6f}:{secrets.token_hex(4)}" for _ in user_ids]
    answers = await _RATE_LUA.run_many_async(
        client,
        [
            ([_RATE.format(user_id)], (f"{now:.6f}", str(window), member, str(limit)))
            for user_id, member in zip(user_ids, members, strict=True)
        ],
    )
    return [
        (member, 0) if int(answer) < 0 else (None, int(answer))
        for member, answer in zip(members, answers, strict=True)
    ]


async def rate_limit_return(client: aioredis.Redis, *, user_id: int, entry: str) -> None:
    """Take back a counted send that was refused (rejected sends do not use the budget)."""
    await client.zrem(_RATE.format(user_id), entry)


async def typing_throttle(
    client: aioredis.Redis, *, user_id: int, conversation_id: int, seconds: float
) -> bool:
    """True at most once per `seconds` per user and conversation."""
    return bool(
        await client.set(_TYPING.format(user_id, conversation_id), 1, nx=True, px=max(1, int(seconds * 1000)))
    )
