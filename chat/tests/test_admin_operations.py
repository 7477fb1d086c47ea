"""The operators' pages that are not a model's: message moderation (find in Cassandra, delete as
a tombstone on every device) and the chat servers of the registry (list, drain), each action with
one audit entry; who may open them."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from audit.models import AdminAction
from chat import selectors, services
from chat.discovery import chat_server_drain
from chat.server.runtime import chat_runtime
from chat.store.redis import keys as redis_keys
from chat.store.redis.keys import ChatServerEntry
from chat.tests.test_feed import entries_of, say
from chatproject.redis_client import get_async_redis, get_redis

MODERATION = "/admin/operations/messages/"
SERVERS = "/admin/operations/chat-servers/"


@pytest.fixture
def clean_registry() -> None:
    client = get_redis()
    for key in client.scan_iter("chat:srv:*"):
        client.delete(key)


def _register(server_id: str, connections: int = 3) -> None:
    entry = ChatServerEntry(
        id=server_id,
        url=f"ws://127.0.0.1:8000/ws/{server_id}",
        region="eu",
        capacity=100,
        connections=connections,
        draining=False,
    )

    async def publish() -> None:
        client = get_async_redis()
        await redis_keys.registry_publish(client, entry, ttl=30)
        await client.aclose()

    asyncio.run(publish())


@pytest.mark.usefixtures("cassandra_clean")
def test_find_by_id_and_by_sender(operator, alice, bob):
    """A message is found by conversation and ID, and a user's messages by username."""
    group = services.conversation_group_create(owner=alice, title="Plans", member_ids=[bob.pk])
    first = say(alice, group.pk, "from alice")
    say(bob, group.pk, "from bob")
    page = operator.get(MODERATION, {"conversation_id": group.pk, "message_id": first.id}).content.decode()
    assert "from alice" in page
    assert "from bob" not in page
    page = operator.get(MODERATION, {"conversation_id": group.pk, "username": "BOB"}).content.decode()
    assert "from bob" in page
    assert "from alice" not in page
    assert (
        "No message found."
        in operator.get(
            MODERATION, {"conversation_id": group.pk, "message_id": first.id + 1}
        ).content.decode()
    )
    assert operator.get(MODERATION).status_code == 200
    assert (
        "Give a message ID or a username."
        in operator.get(MODERATION, {"conversation_id": group.pk}).content.decode()
    )


@pytest.mark.usefixtures("cassandra_clean")
def test_moderation_delete_is_a_tombstone_on_every_device(operator, alice, bob):
    """Deleting another user's message: a tombstone in the history and a message.updated entry in
    every member's feed, as the sender's delete; one audit entry with the reason."""
    group = services.conversation_group_create(owner=alice, title="Plans", member_ids=[bob.pk])
    message = say(bob, group.pk, "something nasty")
    response = operator.post(
        MODERATION, {"conversation_id": group.pk, "message_id": message.id, "reason": "abuse report 12"}
    )
    assert response.status_code == 302
    [stored] = selectors.message_history(user_id=alice.pk, conversation_id=group.pk, limit=10).messages
    assert (stored.id, stored.deleted, stored.body) == (message.id, True, "")
    for member in (alice, bob):
        [updated] = entries_of(member, "message.updated")
        assert updated["message"]["id"] == str(message.id)
        assert updated["message"]["deleted"] is True
    [entry] = AdminAction.objects.all()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "message.delete",
        "message",
        str(message.id),
    )
    assert entry.details == {"conversation_id": group.pk, "sender_id": bob.pk, "reason": "abuse report 12"}
    page = operator.get(MODERATION, {"conversation_id": group.pk, "message_id": message.id}).content.decode()
    assert "<em>deleted</em>" in page
    assert "something nasty" not in page


@pytest.mark.usefixtures("cassandra_clean")
def test_moderation_delete_needs_a_reason_and_a_message(operator, alice, bob):
    """No reason, or no such message: nothing is deleted and nothing audited."""
    group = services.conversation_group_create(owner=alice, title="Plans", member_ids=[bob.pk])
    message = say(bob, group.pk, "kept")
    operator.post(MODERATION, {"conversation_id": group.pk, "message_id": message.id, "reason": ""})
    operator.post(MODERATION, {"conversation_id": group.pk, "message_id": message.id + 1, "reason": "spam"})
    assert selectors.message_find(conversation_id=group.pk, message_id=message.id).body == "kept"  # type: ignore[union-attr]
    assert not AdminAction.objects.exists()


@pytest.mark.usefixtures("clean_registry")
def test_chat_servers_page_lists_and_drains(operator):
    """The page lists the live registry entries; "drain" marks the server draining (discovery skips
    it at once), leaves it the drain request it acts on, and writes one audit entry."""
    _register("chat-a", connections=7)
    _register("chat-b")
    page = operator.get(SERVERS).content.decode()
    assert "chat-a" in page
    assert "ws://127.0.0.1:8000/ws/chat-a" in page
    assert "<td>7</td>" in page
    assert page.count('value="Drain"') == 2
    assert operator.post(SERVERS, {"server_id": "chat-a"}).status_code == 302
    live = {s.id: s for s in redis_keys.servers_live(get_redis())}
    assert live["chat-a"].draining
    assert not live["chat-b"].draining
    assert asyncio.run(_drain_requested("chat-a"))
    assert not asyncio.run(_drain_requested("chat-b"))
    assert operator.get(SERVERS).content.decode().count('value="Drain"') == 1
    [entry] = AdminAction.objects.all()
    assert (entry.action, entry.target_id, entry.details["connections"]) == ("chat_server.drain", "chat-a", 7)
    operator.post(SERVERS, {"server_id": "gone"})
    assert AdminAction.objects.count() == 1


async def _drain_requested(server_id: str) -> bool:
    client = get_async_redis()
    try:
        return await redis_keys.registry_drain_requested(client, server_id)
    finally:
        await client.aclose()


@pytest.mark.usefixtures("clean_registry", "fresh_chat_runtime")
async def test_a_running_chat_server_drains_on_request(settings):
    """The chat server acts on the admin's drain request as on SIGTERM: it leaves discovery and
    drains (the request comes over its delivery channel)."""
    settings.CHAT_DRAIN_GRACE = 0.05
    runtime = chat_runtime()
    await runtime.ensure_started()
    for _ in range(100):  # its first registration
        if runtime.server_id in {s.id for s in redis_keys.servers_live(get_redis())}:
            break
        await asyncio.sleep(0.05)
    assert runtime.server_id in {s.id for s in redis_keys.servers_live(get_redis())}
    chat_server_drain(server_id=runtime.server_id)
    for _ in range(100):
        if runtime.draining and runtime.server_id not in {s.id for s in redis_keys.servers_live(get_redis())}:
            break
        await asyncio.sleep(0.05)
    assert runtime.draining
    assert runtime.server_id not in {s.id for s in redis_keys.servers_live(get_redis())}
    assert not await redis_keys.registry_drain_requested(get_async_redis(), runtime.server_id)


@pytest.mark.parametrize(
    "page", [MODERATION, SERVERS, "/admin/chat/conversation/", "/admin/audit/adminaction/"]
)
def test_no_access_without_staff_or_permission(page, alice, db):
    """A regular user is sent to the login page; staff without the permission get 403."""
    client = Client()
    client.force_login(alice)
    response = client.get(page)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    alice.is_staff = True
    alice.save()
    assert client.get(page).status_code == 403


def test_staff_with_the_permission_may_drain(alice, db, clean_registry):
    """The operations pages open to staff who hold their permission (not only superusers)."""
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(Permission.objects.get(codename="drain_chat_server"))
    client = Client()
    client.force_login(User.objects.get(pk=alice.pk))
    assert client.get(SERVERS).status_code == 200
    assert client.get(MODERATION).status_code == 403
    index = client.get("/admin/").content.decode()
    assert "Chat servers" in index
    assert "Message moderation" not in index
