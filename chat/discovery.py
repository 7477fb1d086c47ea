"""Service discovery (design note §4.1): which chat server a client should connect to.

Chat servers register themselves in Redis (`chat.server.registry`); the API server picks, among the live
servers that are not draining, those of the client's region (any region when none is there), the
one with the most free capacity, ties broken at random; then issues a connect ticket for it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings

from chat.store.redis import keys as redis_keys
from chat.store.redis.keys import ChatServerEntry
from chat.store.redis.tickets import ticket_issue
from chatproject.errors import ServiceError
from chatproject.redis_client import get_redis


class NoChatServer(ServiceError):
    code = "no_chat_server"
    http_status = 503
    default_message = "No chat server is available right now; retry shortly."


@dataclass(frozen=True)
class ChatAssignment:
    server: ChatServerEntry
    ticket: str
    expires_in: int

    def as_dict(self) -> dict[str, object]:
        return {
            "chat_server": {"id": self.server.id, "url": self.server.url, "region": self.server.region},
            "ticket": self.ticket,
            "expires_in": self.expires_in,
            # the client's heartbeat period (design note §4.4), announced rather than assumed
            "heartbeat_interval": settings.PRESENCE_HEARTBEAT_INTERVAL,
        }


def chat_server_choose(
    servers: list[ChatServerEntry], *, region: str | None, rng: random.Random | None = None
) -> ChatServerEntry | None:
    """The best server of `servers` for a client in `region` (pure: no I/O)."""
    open_servers = [s for s in servers if not s.draining and s.free > 0]
    local = [s for s in open_servers if region and s.region == region]
    pool = local or open_servers
    if not pool:
        return None
    best = max(s.free for s in pool)
    return (rng or random).choice([s for s in pool if s.free == best])


def chat_server_assign(*, user_id: int, device_id: str, region: str | None = None) -> ChatAssignment:
    """Pick a chat server for this device and issue its connect ticket; raises NoChatServer."""
    client = get_redis()
    server = chat_server_choose(redis_keys.servers_live(client), region=region)
    if server is None:
        raise NoChatServer()
    redis_keys.registry_reserve(client, server.id)
    return ChatAssignment(
        server=server,
        ticket=ticket_issue(user_id=user_id, device_id=device_id),
        expires_in=settings.CHAT_TICKET_TTL,
    )


def chat_assignment_for_login(*, user_id: int, device_id: str, region: str | None) -> dict[str, object]:
    """Discovery as part of login: `chat_server` and `ticket`, both null when no chat server is
    live (logging in still works; the client asks `GET chat/server` again shortly)."""
    try:
        assignment = chat_server_assign(user_id=user_id, device_id=device_id, region=region)
    except NoChatServer:
        return {"chat_server": None, "ticket": None}
    body = assignment.as_dict()
    return {"chat_server": body["chat_server"], "ticket": body["ticket"]}


def chat_servers_live() -> list[ChatServerEntry]:
    """Every chat server in the registry, by region then id (the admin's chat servers page)."""
    return sorted(redis_keys.servers_live(get_redis()), key=lambda s: (s.region, s.id))


def chat_server_drain(*, server_id: str) -> None:
    """Ask a live chat server to drain, as SIGTERM would (the admin): discovery stops choosing it
    at once; it tells its clients `server.draining`, closes their sockets and stops.

    Raises: NoChatServer (no live entry has this id).
    """
    if not redis_keys.registry_drain_request(get_redis(), server_id):
        raise NoChatServer(f"No live chat server {server_id!r}.")
