"""Relationship and device reads that other apps rely on."""

from __future__ import annotations

from datetime import UTC, datetime, time
from types import SimpleNamespace

import pytest

from accounts.models import Block, DeviceToken, Friendship, PresenceVisibility
from accounts.selectors import (
    device_id_for_request,
    friend_ids_of,
    presence_visible_to,
    presence_watcher_ids,
    user_blocked_between,
    user_in_do_not_disturb,
)

pytestmark = pytest.mark.django_db


def befriend(a, b):
    low, high = sorted((a.pk, b.pk))
    Friendship.objects.create(user_low_id=low, user_high_id=high)


def test_user_blocked_between_is_symmetric(alice, bob, carol):
    """A block by either side counts for both directions; others are unaffected."""
    Block.objects.create(blocker=alice, blocked=bob)
    assert user_blocked_between(user_id=alice.pk, other_id=bob.pk)
    assert user_blocked_between(user_id=bob.pk, other_id=alice.pk)
    assert not user_blocked_between(user_id=alice.pk, other_id=carol.pk)


def test_friend_ids_of_reads_both_sides_of_the_pair(alice, bob, carol):
    """Friends are found whether the user is the lower or the higher id of the pair."""
    befriend(alice, bob)
    befriend(carol, bob)
    assert friend_ids_of(user_id=bob.pk) == {alice.pk, carol.pk}
    assert friend_ids_of(user_id=alice.pk) == {bob.pk}


def test_presence_is_visible_to_friends_only_and_respects_the_setting(alice, bob, carol):
    """Friends see presence, strangers do not, and 'nobody' hides it from friends too."""
    befriend(alice, bob)
    assert presence_visible_to(user_id=alice.pk, viewer_id=bob.pk)
    assert not presence_visible_to(user_id=alice.pk, viewer_id=carol.pk)
    assert presence_watcher_ids(user_id=alice.pk) == {bob.pk}
    alice.presence_visibility = PresenceVisibility.NOBODY
    alice.save()
    assert not presence_visible_to(user_id=alice.pk, viewer_id=bob.pk)
    assert presence_watcher_ids(user_id=alice.pk) == set()


def test_device_id_for_bearer_and_session_requests(alice):
    """A bearer request is identified by its token's device id, a session by its key."""
    token, _raw = DeviceToken.objects.create(user=alice, device_name="phone")
    assert device_id_for_request(SimpleNamespace(auth=token)) == f"token:{token.device_id}"
    session_request = SimpleNamespace(auth=None, session=SimpleNamespace(session_key="abc123"))
    assert device_id_for_request(session_request) == "session:abc123"
    with pytest.raises(ValueError, match="not authenticated"):
        device_id_for_request(SimpleNamespace(auth=None, session=SimpleNamespace(session_key=None)))


def test_do_not_disturb_window_wraps_midnight_in_the_users_time_zone(alice):
    """22:00-07:00 Seoul time covers 23:00 Seoul and not noon Seoul."""
    alice.time_zone = "Asia/Seoul"
    alice.dnd_start, alice.dnd_end = time(22), time(7)
    assert user_in_do_not_disturb(user=alice, at=datetime(2026, 1, 1, 14, 0, tzinfo=UTC))  # 23:00 KST
    assert not user_in_do_not_disturb(user=alice, at=datetime(2026, 1, 1, 3, 0, tzinfo=UTC))  # 12:00 KST
    alice.dnd_start = alice.dnd_end = None
    assert not user_in_do_not_disturb(user=alice, at=datetime(2026, 1, 1, 14, 0, tzinfo=UTC))
