"""Accounts in PostgreSQL: the user (profile and settings), per-device tokens, friends and blocks.

`User` is AUTH_USER_MODEL. Usernames and emails are unique without regard to case (functional
unique indexes on `lower(...)`). Settings live on the user row itself, so every user has them
whatever created it (API, admin, factories). `DeviceToken` is the knox token model
(KNOX_TOKEN_MODEL): knox stores only a digest of the token; the row also carries a public
`device_id` and the device's name, so a user can list and revoke devices without ever seeing a
secret again. A friendship is one row per pair, stored with the smaller id first.
"""

from __future__ import annotations

import uuid
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import FileExtensionValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from knox.models import AbstractAuthToken

AVATAR_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "webp")

username_validator = RegexValidator(
    regex=r"^[A-Za-z0-9_.-]+\Z",
    message="Use only letters, digits and the characters _ . -",
    code="invalid_username",
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.", code="invalid_time_zone")


def validate_avatar_size(value: File) -> None:
    limit = int(settings.AVATAR_MAX_BYTES)
    if value.size is not None and value.size > limit:
        raise ValidationError(f"The image is larger than {limit} bytes.", code="too_large")


def avatar_upload_to(instance: User, filename: str) -> str:
    # a fresh name per upload: caches and CDNs never serve a stale avatar under the same URL
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "img"
    return f"avatars/{instance.pk or 'new'}/{uuid.uuid4().hex}.{extension}"


class CaseInsensitiveUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class PresenceVisibility(models.TextChoices):
    FRIENDS = "friends", "Friends"
    NOBODY = "nobody", "Nobody"


# knox's untyped abstract token model hides the `auth_token_set` reverse accessor from django-stubs
class User(AbstractUser):  # type: ignore[django-manager-missing]
    username = models.CharField(
        "username",
        max_length=32,
        unique=True,
        validators=[username_validator],
        error_messages={"unique": "A user with that username already exists."},
    )
    display_name = models.CharField(max_length=64, blank=True)
    avatar = models.ImageField(
        upload_to=avatar_upload_to,
        blank=True,
        validators=[FileExtensionValidator(list(AVATAR_EXTENSIONS)), validate_avatar_size],
    )
    bio = models.CharField(max_length=500, blank=True)
    status_text = models.CharField(max_length=140, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    # settings
    notifications_enabled = models.BooleanField(default=True)
    # do-not-disturb window in the user's time zone; both empty means off, start > end wraps midnight
    dnd_start = models.TimeField(null=True, blank=True)
    dnd_end = models.TimeField(null=True, blank=True)
    presence_visibility = models.CharField(
        max_length=16, choices=PresenceVisibility.choices, default=PresenceVisibility.FRIENDS
    )
    read_receipts_enabled = models.BooleanField(default=True)
    # whether a push notification may carry the message's text (the lock screen shows it)
    push_previews_enabled = models.BooleanField(default=True)

    objects: ClassVar[CaseInsensitiveUserManager] = CaseInsensitiveUserManager()

    class Meta(AbstractUser.Meta):
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                condition=~models.Q(email=""),
            ),
        ]

    def __str__(self) -> str:
        return self.username


class DeviceToken(AbstractAuthToken):
    """One bearer token per logged-in device (knox stores the digest, never the token)."""

    device_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    device_name = models.CharField(max_length=64, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"{self.user_id}:{self.device_name or self.device_id}"


class Friendship(models.Model):
    """Two users are friends: one row per pair, `user_low_id < user_high_id`."""

    user_low = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("user_low", "user_high"), name="accounts_friendship_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(user_low__lt=models.F("user_high")), name="accounts_friendship_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_low_id}<->{self.user_high_id}"


class FriendRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


class FriendRequest(models.Model):
    from_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="friend_requests_sent")
    to_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="friend_requests_received")
    status = models.CharField(
        max_length=16, choices=FriendRequestStatus.choices, default=FriendRequestStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("from_user", "to_user"),
                condition=models.Q(status="pending"),
                name="accounts_friendrequest_one_pending",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_user=models.F("to_user")), name="accounts_friendrequest_not_self"
            ),
        ]
        indexes = [models.Index(fields=("to_user", "status", "-created_at"))]

    def __str__(self) -> str:
        return f"{self.from_user_id}->{self.to_user_id} ({self.status})"


class Block(models.Model):
    """`blocker` blocked `blocked`: no friend requests, messages or presence between them."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("blocker", "blocked"), name="accounts_block_pair_unique"),
            models.CheckConstraint(
                condition=~models.Q(blocker=models.F("blocked")), name="accounts_block_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"
