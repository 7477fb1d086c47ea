"""Redis keys of the push notification server (STYLE.md rule 2): the coalesced notification
waiting for each user (`notif:pending:<user_id>`, a hash: count, conversation ids, newest message)
and the mark that a send of it is already scheduled (`notif:scheduled:<user_id>`)."""

from __future__ import annotations

import redis

_PENDING = "notif:pending:{}"
_SCHEDULED = "notif:scheduled:{}"


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


# Subtract a sent snapshot from the pending hash: the count goes down by what was sent, and a
# conversation's entry goes only if no newer message arrived in it meanwhile; an empty record goes.
_PENDING_SUBTRACT = """
local count = redis.call('HINCRBY', KEYS[1], 'count', -tonumber(ARGV[1]))
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
if count <= 0 or redis.call('HLEN', KEYS[1]) <= 1 then
  redis.call('DEL', KEYS[1])
end
return count
"""


def pending_subtract(client: redis.Redis, *, user_id: int, sent: dict[str, int]) -> None:
    """Remove what `sent` (a `pending_get` snapshot) held; what arrived since stays pending."""
    args: list[str] = [str(sent.get("count", 0))]
    for field, value in sent.items():
        if field != "count":
            args += [field, str(value)]
    client.eval(_PENDING_SUBTRACT, 1, _PENDING.format(user_id), *args)


def send_schedule_claim(client: redis.Redis, *, user_id: int, ttl: int) -> bool:
    """True for the first caller while no send is scheduled: that caller schedules it."""
    return bool(client.set(_SCHEDULED.format(user_id), "1", nx=True, ex=ttl))


def send_schedule_mark(client: redis.Redis, *, user_id: int, ttl: int) -> None:
    """A send (a retry) is scheduled: records that arrive meanwhile join it."""
    client.set(_SCHEDULED.format(user_id), "1", ex=ttl)


def send_schedule_release(client: redis.Redis, *, user_id: int) -> None:
    """The scheduled send starts now: a record that arrives from here on schedules another."""
    client.delete(_SCHEDULED.format(user_id))


def user_state_discard(client: redis.Redis, *, user_id: int) -> None:
    """Forget the user's pending notification and scheduled-send mark."""
    client.delete(_PENDING.format(user_id), _SCHEDULED.format(user_id))
