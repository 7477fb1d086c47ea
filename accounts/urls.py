"""URLs of accounts under /api/v1/ (DESIGN.md §3.1)."""

from __future__ import annotations

from django.urls import path, register_converter

from accounts.apis import auth, blocks, friends, profiles
from accounts.serializers import MAX_ID


class IdConverter:
    """A positive 64-bit id: a larger number is no match (404), never a database error."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("auth/register", auth.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", auth.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", auth.LogoutApi.as_view(), name="auth-logout"),
    path("auth/password", auth.PasswordChangeApi.as_view(), name="auth-password"),
    path("auth/csrf", auth.CsrfApi.as_view(), name="auth-csrf"),
    path("auth/tokens", auth.DeviceTokenListApi.as_view(), name="auth-tokens"),
    path("auth/tokens/<uuid:device_id>", auth.DeviceTokenRevokeApi.as_view(), name="auth-token"),
    path("me", profiles.MeApi.as_view(), name="me"),
    path("me/avatar", profiles.MeAvatarApi.as_view(), name="me-avatar"),
    path("users", profiles.UserListApi.as_view(), name="users"),
    path("users/<id:user_id>", profiles.UserDetailApi.as_view(), name="user"),
    path("friends", friends.FriendListApi.as_view(), name="friends"),
    path("friends/<id:user_id>", friends.FriendRemoveApi.as_view(), name="friend"),
    path("friends/requests", friends.FriendRequestCreateApi.as_view(), name="friend-requests"),
    path(
        "friends/requests/incoming",
        friends.FriendRequestIncomingApi.as_view(),
        name="friend-requests-incoming",
    ),
    path(
        "friends/requests/outgoing",
        friends.FriendRequestOutgoingApi.as_view(),
        name="friend-requests-outgoing",
    ),
    path(
        "friends/requests/<id:request_id>/accept",
        friends.FriendRequestAcceptApi.as_view(),
        name="friend-request-accept",
    ),
    path(
        "friends/requests/<id:request_id>/decline",
        friends.FriendRequestDeclineApi.as_view(),
        name="friend-request-decline",
    ),
    path(
        "friends/requests/<id:request_id>/cancel",
        friends.FriendRequestCancelApi.as_view(),
        name="friend-request-cancel",
    ),
    path("blocks", blocks.BlockListApi.as_view(), name="blocks"),
    path("blocks/<id:user_id>", blocks.BlockApi.as_view(), name="block"),
]
