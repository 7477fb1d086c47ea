"""Every Redis key of presence (STYLE.md rule 2), and the scripts that keep them consistent.

- `presence:conns`: a sorted set of the live sockets, member `<user>|<device>|<socket>`, scored by
  the time of the socket's last heartbeat; the offline sweep reads only its oldest end;
- `presence:user:<user>`: the members of that set belonging to the user;
- `presence:idle:<user>`: those of them whose device last said its user is idle;
- `presence:state:<user>`: a hash `{status, last_active_at, announced, quiet_at}`: the status
  (`online` if some socket is active, `away` if every socket is idle, `offline` if none is left),
  the time of the last heartbeat of an active device (epoch seconds), the status the user's
  friends were last told, and when the announcement window that telling opened ends;
- `presence:due`: the users whose status changed inside their announcement window, scored by the
  window's end; `announce_due` reads only its due end.

Every change of status goes through one Lua function (`settle`), so the chat servers (heartbeats,
clean closes), the sweep and logout all coalesce announcements the same way: the first change
after a quiet window is announced at once, later ones at the window's end, and none at all when
the status is back to what was announced by then (docs/protocol.md, "Presence").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from chatproject.redis_scripts import LuaScript

_CONNS = "presence:conns"
_USER = "presence:user:{}"
_IDLE = "presence:idle:{}"
_STATE = "presence:state:{}"
_DUE = "presence:due"

ONLINE = "online"
AWAY = "away"
OFFLINE = "offline"


@dataclass(frozen=True)
class PresenceState:
    user_id: int
    status: str
    last_active_at: float | None


# (user id, device id, connection id, whether the device says its user is idle)
SocketBeat = tuple[int, str, str, bool]


def _member(user_id: int, device_id: str, conn_id: str) -> str:
    return f"{user_id}|{device_id}|{conn_id}"


def _user_of(member: str) -> int:
    return int(member.split("|", 1)[0])


def _device_of(member: str) -> str:
    return member.split("|", 1)[1].rsplit("|", 1)[0]


def _user_keys(user_id: int) -> list[str]:
    return [_USER.format(user_id), _IDLE.format(user_id), _STATE.format(user_id)]


# Friends hear of `status` now, unless it is what they were last told: the triple user, status,
# last_active_at appended to `out`, and a new window opened. A missing status is offline.
_ANNOUNCE = """
local function announce(out, state, user, status, now, window)
  if status == (redis.call('HGET', state, 'announced') or 'offline') then return end
  redis.call('HSET', state, 'announced', status, 'quiet_at', now + window)
  out[#out + 1] = user
  out[#out + 1] = status
  out[#out + 1] = redis.call('HGET', state, 'last_active_at') or ''
end
"""

# The user's status from their sockets, stored; on a change, announced now if the last window
# is over, else at its end (the user put on the due set).
_SETTLE = (
    _ANNOUNCE
    + """
local function settle(out, user_set, idle_set, state, user, now, window, due)
  local sockets = redis.call('SCARD', user_set)
  local status = 'offline'
  if sockets > 0 then
    status = redis.call('SCARD', idle_set) >= sockets and 'away' or 'online'
  end
  local previous = redis.call('HGET', state, 'status') or 'offline'
  if status == previous then return end
  redis.call('HSET', state, 'status', status)
  local quiet_at = tonumber(redis.call('HGET', state, 'quiet_at') or '0')
  if now < quiet_at then
    redis.call('ZADD', due, 'NX', quiet_at, user)
  else
    announce(out, state, user, status, now, window)
  end
end
"""
)

# per socket: its time in the sorted set, its member in the user's set, in or out of the user's
# idle set; an active socket's heartbeat is the user's last active time. KEYS: the sorted set,
# the due set, then (user's set, idle set, state) per socket; ARGV: the time, the window, then
# (member, user id, '1' if idle else '0') per socket
_TOUCH_LUA = LuaScript(
    _SETTLE
    + """
local now, window, out = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
for i = 0, (#KEYS - 2) / 3 - 1 do
  local user_set, idle_set, state = KEYS[3 + 3 * i], KEYS[4 + 3 * i], KEYS[5 + 3 * i]
  local member, user = ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  redis.call('ZADD', KEYS[1], ARGV[1], member)
  redis.call('SADD', user_set, member)
  if ARGV[5 + 3 * i] == '1' then
    redis.call('SADD', idle_set, member)
  else
    redis.call('SREM', idle_set, member)
    redis.call('HSET', state, 'last_active_at', ARGV[1])
  end
  settle(out, user_set, idle_set, state, user, now, window, KEYS[2])
end
return out
"""
)

# sockets leave presence: from the sorted set, the user's set and the idle set. With a cutoff,
# only those still silent since then (a heartbeat that came after the sweep read them wins);
# with `closing`, an active socket's end is its user's last active time. KEYS: the sorted set,
# the due set, then (user's set, idle set, state) per socket; ARGV: the time, the window, the
# cutoff ('' for none), '1' if closing, then (member, user id) per socket
_DROP_LUA = LuaScript(
    _SETTLE
    + """
local now, window, out = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
local cutoff = tonumber(ARGV[3])
for i = 0, (#KEYS - 2) / 3 - 1 do
  local user_set, idle_set, state = KEYS[3 + 3 * i], KEYS[4 + 3 * i], KEYS[5 + 3 * i]
  local member, user = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  local score = redis.call('ZSCORE', KEYS[1], member)
  if cutoff == nil or (score and tonumber(score) <= cutoff) then
    redis.call('ZREM', KEYS[1], member)
    local was_there = redis.call('SREM', user_set, member) == 1
    local was_idle = redis.call('SREM', idle_set, member) == 1
    if ARGV[4] == '1' and was_there and not was_idle then
      redis.call('HSET', state, 'last_active_at', ARGV[1])
    end
    settle(out, user_set, idle_set, state, user, now, window, KEYS[2])
  end
end
return out
"""
)

# the users whose window has ended: announced now if their status is not what was announced.
# KEYS: the due set, then the state of each user; ARGV: the time, the window, then the user ids
_DUE_LUA = LuaScript(
    _ANNOUNCE
    + """
local now, window, out = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
for i = 2, #KEYS do
  local user, state = ARGV[i + 1], KEYS[i]
  local score = redis.call('ZSCORE', KEYS[1], user)
  if score and tonumber(score) <= now then
    redis.call('ZREM', KEYS[1], user)
    announce(out, state, user, redis.call('HGET', state, 'status') or 'offline', now, window)
  end
end
return out
"""
)


def _announcements(flat: list[bytes | str]) -> list[PresenceState]:
    """The (user, status, last_active_at) triples a script returned."""
    out: list[PresenceState] = []
    for i in range(0, len(flat), 3):
        user, status, last = (v.decode() if isinstance(v, bytes) else str(v) for v in flat[i : i + 3])
        out.append(
            PresenceState(user_id=int(user), status=status, last_active_at=float(last) if last else None)
        )
    return out


async def sockets_touch(
    client: aioredis.Redis, sockets: Sequence[SocketBeat], *, now: float, window: float
) -> list[PresenceState]:
    """Record heartbeats (or new sockets) of many sockets in one round trip; returns the changes
    of status to announce now.

    One script run, not several commands per socket in a pipeline: a chat server at 10k idle
    sockets records ~1,000 heartbeats a second, and redis-py's packing of four commands and
    parsing of their answers took ~50 µs of its CPU per socket, the script's run ~7 µs."""
    if not sockets:
        return []
    keys = [_CONNS, _DUE]
    args: list[object] = [now, window]
    for user_id, device_id, conn_id, idle in sockets:
        keys += _user_keys(user_id)
        args += [_member(user_id, device_id, conn_id), user_id, "1" if idle else "0"]
    return _announcements(await _TOUCH_LUA.run_async(client, keys, *args))


async def socket_close(
    client: aioredis.Redis, *, user_id: int, device_id: str, conn_id: str, now: float, window: float
) -> list[PresenceState]:
    """A socket the client closed cleanly leaves presence at once; returns the change to
    announce now, if any."""
    keys, args = _drop_call([_member(user_id, device_id, conn_id)], now=now, window=window, closing=True)
    return _announcements(await _DROP_LUA.run_async(client, keys, *args))


def _drop_call(
    members: Iterable[str], *, now: float, window: float, cutoff: float | None = None, closing: bool = False
) -> tuple[list[str], list[object]]:
    keys = [_CONNS, _DUE]
    args: list[object] = [now, window, "" if cutoff is None else cutoff, "1" if closing else "0"]
    for member in members:
        user_id = _user_of(member)
        keys += _user_keys(user_id)
        args += [member, user_id]
    return keys, args


def sweep(
    client: redis.Redis, *, now: float, offline_after: float, window: float, batch: int = 1000
) -> list[PresenceState]:
    """Drop the sockets silent for `offline_after` seconds; returns the changes to announce now.

    Reads only the expired end of the sorted set (at most `batch` sockets per call), never every
    user.
    """
    cutoff = now - offline_after
    expired = client.zrangebyscore(_CONNS, "-inf", cutoff, start=0, num=batch)
    if not expired:
        return []
    members = [raw.decode() for raw in expired]  # type: ignore[union-attr]
    keys, args = _drop_call(members, now=now, window=window, cutoff=cutoff)
    return _announcements(_DROP_LUA.run(client, keys, *args))


def devices_drop(
    client: redis.Redis,
    *,
    user_id: int,
    device_ids: list[str] | None,
    except_device: str | None,
    now: float,
    window: float,
) -> list[PresenceState]:
    """Forget the sockets of devices that logged out (`device_ids`; None: every device but
    `except_device`); the user goes offline if none is left. Returns the change to announce now."""
    members = [m.decode() for m in client.smembers(_USER.format(user_id))]  # type: ignore[union-attr]

    def ended(member: str) -> bool:
        device = _device_of(member)
        return device in device_ids if device_ids is not None else device != except_device

    gone = [m for m in members if ended(m)]
    if not gone:
        return []
    keys, args = _drop_call(gone, now=now, window=window)
    return _announcements(_DROP_LUA.run(client, keys, *args))


def announce_due(client: redis.Redis, *, now: float, window: float, batch: int = 1000) -> list[PresenceState]:
    """The changes whose announcement window has ended and that differ from what was announced
    (one frame each, with the state at the window's end); reads only the due end of the set."""
    out: list[PresenceState] = []
    while True:
        due = [int(raw) for raw in client.zrangebyscore(_DUE, "-inf", now, start=0, num=batch)]  # type: ignore[union-attr]
        if not due:
            return out
        keys = [_DUE, *(_STATE.format(user_id) for user_id in due)]
        out += _announcements(_DUE_LUA.run(client, keys, now, window, *due))
        if len(due) < batch:
            return out


def states(client: redis.Redis, user_ids: Iterable[int]) -> list[PresenceState]:
    """The stored state of each user, in one round trip."""
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
