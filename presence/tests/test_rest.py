"""Presence in REST payloads: conversation members and friends carry `presence` where the viewer
may see it (the viewer themself, friends who share it and are not blocked), null elsewhere; the
visibility of a whole page is read with a fixed number of queries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.selectors import presence_visible_among
from accounts.tests.factories import UserFactory
from presence.tests.support import befriend, touch_at

pytestmark = pytest.mark.usefixtures("cassandra_clean")


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _online(*users: User, idle: bool = False) -> None:
    asyncio.run(touch_at(time.time(), *((u.pk, "d", f"c{u.pk}") for u in users), idle=idle))


def _member_presence(conversation: dict[str, Any]) -> dict[int, Any]:
    return {m["user_id"]: m["presence"] for m in conversation["members"]}


@pytest.mark.django_db
def test_conversation_members_show_presence_only_where_visible(alice: User, bob: User, carol: User) -> None:
    """In a group of Alice, Bob (her friend) and Carol (not): Alice sees her own and Bob's
    presence, Carol's is null, in the list and in the detail alike."""
    befriend(alice, bob)
    _online(bob)
    _online(carol, idle=True)
    client = _client(alice)
    created = client.post(
        "/api/v1/conversations",
        {"type": "group", "title": "team", "member_ids": [bob.pk, carol.pk]},
        format="json",
    )
    assert created.status_code == 201, created.content
    detail = client.get(f"/api/v1/conversations/{created.json()['id']}").json()
    [listed] = client.get("/api/v1/conversations").json()["conversations"]
    for conversation in (created.json(), detail, listed):
        presence = _member_presence(conversation)
        assert presence[bob.pk]["status"] == "online"
        assert presence[bob.pk]["last_active_at"].endswith("Z")
        assert presence[alice.pk] == {"status": "offline", "last_active_at": None}
        assert presence[carol.pk] is None


@pytest.mark.django_db
def test_friends_show_presence_unless_hidden(alice: User, bob: User, carol: User) -> None:
    """GET friends: each friend's presence; a friend who shows it to nobody gives null."""
    befriend(alice, bob)
    befriend(alice, carol)
    _online(bob, carol, idle=True)
    User.objects.filter(pk=carol.pk).update(presence_visibility="nobody")
    entries = _client(alice).get("/api/v1/friends").json()["results"]
    presence = {e["user"]["id"]: e["presence"] for e in entries}
    assert presence[bob.pk]["status"] == "away"
    assert presence[carol.pk] is None


@pytest.mark.django_db
def test_visibility_of_many_users_takes_a_fixed_number_of_queries(
    alice: User, django_assert_num_queries: Any
) -> None:
    """Three queries for a hundred members as for one: friendships, settings, blocks."""
    others: list[User] = UserFactory.create_batch(100)
    for other in others[:60]:
        befriend(alice, other)
    User.objects.filter(pk__in=[o.pk for o in others[:10]]).update(presence_visibility="nobody")
    with django_assert_num_queries(3):
        visible = presence_visible_among(viewer_id=alice.pk, user_ids=[alice.pk, *(o.pk for o in others)])
    assert visible == {alice.pk, *(o.pk for o in others[10:60])}
