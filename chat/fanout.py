"""Fan-out of frames other than new messages (feed entries, typing, presence) to
users' live devices: the Redis routing table says which chat servers hold them, and one batch is
published per chat server on its delivery channel. Also the eviction of the chat servers' cached
send rules when a conversation's members or a block change."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from chat.domain.events import DeliveryEvent, DeviceSocketsClose, FrameToUsers, SendRulesStale
from chat.protocol import frame_text
from chat.store.redis import keys as redis_keys
from chatproject.redis_client import get_async_redis, get_redis

log = logging.getLogger(__name__)


def users_by_server(routes: Mapping[int, Iterable[str]]) -> dict[str, list[int]]:
    """The users of a routing-table answer grouped by the chat server that holds them."""
    by_server: dict[str, list[int]] = defaultdict(list)
    for uid, servers in routes.items():
        for server_id in servers:
            by_server[server_id].append(uid)
    return by_server


def _batches(
    routes: dict[int, set[str]], *, text: str, skip_conn: str | None, skip_server: str | None
) -> dict[str, list[DeliveryEvent]]:
    return {
        server_id: [
            FrameToUsers(user_ids=uids, text=text, skip_conn=skip_conn if server_id == skip_server else None)
        ]
        for server_id, uids in users_by_server(routes).items()
    }


def publish_to_users(
    *,
    user_ids: Iterable[int],
    frame: dict[str, Any],
    skip_conn: str | None = None,
    server_id: str | None = None,
) -> None:
    """Send `frame` to every live device of `user_ids` (blocking callers: API, workers, a chat
    server's thread pool); `skip_conn` on `server_id` (the socket that caused it) is left out."""
    users = set(user_ids)
    if not users:
        return
    client = get_redis()
    routes = redis_keys.routes_for_users(client, users)
    batches = _batches(routes, text=frame_text(frame), skip_conn=skip_conn, skip_server=server_id)
    redis_keys.deliveries_publish(client, batches)


async def publish_to_users_async(
    *,
    user_ids: Iterable[int],
    frame: dict[str, Any],
    skip_conn: str | None = None,
    server_id: str | None = None,
) -> None:
    """The same from a chat server; `skip_conn` on `server_id` (the sending socket) is left out."""
    users = set(user_ids)
    if not users:
        return
    client = get_async_redis()
    routes = await redis_keys.routes_for_users_async(client, users)
    batches = _batches(routes, text=frame_text(frame), skip_conn=skip_conn, skip_server=server_id)
    await redis_keys.deliveries_publish_async(client, batches)


def send_rules_changed(*, conversation_ids: list[int] | None) -> None:
    """Tell every live chat server to forget its cached send rules of these conversations (None:
    all of them). Call after the change commits. A failure is logged, not raised: the cache
    expires by itself (CHAT_SEND_RULES_CACHE_SECONDS)."""
    try:
        client = get_redis()
        event = SendRulesStale(conversation_ids=conversation_ids)
        redis_keys.deliveries_publish(
            client, {entry.id: [event] for entry in redis_keys.servers_live(client)}
        )
    except Exception:
        log.warning("could not tell the chat servers that send rules changed", exc_info=True)


def device_sockets_close(*, user_id: int, device_ids: list[str] | None, except_device: str | None) -> None:
    """Close the sockets of ended device logins (code 4401) on every chat server that holds a
    device of the user (`accounts.signals.device_logins_ended`). A socket that attaches while
    this runs checks the login itself once attached (`ChatConsumer.connect`)."""
    client = get_redis()
    servers = redis_keys.routes_for_users(client, [user_id]).get(user_id, set())
    event = DeviceSocketsClose(user_id=user_id, device_ids=device_ids, except_device=except_device)
    redis_keys.deliveries_publish(client, {server_id: [event] for server_id in servers})
