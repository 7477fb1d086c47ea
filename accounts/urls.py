"""URLs of accounts under /api/v1/ (DESIGN.md §3.1)."""

from __future__ import annotations

from django.urls import path, register_converter

from accounts import apis
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
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/password", apis.PasswordChangeApi.as_view(), name="auth-password"),
    path("auth/csrf", apis.CsrfApi.as_view(), name="auth-csrf"),
    path("auth/tokens", apis.DeviceTokenListApi.as_view(), name="auth-tokens"),
    path("auth/tokens/<uuid:device_id>", apis.DeviceTokenRevokeApi.as_view(), name="auth-token"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/avatar", apis.MeAvatarApi.as_view(), name="me-avatar"),
    path("users", apis.UserListApi.as_view(), name="users"),
    path("users/<id:user_id>", apis.UserDetailApi.as_view(), name="user"),
    path("friends", apis.FriendListApi.as_view(), name="friends"),
    path("friends/<id:user_id>", apis.FriendRemoveApi.as_view(), name="friend"),
    path("friends/requests", apis.FriendRequestCreateApi.as_view(), name="friend-requests"),
    path(
        "friends/requests/incoming", apis.FriendRequestIncomingApi.as_view(), name="friend-requests-incoming"
    ),
    path(
        "friends/requests/outgoing", apis.FriendRequestOutgoingApi.as_view(), name="friend-requests-outgoing"
    ),
    path(
        "friends/requests/<id:request_id>/accept",
        apis.FriendRequestAcceptApi.as_view(),
        name="friend-request-accept",
    ),
    path(
        "friends/requests/<id:request_id>/decline",
        apis.FriendRequestDeclineApi.as_view(),
        name="friend-request-decline",
    ),
    path(
        "friends/requests/<id:request_id>/cancel",
        apis.FriendRequestCancelApi.as_view(),
        name="friend-request-cancel",
    ),
    path("blocks", apis.BlockListApi.as_view(), name="blocks"),
    path("blocks/<id:user_id>", apis.BlockApi.as_view(), name="block"),
]
