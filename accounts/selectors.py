"""Reads on accounts: relationships (friends, blocks), the calling device, directory and lists.

Other apps rely on the relationship reads here (`user_blocked_between`, `friend_ids_of`,
`presence_visible_to`, `presence_visible_among`, `presence_watcher_ids`) and on
`device_id_for_request` to bind a WebSocket ticket to the device that asked for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, time
from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import (
    Block,
    DeviceToken,
    FriendRequest,
    FriendRequestStatus,
    Friendship,
    PresenceVisibility,
    User,
)
from chatproject.errors import NotFound


def user_blocked_between(*, user_id: int, other_id: int) -> bool:
    """True if either of the two users has blocked the other."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def blocker_ids_among(*, blocked_id: int, user_ids: set[int]) -> set[int]:
    """Those of `user_ids` who blocked `blocked_id` (none of that user's events reach them)."""
    if not user_ids:
        return set()
    return set(
        Block.objects.filter(blocked_id=blocked_id, blocker_id__in=user_ids).values_list(
            "blocker_id", flat=True
        )
    )


def blocked_either_way_ids(*, user_id: int) -> set[int]:
    """The users `user_id` blocked or was blocked by (their direct conversation takes no messages)."""
    rows = Block.objects.filter(Q(blocker_id=user_id) | Q(blocked_id=user_id)).values_list(
        "blocker_id", "blocked_id"
    )
    return {blocked if blocker == user_id else blocker for blocker, blocked in rows}


def friend_ids_of(*, user_id: int) -> set[int]:
    """The ids of `user_id`'s friends."""
    rows = Friendship.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id)).values_list(
        "user_low_id", "user_high_id"
    )
    return {high if low == user_id else low for low, high in rows}


def are_friends(*, user_id: int, other_id: int) -> bool:
    low, high = sorted((user_id, other_id))
    return Friendship.objects.filter(user_low_id=low, user_high_id=high).exists()


def presence_visible_to(*, user_id: int, viewer_id: int) -> bool:
    """Whether `viewer_id` may see `user_id`'s presence: a friend, unblocked, and allowed by settings."""
    return user_id in presence_visible_among(viewer_id=viewer_id, user_ids=[user_id])


def presence_visible_among(*, viewer_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of `user_ids` whose presence `viewer_id` may see (the viewer themself, and friends
    who share it and are not blocked either way), in three queries whatever their number: a
    conversation page shows the presence of every member."""
    ids = set(user_ids)
    visible = ids & {viewer_id}
    others = ids - visible
    if not others:
        return visible
    friendships = Friendship.objects.filter(
        Q(user_low_id=viewer_id, user_high_id__in=others) | Q(user_high_id=viewer_id, user_low_id__in=others)
    ).values_list("user_low_id", "user_high_id")
    friends = {high if low == viewer_id else low for low, high in friendships}
    if not friends:
        return visible
    sharing = set(
        User.objects.filter(pk__in=friends, presence_visibility=PresenceVisibility.FRIENDS).values_list(
            "pk", flat=True
        )
    )
    # blocking removes the friendship, so friends are never blocked; keep the check as a guard
    blocked = Block.objects.filter(
        Q(blocker_id=viewer_id, blocked_id__in=sharing) | Q(blocked_id=viewer_id, blocker_id__in=sharing)
    ).values_list("blocker_id", "blocked_id")
    return visible | (sharing - {a if a != viewer_id else b for a, b in blocked})


def presence_watcher_ids(*, user_id: int) -> set[int]:
    """The users who may see `user_id`'s presence (friends, unless presence is hidden)."""
    visibility = User.objects.filter(pk=user_id).values_list("presence_visibility", flat=True).first()
    if visibility != PresenceVisibility.FRIENDS:
        return set()
    # blocking removes the friendship, so friends are never blocked; keep the check as a guard
    blocked = set(Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True)) | set(
        Block.objects.filter(blocked_id=user_id).values_list("blocker_id", flat=True)
    )
    return friend_ids_of(user_id=user_id) - blocked


def user_in_do_not_disturb(*, user: User, at: datetime) -> bool:
    """Whether `at` falls in the user's do-not-disturb window (in the user's own time zone)."""
    if user.dnd_start is None or user.dnd_end is None or user.dnd_start == user.dnd_end:
        return False
    local: time = at.astimezone(ZoneInfo(user.time_zone)).time()
    if user.dnd_start < user.dnd_end:
        return user.dnd_start <= local < user.dnd_end
    return local >= user.dnd_start or local < user.dnd_end


def device_login_alive(*, user_id: int, device_id: str) -> bool:
    """Whether the login behind `device_id` (see `device_id_for_request`) still stands: the user is
    active and the device's token exists and has not expired, or its session still belongs to the
    user with the current password. A connect ticket and a socket live only as long as this."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    kind, _, key = device_id.partition(":")
    if kind == "token":
        try:
            device_uuid = uuid.UUID(key)
        except ValueError:
            return False
        return DeviceToken.objects.filter(
            Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user_id=user_id, device_id=device_uuid
        ).exists()
    if kind == "session" and key:
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        if not session.exists(key):
            return False
        data = session.load()
        stored_hash = str(data.get(HASH_SESSION_KEY, ""))
        return str(data.get(SESSION_KEY, "")) == str(user_id) and constant_time_compare(
            stored_hash, user.get_session_auth_hash()
        )
    return False


def device_id_for_request(request: Any) -> str:
    """A stable id of the device behind an authenticated request.

    Bearer auth: `"token:<device_id>"` of the `DeviceToken` (stable for the token's life).
    Session auth: `"session:<session_key>"` (stable while the browser's session lasts; login
    rotates it). Works with a DRF `Request` and with a plain `HttpRequest`/Channels scope object
    that has `.auth` or `.session`.
    """
    auth = getattr(request, "auth", None)
    if isinstance(auth, DeviceToken):
        return f"token:{auth.device_id}"
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session_key:
        return f"session:{session_key}"
    raise ValueError("the request is not authenticated by a device token or a session")


def user_get_visible(*, viewer: User, user_id: int) -> User:
    """The user `user_id` as `viewer` may see them; 404 if inactive or if they blocked the viewer."""
    user = User.objects.filter(pk=user_id, is_active=True).exclude(blocks_made__blocked_id=viewer.pk).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_search(*, viewer: User, search: str) -> QuerySet[User]:
    """Active users whose username or display name starts with `search`, minus those who blocked me."""
    users = User.objects.filter(is_active=True).exclude(blocks_made__blocked_id=viewer.pk)
    search = search.strip()
    if search:
        users = users.filter(Q(username__istartswith=search) | Q(display_name__istartswith=search))
    return users.order_by("username", "id")


def friend_list(*, user: User) -> QuerySet[Friendship]:
    """`user`'s friendships, oldest first, with both users loaded."""
    return (
        Friendship.objects.filter(Q(user_low=user) | Q(user_high=user))
        .select_related("user_low", "user_high")
        .order_by("created_at", "id")
    )


def friend_request_list(*, user: User, incoming: bool) -> QuerySet[FriendRequest]:
    """Pending requests to `user` (incoming) or from `user` (outgoing), newest first."""
    mine = Q(to_user=user) if incoming else Q(from_user=user)
    return (
        FriendRequest.objects.filter(mine, status=FriendRequestStatus.PENDING)
        .select_related("from_user", "to_user")
        .order_by("-created_at", "-id")
    )


def block_list(*, user: User) -> QuerySet[Block]:
    """The users `user` has blocked, newest first."""
    return Block.objects.filter(blocker=user).select_related("blocked").order_by("-created_at", "-id")


def device_token_list(*, user: User) -> QuerySet[DeviceToken]:
    """`user`'s logged-in devices (live tokens), newest first."""
    return DeviceToken.objects.filter(user=user).order_by("-created", "-device_id")
