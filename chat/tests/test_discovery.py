"""Service discovery: the registry in Redis and the choice of a chat server."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chat.discovery import NoChatServer, chat_server_assign, chat_server_choose
from chat.store.redis import keys as redis_keys
from chat.store.redis.keys import ChatServerEntry
from chatproject.redis_client import get_async_redis, get_redis


def _entry(
    sid: str, *, region: str = "eu", capacity: int = 100, connections: int = 0, draining: bool = False
) -> ChatServerEntry:
    return ChatServerEntry(
        id=sid,
        url=f"ws://{sid}/ws/chat",
        region=region,
        capacity=capacity,
        connections=connections,
        draining=draining,
    )


def test_choose_prefers_region_then_free_capacity() -> None:
    """The client's region wins; within it the most free capacity; draining and full servers never."""
    servers = [
        _entry("a", region="eu", connections=50),
        _entry("b", region="eu", connections=10),
        _entry("c", region="us", connections=0),
        _entry("d", region="eu", connections=0, draining=True),
        _entry("e", region="eu", connections=100),
    ]
    assert chat_server_choose(servers, region="eu").id == "b"  # type: ignore[union-attr]
    assert chat_server_choose(servers, region="us").id == "c"  # type: ignore[union-attr]
    assert chat_server_choose(servers, region="asia").id == "c"  # type: ignore[union-attr]  # any region
    assert chat_server_choose([_entry("d", draining=True)], region="eu") is None


def test_choose_breaks_ties_at_random() -> None:
    """Equally free servers are all chosen, at random."""
    servers = [_entry("a"), _entry("b"), _entry("c")]
    rng = random.Random(7)
    assert {chat_server_choose(servers, region="eu", rng=rng).id for _ in range(60)} == {"a", "b", "c"}  # type: ignore[union-attr]


@pytest.fixture
def clean_registry() -> None:
    client = get_redis()
    for key in client.scan_iter("chat:*"):
        client.delete(key)


@pytest.mark.usefixtures("clean_registry")
async def test_registry_entries_expire_and_sweep_cleans_routes() -> None:
    """A server that stops refreshing drops out of discovery; the sweep removes its routes."""
    client = get_async_redis()
    await redis_keys.registry_publish(client, _entry("live"), ttl=30)
    await redis_keys.registry_publish(client, _entry("dying"), ttl=1)
    await redis_keys.route_attach(client, user_id=5, server_id="dying")
    await redis_keys.route_attach(client, user_id=5, server_id="live")
    import asyncio

    await asyncio.sleep(1.2)
    sync = get_redis()
    assert [e.id for e in redis_keys.servers_live(sync)] == ["live"]
    assert redis_keys.registry_sweep(sync) == ["dying"]
    assert redis_keys.routes_for_users(sync, [5]) == {5: {"live"}}


@pytest.mark.usefixtures("clean_registry")
async def test_route_counts_devices() -> None:
    """Two devices on one server: the route stays until both have left."""
    client = get_async_redis()
    await redis_keys.route_attach(client, user_id=9, server_id="s1")
    await redis_keys.route_attach(client, user_id=9, server_id="s1")
    assert await redis_keys.route_detach(client, user_id=9, server_id="s1") == 1
    assert redis_keys.routes_for_users(get_redis(), [9]) == {9: {"s1"}}
    assert await redis_keys.route_detach(client, user_id=9, server_id="s1") == 0
    assert redis_keys.routes_for_users(get_redis(), [9]) == {9: set()}
    assert await redis_keys.route_detach(client, user_id=9, server_id="s1") == 0  # never negative


@pytest.mark.usefixtures("clean_registry")
def test_assign_without_servers_is_503() -> None:
    """No live chat server: a clear 503 error, not a crash."""
    with pytest.raises(NoChatServer) as raised:
        chat_server_assign(user_id=1, device_id="d")
    assert raised.value.http_status == 503


@pytest.mark.usefixtures("clean_registry")
async def test_a_burst_of_logins_spreads_over_the_servers() -> None:
    """Each assignment counts against its server until the next refresh: no herd on one server."""
    client = get_async_redis()
    await redis_keys.registry_publish(client, _entry("s1", capacity=100), ttl=30)
    await redis_keys.registry_publish(client, _entry("s2", capacity=100), ttl=30)
    import asyncio

    picks = [
        (await asyncio.to_thread(chat_server_assign, user_id=i, device_id="d", region="eu")).server.id
        for i in range(20)
    ]
    assert picks.count("s1") == picks.count("s2") == 10


@pytest.mark.usefixtures("clean_registry")
async def test_the_assignment_announces_the_heartbeat_interval(settings: Any) -> None:
    """GET chat/server tells the client how often to send heartbeats (PRESENCE_HEARTBEAT_INTERVAL)."""
    settings.PRESENCE_HEARTBEAT_INTERVAL = 7
    await redis_keys.registry_publish(get_async_redis(), _entry("hb"), ttl=30)
    import asyncio

    assignment = await asyncio.to_thread(chat_server_assign, user_id=1, device_id="d")
    assert assignment.as_dict()["heartbeat_interval"] == 7
