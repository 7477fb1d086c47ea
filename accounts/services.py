"""Writes on accounts: registration, login and devices, profile and settings, friends, blocks.

Every function validates, then acts, and raises one `ServiceError` subclass per domain error
(`accounts.exceptions`, `chatproject.errors`). Login goes through `django.contrib.auth.authenticate`
with the HTTP request, so django-axes counts failures and locks out by username and by IP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.avatars import avatar_reencode
from accounts.exceptions import (
    AlreadyFriends,
    FriendRequestNotPending,
    FriendRequestPending,
    InvalidCredentials,
    LockedOut,
    UserBlocked,
)
from accounts.models import (
    Block,
    DeviceToken,
    FriendRequest,
    FriendRequestStatus,
    Friendship,
    User,
)
from accounts.selectors import are_friends, device_id_for_request, user_get_visible
from accounts.signals import blocks_change, device_login_renew, device_logins_end
from chatproject.errors import BadRequest, NotFound, ValidationFailed

# fields of `user_update_profile`: the profile and the settings, nothing that grants rights
PROFILE_FIELDS = frozenset(
    {
        "display_name",
        "email",
        "bio",
        "status_text",
        "time_zone",
        "notifications_enabled",
        "dnd_start",
        "dnd_end",
        "presence_visibility",
        "read_receipts_enabled",
        "push_previews_enabled",
    }
)


@dataclass(frozen=True)
class LoginResult:
    """A logged-in user and, for a device login, its token (the raw token is shown only now)."""

    user: User
    token: DeviceToken | None
    raw_token: str | None


def user_ensure_demo(*, username: str, display_name: str, password: str) -> bool:
    """Create the demo user `username` unless it exists; return whether it was created."""
    if User.objects.filter(username__iexact=username).exists():
        return False
    User.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=password,
        display_name=display_name,
    )
    return True


def _check_unique(*, user: User | None, username: str | None = None, email: str | None = None) -> None:
    others = User.objects.exclude(pk=user.pk) if user is not None else User.objects.all()
    fields: dict[str, list[str]] = {}
    if username is not None and others.filter(username__iexact=username).exists():
        fields["username"] = ["A user with that username already exists."]
    if email and others.filter(email__iexact=email).exists():
        fields["email"] = ["A user with that email already exists."]
    if fields:
        raise ValidationFailed(fields=fields)


def _check_password(*, password: str, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(fields={field: list(exc.messages)}) from exc


def user_register(*, username: str, email: str, password: str, display_name: str = "") -> User:
    """Create an account; usernames and emails are unique without regard to case."""
    _check_unique(user=None, username=username, email=email)
    user = User(username=username, email=email, display_name=display_name or username)
    _check_password(password=password, user=user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration took the name or the email
        _check_unique(user=None, username=username, email=email)
        raise ValidationFailed() from exc
    return user


def device_token_create(*, user: User, device_name: str) -> tuple[DeviceToken, str]:
    """A new bearer token for one device; returns the row and the raw token (shown once)."""
    token, raw = DeviceToken.objects.create(user=user, device_name=device_name)
    return token, raw


def _authenticate(*, identifier: str, password: str, request: HttpRequest) -> User:
    """Check credentials through Django's backends (axes first); raise on a wrong or locked login."""
    # a login by email is counted by axes under the account's username, like one by username
    username = (
        User.objects.filter(email__iexact=identifier).values_list("username", flat=True).first()
        if "@" in identifier
        else None
    ) or identifier
    user = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        raise LockedOut()
    if not isinstance(user, User):
        raise InvalidCredentials()
    return user


def auth_login(*, identifier: str, password: str, device_name: str, request: HttpRequest) -> LoginResult:
    """Log a device in with username or email: a new bearer token for this device."""
    user = _authenticate(identifier=identifier, password=password, request=request)
    token, raw = device_token_create(user=user, device_name=device_name)
    # what django.contrib.auth.login sends: updates last_login and clears axes' failure count
    user_logged_in.send(sender=User, request=request, user=user)
    return LoginResult(user=user, token=token, raw_token=raw)


def auth_login_session(*, identifier: str, password: str, request: HttpRequest) -> LoginResult:
    """Log a browser in: a Django session (the caller has checked CSRF), no bearer token."""
    user = _authenticate(identifier=identifier, password=password, request=request)
    login(request, user)
    return LoginResult(user=user, token=None, raw_token=None)


def _device_of(request: HttpRequest) -> str | None:
    try:
        return device_id_for_request(request)
    except ValueError:
        return None


def auth_logout(*, user: User, token: DeviceToken | None, request: HttpRequest) -> None:
    """End this device's login at once: delete its token, or end the browser session.

    Its live sockets close, its unused connect tickets stop working, presence forgets it and its
    push registrations go (`accounts.signals.device_logins_ended`).
    """
    device_id = _device_of(request)  # before the session is flushed
    if token is not None:
        token.delete()
        user_logged_out.send(sender=User, request=request, user=user)
    else:
        logout(request)
    if device_id is not None:
        device_logins_end(user_id=user.pk, device_ids=[device_id])


def auth_password_change(
    *, user: User, old_password: str, new_password: str, token: DeviceToken | None, request: HttpRequest
) -> None:
    """Change the password and log every other device out; this device stays logged in."""
    if not user.check_password(old_password):
        raise ValidationFailed(fields={"old_password": ["The current password is wrong."]})
    _check_password(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    others = DeviceToken.objects.filter(user=user)
    if token is not None:
        others = others.exclude(pk=token.pk)
    others.delete()
    this_device = _device_of(request)  # before the session key rotates
    if token is None:
        update_session_auth_hash(request, user)
    # every other device's login ends: other tokens are gone, other sessions no longer match
    device_logins_end(user_id=user.pk, device_ids=None, except_device=this_device)
    renewed = _device_of(request)
    if this_device is not None and renewed is not None and renewed != this_device:
        # this browser goes on under its new session key (announced after the end of the others,
        # which spares the old key)
        device_login_renew(user_id=user.pk, old_device_id=this_device, new_device_id=renewed)


def device_token_revoke(*, user: User, device_id: str) -> None:
    """Log one of my devices out (its token stops working at once)."""
    deleted, _ = DeviceToken.objects.filter(user=user, device_id=device_id).delete()
    if not deleted:
        raise NotFound("No such device.")
    device_logins_end(user_id=user.pk, device_ids=[f"token:{device_id}"])


def user_deactivate(*, user: User) -> None:
    """Deactivate an account: it can no longer log in and every token is deleted."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    DeviceToken.objects.filter(user=user).delete()
    device_logins_end(user_id=user.pk, device_ids=None)


def user_update_profile(*, user: User, changes: Mapping[str, Any]) -> User:
    """Change profile and settings fields (validated by the caller's serializer)."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise BadRequest(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    if "email" in changes:
        _check_unique(user=user, email=changes["email"])
    for field, value in changes.items():
        setattr(user, field, value)
    if (user.dnd_start is None) != (user.dnd_end is None):
        raise ValidationFailed(fields={"settings.dnd_start": ["Give both ends of the window, or neither."]})
    user.save(update_fields=list(changes))
    return user


def user_set_avatar(*, user: User, image: UploadedFile) -> User:
    """Store a new avatar (already checked: an image of an allowed type and size), re-encoded
    (`accounts.avatars`: no metadata or trailing bytes of the upload), and drop the old."""
    old = user.avatar.name if user.avatar else None
    name, content = avatar_reencode(image=image)
    user.avatar.save(name, content, save=False)
    user.save(update_fields=["avatar"])
    if old:
        user.avatar.storage.delete(old)
    return user


def user_clear_avatar(*, user: User) -> User:
    if user.avatar:
        user.avatar.delete(save=False)
        user.avatar = ""
        user.save(update_fields=["avatar"])
    return user


def _befriend(*, user_id: int, other_id: int) -> None:
    low, high = sorted((user_id, other_id))
    Friendship.objects.get_or_create(user_low_id=low, user_high_id=high)


@transaction.atomic
def friend_request_send(*, from_user: User, to_user_id: int) -> tuple[FriendRequest, bool]:
    """Ask `to_user_id` to be friends; returns the request and whether it was created.

    If they had already asked me, that request is accepted instead and we are friends.
    A user who blocked me is not found (404); a user I blocked gives `UserBlocked`.
    """
    if to_user_id == from_user.pk:
        raise ValidationFailed(fields={"user_id": ["You cannot befriend yourself."]})
    to_user = user_get_visible(viewer=from_user, user_id=to_user_id)
    if Block.objects.filter(blocker=from_user, blocked=to_user).exists():
        raise UserBlocked("You have blocked this user; unblock them first.")
    if are_friends(user_id=from_user.pk, other_id=to_user.pk):
        raise AlreadyFriends()
    pending = FriendRequest.objects.filter(status=FriendRequestStatus.PENDING)
    if pending.filter(from_user=from_user, to_user=to_user).exists():
        raise FriendRequestPending()
    theirs = pending.filter(from_user=to_user, to_user=from_user).first()
    if theirs is not None:
        return _friend_request_accept(theirs), False
    try:
        with transaction.atomic():
            return FriendRequest.objects.create(from_user=from_user, to_user=to_user), True
    except IntegrityError as exc:  # the same request sent twice at once
        raise FriendRequestPending() from exc


def _friend_request_get(*, request_id: int, mine: Q) -> FriendRequest:
    friend_request = (
        FriendRequest.objects.select_for_update(of=("self",))
        .select_related("from_user", "to_user")
        .filter(mine, pk=request_id)
        .first()
    )
    if friend_request is None:
        raise NotFound("No such friend request.")
    if friend_request.status != FriendRequestStatus.PENDING:
        raise FriendRequestNotPending()
    return friend_request


def _friend_request_close(friend_request: FriendRequest, status: FriendRequestStatus) -> FriendRequest:
    friend_request.status = status
    friend_request.responded_at = timezone.now()
    friend_request.save(update_fields=["status", "responded_at"])
    return friend_request


def _friend_request_accept(friend_request: FriendRequest) -> FriendRequest:
    _befriend(user_id=friend_request.from_user_id, other_id=friend_request.to_user_id)
    return _friend_request_close(friend_request, FriendRequestStatus.ACCEPTED)


@transaction.atomic
def friend_request_accept(*, user: User, request_id: int) -> FriendRequest:
    """Accept a request sent to me: we become friends."""
    return _friend_request_accept(_friend_request_get(request_id=request_id, mine=Q(to_user=user)))


@transaction.atomic
def friend_request_decline(*, user: User, request_id: int) -> FriendRequest:
    """Decline a request sent to me."""
    friend_request = _friend_request_get(request_id=request_id, mine=Q(to_user=user))
    return _friend_request_close(friend_request, FriendRequestStatus.DECLINED)


@transaction.atomic
def friend_request_cancel(*, user: User, request_id: int) -> FriendRequest:
    """Withdraw a request I sent."""
    friend_request = _friend_request_get(request_id=request_id, mine=Q(from_user=user))
    return _friend_request_close(friend_request, FriendRequestStatus.CANCELLED)


def friend_remove(*, user: User, friend_id: int) -> None:
    """Unfriend: the friendship ends for both."""
    low, high = sorted((user.pk, friend_id))
    deleted, _ = Friendship.objects.filter(user_low_id=low, user_high_id=high).delete()
    if not deleted:
        raise NotFound("You are not friends with this user.")


def _blocks_changed(*, blocker_id: int, blocked_id: int) -> None:
    """After the commit, chat servers forget their cached send rules (`accounts.signals`)."""
    blocks_change(blocker_id=blocker_id, blocked_id=blocked_id)


@transaction.atomic
def block_create(*, blocker: User, blocked_id: int) -> tuple[Block, bool]:
    """Block a user: any friendship and pending request between us ends. Idempotent."""
    if blocked_id == blocker.pk:
        raise ValidationFailed(fields={"user_id": ["You cannot block yourself."]})
    if not User.objects.filter(pk=blocked_id).exists():
        raise NotFound("No such user.")
    block, created = Block.objects.get_or_create(blocker=blocker, blocked_id=blocked_id)
    low, high = sorted((blocker.pk, blocked_id))
    Friendship.objects.filter(user_low_id=low, user_high_id=high).delete()
    FriendRequest.objects.filter(
        Q(from_user=blocker, to_user_id=blocked_id) | Q(from_user_id=blocked_id, to_user=blocker),
        status=FriendRequestStatus.PENDING,
    ).update(status=FriendRequestStatus.CANCELLED, responded_at=timezone.now())
    if created:
        _blocks_changed(blocker_id=blocker.pk, blocked_id=blocked_id)
    return block, created


def block_remove(*, blocker: User, blocked_id: int) -> None:
    """Unblock (the friendship that the block ended does not come back)."""
    deleted, _ = Block.objects.filter(blocker=blocker, blocked_id=blocked_id).delete()
    if not deleted:
        raise NotFound("You have not blocked this user.")
    _blocks_changed(blocker_id=blocker.pk, blocked_id=blocked_id)
