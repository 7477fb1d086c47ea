"""Every Redis key of presence (STYLE.md rule 2).

- `presence:conns`: a sorted set of the live sockets, member `<user>|<device>|<socket>`, scored by
  the time of the socket's last heartbeat; the offline sweep reads only its oldest end;
- `presence:user:<user>`: the members of that set belonging to the user;
- `presence:state:<user>`: a hash `{status, last_active_at}` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from chatproject.redis_scripts import LuaScript

_CONNS = "presence:conns"
_USER = "presence:user:{}"
_STATE = "presence:state:{}"

ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True)
class PresenceState:
    user_id: int
    status: str
    last_active_at: float | None


def _member(user_id: int, device_id: str, conn_id: str) -> str:
    return f"{user_id}|{device_id}|{conn_id}"


def _user_of(member: str) -> int:
    return int(member.split("|", 1)[0])


async def socket_touch(
    client: aioredis.Redis, *, user_id: int, device_id: str, conn_id: str, now: float
) -> bool:
    """Record a heartbeat (or a new socket); True when the user was not online before."""
    [came_online] = await sockets_touch(client, [(user_id, device_id, conn_id)], now=now)
    return came_online


# per socket: its time in the sorted set, its member in the user's set, the user online; says
# whether the user was not online before. KEYS: the sorted set, then (user's set, user's state)
# per socket; ARGV: the time, the online status, then the member of each socket
_TOUCH_LUA = LuaScript("""
local out = {}
for i = 3, #ARGV do
  local user_set, state = KEYS[2 * i - 4], KEYS[2 * i - 3]
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  redis.call('SADD', user_set, ARGV[i])
  local previous = redis.call('HGET', state, 'status')
  redis.call('HSET', state, 'status', ARGV[2], 'last_active_at', ARGV[1])
  out[i - 2] = previous == ARGV[2] and 0 or 1
end
return out
""")


async def sockets_touch(
    client: aioredis.Redis, sockets: Sequence[tuple[int, str, str]], *, now: float
) -> list[bool]:
    """Record heartbeats of many sockets (user id, device id, connection id) in one round trip;
    for each, whether its user was not online before.

    One script run, not four commands per socket in a pipeline: a chat server at 10k idle
    sockets records ~1,000 heartbeats a second, and redis-py's packing of four commands and
    parsing of their answers took ~50 µs of its CPU per socket, the script's run ~7 µs."""
    if not sockets:
        return []
    keys = [_CONNS]
    members: list[str] = []
    for user_id, device_id, conn_id in sockets:
        keys += [_USER.format(user_id), _STATE.format(user_id)]
        members.append(_member(user_id, device_id, conn_id))
    answers = await _TOUCH_LUA.run_async(client, keys, now, ONLINE, *members)
    return [bool(came_online) for came_online in answers]


def sweep(client: redis.Redis, *, now: float, offline_after: float, batch: int = 1000) -> list[PresenceState]:
    """Drop the sockets silent for `offline_after` seconds; return the users that went offline.

    Reads only the expired end of the sorted set (at most `batch` sockets per call), never every
    user.
    """
    expired = client.zrangebyscore(_CONNS, "-inf", now - offline_after, start=0, num=batch, withscores=True)
    if not expired:
        return []
    last_seen: dict[int, float] = {}
    with client.pipeline(transaction=False) as pipe:
        for raw, score in expired:  # type: ignore[union-attr]
            member = raw.decode()
            user_id = _user_of(member)
            last_seen[user_id] = max(last_seen.get(user_id, 0.0), float(score))
            pipe.zrem(_CONNS, member)
            pipe.srem(_USER.format(user_id), member)
        pipe.execute()
    return _offline_if_no_sockets(client, last_seen)


def devices_drop(
    client: redis.Redis, *, user_id: int, device_ids: list[str] | None, except_device: str | None, now: float
) -> list[PresenceState]:
    """Forget the sockets of devices that logged out (`device_ids`; None: every device but
    `except_device`); the user goes offline if none is left."""
    members = [m.decode() for m in client.smembers(_USER.format(user_id))]  # type: ignore[union-attr]

    def ended(member: str) -> bool:
        device = member.split("|", 1)[1].rsplit("|", 1)[0]
        return device in device_ids if device_ids is not None else device != except_device

    gone = [m for m in members if ended(m)]
    if gone:
        with client.pipeline(transaction=False) as pipe:
            pipe.zrem(_CONNS, *gone)
            pipe.srem(_USER.format(user_id), *gone)
            pipe.execute()
    return _offline_if_no_sockets(client, {user_id: now})


# offline only if the user has no socket left and is not offline already, atomically: a socket
# that connects meanwhile is never overruled
_OFFLINE_LUA = """
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if redis.call('HGET', KEYS[2], 'status') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'status', ARGV[1], 'last_active_at', ARGV[2])
return 1
"""


def _offline_if_no_sockets(client: redis.Redis, last_seen: dict[int, float]) -> list[PresenceState]:
    went: list[PresenceState] = []
    for user_id, seen in last_seen.items():
        changed = client.eval(
            _OFFLINE_LUA, 2, _USER.format(user_id), _STATE.format(user_id), OFFLINE, str(seen)
        )
        if changed:
            went.append(PresenceState(user_id=user_id, status=OFFLINE, last_active_at=seen))
    return went


def states(client: redis.Redis, user_ids: Iterable[int]) -> list[PresenceState]:
    users = list(user_ids)
    with client.pipeline(transaction=False) as pipe:
        for user_id in users:
            pipe.hmget(_STATE.format(user_id), ["status", "last_active_at"])
        rows = pipe.execute()
    out: list[PresenceState] = []
    for user_id, (status, last) in zip(users, rows, strict=True):
        out.append(
            PresenceState(
                user_id=user_id,
                status=status.decode() if status else OFFLINE,
                last_active_at=float(last) if last else None,
            )
        )
    return out
