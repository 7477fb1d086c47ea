"""Reads of presence: what a viewer may see of other users' status."""

from __future__ import annotations

from accounts.selectors import presence_visible_to
from chatproject.redis_client import get_redis
from presence import redis_keys
from presence.redis_keys import PresenceState


def presence_for_viewer(*, viewer_id: int, user_ids: list[int]) -> list[PresenceState]:
    """The presence of each of `user_ids` that `viewer_id` may see (friends who share it, and the
    viewer themself); the others are left out."""
    visible = [
        uid for uid in dict.fromkeys(user_ids) if presence_visible_to(user_id=uid, viewer_id=viewer_id)
    ]
    return redis_keys.states(get_redis(), visible)
