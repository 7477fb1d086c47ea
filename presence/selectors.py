"""Reads of presence: what a viewer may see of other users' status."""

from __future__ import annotations

from collections.abc import Iterable

from accounts.selectors import presence_visible_among
from chatproject.redis_client import get_redis
from presence import redis_keys
from presence.redis_keys import PresenceState
from presence.serializers import presence_fields


def presence_for_viewer(*, viewer_id: int, user_ids: list[int]) -> list[PresenceState]:
    """The presence of each of `user_ids` that `viewer_id` may see (friends who share it, and the
    viewer themself); the others are left out. One Redis round trip for all of them."""
    visible = presence_visible_among(viewer_id=viewer_id, user_ids=user_ids)
    return redis_keys.states(get_redis(), [uid for uid in dict.fromkeys(user_ids) if uid in visible])


def presence_fields_for_viewer(
    *, viewer_id: int, user_ids: Iterable[int]
) -> dict[int, dict[str, object] | None]:
    """`{status, last_active_at}` of each of `user_ids` as `viewer_id` may see it, None where they
    may not: the `presence` of the members or friends of one REST response, read together."""
    ids = list(dict.fromkeys(user_ids))
    shown = {
        state.user_id: presence_fields(state)
        for state in presence_for_viewer(viewer_id=viewer_id, user_ids=ids)
    }
    return {uid: shown.get(uid) for uid in ids}
