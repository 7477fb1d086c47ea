"""The Redis keys by which chat servers are found and reached (STYLE.md rule 2: one owner per key
family).

- the **discovery registry**: `chat:srv:<id>` (a hash per live chat server, expiring unless
  refreshed) and the index set `chat:srv:index`; `chat:srv:<id>:drain`, an operator's request
  that the server drain (read at each refresh, besides the `ServerDrain` delivery event);
- the **routing table**: `chat:route:<user_id>` maps chat server id → number of the user's
  devices connected there; `chat:srv:<id>:users` is its reverse index, so the entries of a dead
  server can be removed;
- the **sockets per user**: `chat:sockets:<user_id>`, a user's sockets on all chat servers by
  connect time (beyond CHAT_SOCKETS_PER_USER the oldest is closed);
- the **delivery channels**: one pub/sub channel `chat:deliver:<db>:<server_id>` per chat server,
  on which the sync workers publish batches of frames for that server's sockets (pub/sub ignores
  the database number, so the channel names it: two deployments or test runs on one Redis, each
  with its own database and its own `chat-1`, would otherwise hear each other's deliveries);
- the reply keys on which a REST send waits for its sync worker's answer.

The other families have modules of their own beside this one: connect tickets (`tickets`), the
send budget and typing throttle (`limits`), message claims (`claims`), hop samples (`hops`).

Chat servers use the asyncio functions, workers and API servers the synchronous ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from chat.domain.events import DeliveryEvent, ServerDrain, deliveries_encode
from chatproject.redis_scripts import LuaScript

_SRV = "chat:srv:{}"
_SRV_INDEX = "chat:srv:index"
_SRV_USERS = "chat:srv:{}:users"
_SRV_DRAIN = "chat:srv:{}:drain"
DRAIN_REQUEST_TTL = 3600  # a request that no server took up (it died meanwhile) does not linger
_ROUTE = "chat:route:{}"
_DELIVER = "chat:deliver:{}:{}"
_REPLY = "chat:reply:{}"
_SOCKETS = "chat:sockets:{}"  # user id: sorted set of "<server id>|<conn id>" by connect time

# HINCRBY -1 that removes the field at zero, so a user's routing hash holds only live counts
_DETACH_LUA = LuaScript("""
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if n < 0 then n = 0 end
end
if n == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return n
""")


@dataclass(frozen=True)
class ChatServerEntry:
    """A chat server as registered for discovery."""

    id: str
    url: str
    region: str
    capacity: int
    connections: int
    draining: bool

    @property
    def free(self) -> int:
        return self.capacity - self.connections

    def as_mapping(self) -> dict[str, str | int]:
        return {
            "id": self.id,
            "url": self.url,
            "region": self.region,
            "capacity": self.capacity,
            "connections": self.connections,
            "draining": int(self.draining),
            "updated_at": int(time.time()),
        }


def _entry(raw: Mapping[bytes, bytes]) -> ChatServerEntry | None:
    try:
        return ChatServerEntry(
            id=raw[b"id"].decode(),
            url=raw[b"url"].decode(),
            region=raw[b"region"].decode(),
            capacity=int(raw[b"capacity"]),
            connections=int(raw[b"connections"]),
            draining=raw.get(b"draining", b"0") == b"1",
        )
    except (KeyError, ValueError):
        return None


def delivery_channel(client: redis.Redis | aioredis.Redis, server_id: str) -> str:
    """The delivery channel of a chat server among the users of `client`'s database."""
    return _DELIVER.format(client.connection_pool.connection_kwargs.get("db", 0), server_id)


# ---------------------------------------------------------------- registry (chat server side)


async def registry_publish(client: aioredis.Redis, entry: ChatServerEntry, *, ttl: int) -> bool:
    """Register or refresh a chat server; the entry expires `ttl` seconds after the last refresh.

    Returns whether the entry existed before (False: first registration, or it had expired).
    """
    key = _SRV.format(entry.id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.exists(key)
        pipe.hset(key, mapping=entry.as_mapping())
        pipe.expire(key, ttl)
        pipe.sadd(_SRV_INDEX, entry.id)
        existed, *_ = await pipe.execute()
    return bool(existed)


async def registry_remove(client: aioredis.Redis, server_id: str) -> None:
    """Deregister a chat server (it is draining or stopping) and drop its routing entries."""
    await client.delete(_SRV.format(server_id), _SRV_DRAIN.format(server_id))
    await client.srem(_SRV_INDEX, server_id)  # type: ignore[misc]
    users = await client.smembers(_SRV_USERS.format(server_id))  # type: ignore[misc]
    async with client.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.hdel(_ROUTE.format(user.decode()), server_id)
        pipe.delete(_SRV_USERS.format(server_id))
        await pipe.execute()


async def registry_drain_requested(client: aioredis.Redis, server_id: str) -> bool:
    """Whether an operator asked this server to drain (`registry_drain_request`)."""
    return bool(await client.exists(_SRV_DRAIN.format(server_id)))


async def registry_drain_forget(client: aioredis.Redis, server_id: str) -> None:
    """Drop a drain request left for an earlier process of this server id (a server starting)."""
    await client.delete(_SRV_DRAIN.format(server_id))


# ---------------------------------------------------------------- registry (API and worker side)


def registry_drain_request(client: redis.Redis, server_id: str) -> bool:
    """Ask a live chat server to drain: discovery skips it at once (its entry says draining), and
    the server drains as on SIGTERM when its delivery channel brings the request or, if that
    message is lost, at its next refresh. False when no live entry has this id."""
    key = _SRV.format(server_id)
    if not client.exists(key):
        return False
    with client.pipeline(transaction=True) as pipe:
        pipe.set(_SRV_DRAIN.format(server_id), "1", ex=DRAIN_REQUEST_TTL)
        pipe.hset(key, "draining", "1")
        pipe.publish(delivery_channel(client, server_id), deliveries_encode([ServerDrain()]))
        pipe.execute()
    return True


# count a client sent to a chat server before it connects, so that a burst of logins spreads out
# instead of all reading the same stale count; the server's next refresh writes the true count
_RESERVE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HINCRBY', KEYS[1], 'connections', 1) end
return -1
"""


def registry_reserve(client: redis.Redis, server_id: str) -> None:
    """One more client is on its way to `server_id` (until the server's next refresh)."""
    client.eval(_RESERVE_LUA, 1, _SRV.format(server_id))


def servers_live(client: redis.Redis) -> list[ChatServerEntry]:
    """Every registered chat server whose entry has not expired (registry_sweep prunes the rest)."""
    ids = [i.decode() for i in client.smembers(_SRV_INDEX)]  # type: ignore[union-attr]
    if not ids:
        return []
    with client.pipeline(transaction=False) as pipe:
        for server_id in ids:
            pipe.hgetall(_SRV.format(server_id))
        raws = pipe.execute()
    entries = (_entry(raw) for raw in raws if raw)
    return [entry for entry in entries if entry is not None]


def registry_sweep(client: redis.Redis) -> list[str]:
    """Remove the index entry and the routing entries of every chat server that expired.

    Returns the ids of the dead servers cleaned up. Run periodically (Celery beat).
    """
    ids = [i.decode() for i in client.smembers(_SRV_INDEX)]  # type: ignore[union-attr]
    dead = [server_id for server_id in ids if not client.exists(_SRV.format(server_id))]
    for server_id in dead:
        users = client.smembers(_SRV_USERS.format(server_id))
        with client.pipeline(transaction=False) as pipe:
            for user in users:  # type: ignore[union-attr]
                pipe.hdel(_ROUTE.format(user.decode()), server_id)
            pipe.delete(_SRV_USERS.format(server_id))
            pipe.srem(_SRV_INDEX, server_id)
            pipe.execute()
    return dead


# ---------------------------------------------------------------- routing table


async def route_attach(client: aioredis.Redis, *, user_id: int, server_id: str) -> None:
    """One more device of `user_id` is connected to `server_id`."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(_ROUTE.format(user_id), server_id, 1)
        pipe.sadd(_SRV_USERS.format(server_id), user_id)
        await pipe.execute()


async def route_detach(client: aioredis.Redis, *, user_id: int, server_id: str) -> int:
    """One device of `user_id` left `server_id`; returns how many remain there."""
    result = await _DETACH_LUA.run_async(
        client, [_ROUTE.format(user_id), _SRV_USERS.format(server_id)], server_id, str(user_id)
    )
    return int(result)


async def routes_reassert(client: aioredis.Redis, *, server_id: str, counts: Mapping[int, int]) -> None:
    """Write this server's routing entries again (after its registry entry was lost)."""
    async with client.pipeline(transaction=False) as pipe:
        for user_id, count in counts.items():
            pipe.hset(_ROUTE.format(user_id), server_id, str(count))
            pipe.sadd(_SRV_USERS.format(server_id), user_id)
        await pipe.execute()


def routes_for_users(client: redis.Redis, user_ids: Iterable[int]) -> dict[int, set[str]]:
    """For each user, the chat servers that hold at least one of their devices."""
    users = list(user_ids)
    with client.pipeline(transaction=False) as pipe:
        for user_id in users:
            pipe.hkeys(_ROUTE.format(user_id))
        results = pipe.execute()
    return {u: {s.decode() for s in servers} for u, servers in zip(users, results, strict=True)}


async def routes_for_users_async(client: aioredis.Redis, user_ids: Iterable[int]) -> dict[int, set[str]]:
    users = list(user_ids)
    async with client.pipeline(transaction=False) as pipe:
        for user_id in users:
            pipe.hkeys(_ROUTE.format(user_id))
        results = await pipe.execute()
    return {u: {s.decode() for s in servers} for u, servers in zip(users, results, strict=True)}


# ---------------------------------------------------------------- sockets per user

# add a socket; past the limit, take out the oldest and answer them (they are to be closed)
_SOCKET_ADD_LUA = LuaScript("""
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREM', KEYS[1], unpack(oldest))
  return oldest
end
return {}
""")


async def user_socket_add(
    client: aioredis.Redis, *, user_id: int, server_id: str, conn_id: str, limit: int
) -> list[tuple[str, str]]:
    """Count a new socket of the user; returns the (server id, conn id) of the oldest sockets
    beyond `limit`, which the caller closes. Entries of a server that died are the oldest, so
    they go first; the key expires a day after the user's last connect."""
    evicted = await _SOCKET_ADD_LUA.run_async(
        client,
        [_SOCKETS.format(user_id)],
        f"{time.time():.6f}",
        f"{server_id}|{conn_id}",
        str(limit),
        "86400",
    )
    pairs = [bytes(raw).decode().partition("|") for raw in evicted]
    return [(server, conn) for server, _, conn in pairs]


async def user_socket_remove(client: aioredis.Redis, *, user_id: int, server_id: str, conn_id: str) -> None:
    await client.zrem(_SOCKETS.format(user_id), f"{server_id}|{conn_id}")


# ---------------------------------------------------------------- delivery


def deliveries_publish(
    client: redis.Redis,
    batches: Mapping[str, Sequence[DeliveryEvent]],
    *,
    tasks: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Publish each chat server's batch of delivery events on its channel, and push `tasks`
    (Celery task messages, by queue: `chat.sync_queue.task_envelope`), in one round trip."""
    if not batches and not tasks:
        return
    with client.pipeline(transaction=False) as pipe:
        for server_id, events in batches.items():
            pipe.publish(delivery_channel(client, server_id), deliveries_encode(events))
        for queue, envelope in tasks:
            pipe.lpush(queue, envelope)
        pipe.execute()


async def deliveries_publish_async(
    client: aioredis.Redis, batches: Mapping[str, Sequence[DeliveryEvent]]
) -> None:
    if not batches:
        return
    async with client.pipeline(transaction=False) as pipe:
        for server_id, events in batches.items():
            pipe.publish(delivery_channel(client, server_id), deliveries_encode(events))
        await pipe.execute()


def replies_push(client: redis.Redis, replies: list[tuple[str, str]], *, ttl: int) -> None:
    """Hand each REST request waiting on a reply key its answer (see `reply_wait`)."""
    with client.pipeline(transaction=False) as pipe:
        for key, text in replies:
            pipe.rpush(_REPLY.format(key), text)
            pipe.expire(_REPLY.format(key), ttl)
        pipe.execute()


def reply_wait(client: redis.Redis, key: str, *, timeout: float) -> str | None:
    """Block until the reply for `key` arrives (None after `timeout` seconds)."""
    got = client.blpop([_REPLY.format(key)], timeout=max(1, round(timeout)))
    if not got:
        return None
    return bytes(got[1]).decode()  # type: ignore[index]
