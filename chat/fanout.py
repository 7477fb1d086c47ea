"""Fan-out of frames that are not new messages (edits and deletes) to the members' live devices,
through the Redis routing table and the chat servers' delivery channels."""

from __future__ import annotations

from collections import defaultdict

import orjson

from chat import redis_keys
from chat.records import StoredMessage
from chat.serializers import message_payload
from chatproject.redis_client import get_redis


def message_updated_broadcast(*, message: StoredMessage, member_ids: set[int]) -> None:
    """Send `message.updated` (an edit or a delete) to every live device of the members."""
    client = get_redis()
    live_servers = {entry.id for entry in redis_keys.servers_live(client)}
    by_server: dict[str, list[int]] = defaultdict(list)
    for uid, servers in redis_keys.routes_for_users(client, member_ids).items():
        for server_id in servers & live_servers:
            by_server[server_id].append(uid)
    text = orjson.dumps({"type": "message.updated", "message": message_payload(message)}).decode()
    redis_keys.deliveries_publish(
        client, {sid: [{"users": uids, "text": text}] for sid, uids in by_server.items()}
    )
