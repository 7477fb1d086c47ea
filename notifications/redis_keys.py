"""Redis keys of the push notification server (STYLE.md rule 2): the coalesced notification
waiting for each user (`notif:pending:<user_id>`, a hash: count, conversation ids, newest message)."""

from __future__ import annotations

import redis

_PENDING = "notif:pending:{}"


def pending_add(
    client: redis.Redis, *, user_id: int, conversation_id: int, message_id: int, ttl: int
) -> None:
    key = _PENDING.format(user_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "count", 1)
        pipe.hset(key, f"c:{conversation_id}", str(message_id))
        pipe.expire(key, ttl)
        pipe.execute()


def pending_get(client: redis.Redis, *, user_id: int) -> dict[str, int]:
    raw = client.hgetall(_PENDING.format(user_id))
    return {k.decode(): int(v) for k, v in raw.items()}  # type: ignore[union-attr]
