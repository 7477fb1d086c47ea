"""Redis keys of the push notification server (STYLE.md rule 2): the messages waiting to be
pushed to each user (`notif:pending-messages:<user_id>`) and the mark that a send of them is
already scheduled (`notif:scheduled:<user_id>`).

The pending messages are a sorted set of `<conversation_id>:<message_id>` members (scored by the
message ID, for trimming only: a float score is not exact for 64-bit IDs, the member is). A send
removes exactly the members it took, so what arrived meanwhile stays, and a message that was read
or delivered elsewhere before the send can be dropped one by one.
"""

from __future__ import annotations

import redis

_PENDING = "notif:pending-messages:{}"
_SCHEDULED = "notif:scheduled:{}"
# a user whose pushes keep failing must not grow the set without bound: the oldest go
PENDING_MAX = 1000


def pending_add(
    client: redis.Redis, *, user_id: int, conversation_id: int, message_id: int, ttl: int
) -> None:
    key = _PENDING.format(user_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {f"{conversation_id}:{message_id}": float(message_id)})
        pipe.zremrangebyrank(key, 0, -PENDING_MAX - 1)
        pipe.expire(key, ttl)
        pipe.execute()


def pending_get(client: redis.Redis, *, user_id: int) -> list[tuple[int, int]]:
    """The user's pending (conversation id, message id) pairs, oldest first."""
    members = client.zrange(_PENDING.format(user_id), 0, -1)
    pairs = (member.decode().split(":") for member in members)  # type: ignore[union-attr]
    return sorted(((int(c), int(m)) for c, m in pairs), key=lambda pair: pair[1])


def pending_remove(client: redis.Redis, *, user_id: int, messages: list[tuple[int, int]]) -> None:
    """Remove these (conversation id, message id) pairs (sent, or not worth sending any more);
    what was recorded since stays pending."""
    if messages:
        client.zrem(_PENDING.format(user_id), *(f"{c}:{m}" for c, m in messages))


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
