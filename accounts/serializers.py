"""Shapes of the accounts API: what comes in (validated input) and what goes out.

Output serializers are read-only views of models; input serializers only validate and never save
(writes are services). The same shapes feed the OpenAPI schema.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.core.validators import FileExtensionValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import (
    AVATAR_EXTENSIONS,
    Block,
    DeviceToken,
    FriendRequest,
    FriendRequestStatus,
    Friendship,
    PresenceVisibility,
    User,
    username_validator,
    validate_avatar_size,
    validate_time_zone,
)
from chatproject.inputs import InputSerializer
from presence.serializers import PresenceFieldsDoc

AVATAR_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_ID = 2**63 - 1


class ChatServerSerializer(serializers.Serializer[Any]):
    """A chat server as service discovery hands it out (login, GET chat/server)."""

    id = serializers.CharField()
    url = serializers.CharField(help_text="WebSocket URL; append ?ticket=<ticket>.")
    region = serializers.CharField()


@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "22:00"}
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the user's own time zone ("HH:MM"), so it carries no UTC offset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "format": "password",
        "writeOnly": True,
        "minLength": 8,
        "maxLength": 128,
        # Django's password validators: at least 8 characters, not all digits; the others (not a
        # common password, not like the username) cannot be said in a schema
        "pattern": r"\D",
    }
)
class NewPasswordField(serializers.CharField):
    """A password being set: its rules are Django's AUTH_PASSWORD_VALIDATORS, checked by the service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=128, write_only=True, trim_whitespace=False, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": sorted(zoneinfo.available_timezones()), "example": "Europe/Paris"}
)
class TimeZoneField(serializers.CharField):
    """An IANA time zone name."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=64, validators=[validate_time_zone], **kwargs)


# --- output


class PublicUserSerializer(serializers.ModelSerializer[User]):
    """What anyone who may see a user sees."""

    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields: tuple[str, ...] = ("id", "username", "display_name", "avatar_url", "bio", "status_text")
        read_only_fields: tuple[str, ...] = fields

    def get_avatar_url(self, user: User) -> str | None:
        return user.avatar.url if user.avatar else None


class UserSettingsSerializer(serializers.ModelSerializer[User]):
    dnd_start = LocalTimeField(allow_null=True)
    dnd_end = LocalTimeField(allow_null=True)

    class Meta:
        model = User
        fields = (
            "notifications_enabled",
            "dnd_start",
            "dnd_end",
            "presence_visibility",
            "read_receipts_enabled",
            "push_previews_enabled",
        )


class MeSerializer(PublicUserSerializer):
    """My own profile and settings."""

    settings = UserSettingsSerializer(source="*", read_only=True)

    class Meta(PublicUserSerializer.Meta):
        fields = (*PublicUserSerializer.Meta.fields, "email", "time_zone", "date_joined", "settings")
        read_only_fields = fields


class AuthResultSerializer(serializers.Serializer[Any]):
    """Answer of register and login. `token` is null for a browser (session) login."""

    user = MeSerializer()
    token = serializers.CharField(allow_null=True)
    chat_server = ChatServerSerializer(
        allow_null=True,
        help_text="Service discovery: the chat server to open the WebSocket to (null: none live).",
    )
    ticket = serializers.CharField(allow_null=True, help_text="Single-use connect ticket for chat_server.")


class DeviceTokenSerializer(serializers.ModelSerializer[DeviceToken]):
    id = serializers.UUIDField(source="device_id", read_only=True)
    current = serializers.SerializerMethodField()

    class Meta:
        model = DeviceToken
        fields = ("id", "device_name", "created", "last_used_at", "expiry", "current")
        read_only_fields = fields

    def get_current(self, token: DeviceToken) -> bool:
        """Whether this is the token of the calling device."""
        request = self.context.get("request")
        return isinstance(getattr(request, "auth", None), DeviceToken) and request.auth.pk == token.pk  # type: ignore[union-attr]


class FriendSerializer(serializers.ModelSerializer[Friendship]):
    """A friendship as I see it: the friend, since when, and their presence, which the view reads
    for the whole page at once into the context's `presence` (friend id -> fields or None)."""

    user = serializers.SerializerMethodField()
    since = serializers.DateTimeField(source="created_at", read_only=True)
    presence = serializers.SerializerMethodField()

    class Meta:
        model = Friendship
        fields = ("user", "since", "presence")
        read_only_fields = fields

    @staticmethod
    def _other(friendship: Friendship, me: User) -> User:
        return friendship.user_high if friendship.user_low_id == me.pk else friendship.user_low

    @extend_schema_field(PublicUserSerializer)
    def get_user(self, friendship: Friendship) -> dict[str, Any]:
        me = self.context["request"].user
        return PublicUserSerializer(self._other(friendship, me), context=self.context).data

    @extend_schema_field(PresenceFieldsDoc(allow_null=True, help_text="null unless the friend shares it"))
    def get_presence(self, friendship: Friendship) -> dict[str, object] | None:
        friend_id = self._other(friendship, self.context["request"].user).pk
        presence: dict[int, dict[str, object] | None] = self.context.get("presence", {})
        return presence.get(friend_id)


class FriendRequestSerializer(serializers.ModelSerializer[FriendRequest]):
    from_user = PublicUserSerializer(read_only=True)
    to_user = PublicUserSerializer(read_only=True)
    status = serializers.ChoiceField(choices=FriendRequestStatus.choices, read_only=True)

    class Meta:
        model = FriendRequest
        fields = ("id", "from_user", "to_user", "status", "created_at", "responded_at")
        read_only_fields = fields


class BlockSerializer(serializers.ModelSerializer[Block]):
    user = PublicUserSerializer(source="blocked", read_only=True)

    class Meta:
        model = Block
        fields = ("user", "created_at")
        read_only_fields = fields


# --- input


class RegisterInputSerializer(InputSerializer):
    username = serializers.CharField(min_length=3, max_length=32, validators=[username_validator])
    email = serializers.EmailField(max_length=254)
    password = NewPasswordField()
    display_name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    device_name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    session = serializers.BooleanField(
        required=False, default=False, help_text="Browser: start a session (CSRF checked) instead of a token."
    )
    region = serializers.CharField(
        required=False, max_length=64, help_text="The client's region, for choosing a chat server."
    )


class LoginInputSerializer(InputSerializer):
    username = serializers.CharField(max_length=254, help_text="The username or the email address.")
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    device_name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    session = serializers.BooleanField(
        required=False, default=False, help_text="Browser: start a session (CSRF checked) instead of a token."
    )
    region = serializers.CharField(
        required=False, max_length=64, help_text="The client's region, for choosing a chat server."
    )


class PasswordChangeInputSerializer(InputSerializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = NewPasswordField()


class SettingsInputSerializer(InputSerializer):
    notifications_enabled = serializers.BooleanField(required=False)
    dnd_start = LocalTimeField(required=False, allow_null=True)
    dnd_end = LocalTimeField(required=False, allow_null=True)
    presence_visibility = serializers.ChoiceField(choices=PresenceVisibility.choices, required=False)
    read_receipts_enabled = serializers.BooleanField(required=False)
    push_previews_enabled = serializers.BooleanField(required=False)


class MeUpdateInputSerializer(InputSerializer):
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False)
    bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
    status_text = serializers.CharField(max_length=140, required=False, allow_blank=True)
    time_zone = TimeZoneField(required=False)
    settings = SettingsInputSerializer(required=False)

    def flat_changes(self) -> dict[str, Any]:
        """The validated changes as user fields (the nested settings flattened)."""
        data = dict(self.validated_data)
        data.update(data.pop("settings", {}))
        return data


class AvatarInputSerializer(InputSerializer):
    avatar = serializers.ImageField(
        validators=[validate_avatar_size],
        help_text=f"JPEG, PNG, GIF or WebP, at most {settings.AVATAR_MAX_BYTES} bytes, "
        f"in a file named *.{', *.'.join(AVATAR_EXTENSIONS)}.",
    )

    def validate_avatar(self, value: Any) -> Any:
        # the file name's extension, checked here rather than as a field validator, which
        # drf-spectacular would publish as a pattern on the file's bytes
        FileExtensionValidator(list(AVATAR_EXTENSIONS))(value)
        # the type Pillow found in the bytes, not the one the client claims
        if getattr(value, "content_type", None) not in AVATAR_CONTENT_TYPES:
            raise serializers.ValidationError("Upload a JPEG, PNG, GIF or WebP image.")
        return value


class FriendRequestCreateInputSerializer(InputSerializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class UserSearchInputSerializer(InputSerializer):
    search = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
