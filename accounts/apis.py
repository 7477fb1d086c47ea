"""REST endpoints of accounts (DESIGN.md §3.1): auth and devices, profiles, friends, blocks.

Each view parses input, calls one service or selector, and shapes the output. Errors are
`ServiceError`s and DRF exceptions, turned into the one error body by `chatproject.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import Block, DeviceToken, FriendRequest, Friendship, User
from accounts.serializers import (
    AVATAR_CONTENT_TYPES,
    AuthResultSerializer,
    AvatarInputSerializer,
    BlockSerializer,
    DeviceTokenSerializer,
    FriendRequestCreateInputSerializer,
    FriendRequestSerializer,
    FriendSerializer,
    LoginInputSerializer,
    MeSerializer,
    MeUpdateInputSerializer,
    PasswordChangeInputSerializer,
    PublicUserSerializer,
    RegisterInputSerializer,
    UserSearchInputSerializer,
)
from chat.discovery import chat_assignment_for_login
from chatproject.errors import ERROR_SCHEMA
from presence.selectors import presence_fields_for_viewer

FRIEND_REQUEST_CONFLICT = {
    409: OpenApiResponse(
        ERROR_SCHEMA,
        description="Already friends (`already_friends`), or a request is pending (`request_pending`).",
    )
}
REQUEST_NOT_PENDING = {
    409: OpenApiResponse(
        ERROR_SCHEMA, description="The request was already answered or cancelled (`request_not_pending`)."
    )
}


class Pagination(PageNumberPagination):
    """Page-number pages over a stable order (each list orders by a unique key last).

    DRF falls back to the default page size when `page_size` is not a number and cuts it to the
    maximum when it is over; here either is a 400, as the schema's bounds say.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise serializers.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # every view here but the public ones requires a login
    return user


def _device_token(request: Request) -> DeviceToken | None:
    return request.auth if isinstance(request.auth, DeviceToken) else None


def auth_response_body(
    *, request: Request, result: services.LoginResult, region: str | None = None
) -> dict[str, Any]:
    """The body of register and login: the user, the device's token, and service discovery's
    answer (design note §4.1): the chat server to connect to and a connect ticket for it."""
    if result.token is not None:
        device_id = f"token:{result.token.device_id}"
    else:
        device_id = selectors.device_id_for_request(request._request)
    body: dict[str, object] = {"user": result.user, "token": result.raw_token}
    body.update(chat_assignment_for_login(user_id=result.user.pk, device_id=device_id, region=region))
    return AuthResultSerializer(body, context={"request": request}).data


def _enforce_csrf(request: Request) -> None:
    # a session login is a state change made with the browser's cookies: CSRF applies to it too
    SessionAuthentication().enforce_csrf(request)


# --- auth and devices


class RegisterApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        request=RegisterInputSerializer,
        responses={201: AuthResultSerializer},
        summary="Create an account and log this device in",
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if params["session"]:
            _enforce_csrf(request)
        services.user_register(
            username=params["username"],
            email=params["email"],
            password=params["password"],
            display_name=params["display_name"],
        )
        result = _login(request, identifier=params["username"], password=params["password"], params=params)
        return Response(
            auth_response_body(request=request, result=result, region=params.get("region")),
            status=status.HTTP_201_CREATED,
        )


def _login(
    request: Request, *, identifier: str, password: str, params: dict[str, Any]
) -> services.LoginResult:
    if params["session"]:
        return services.auth_login_session(identifier=identifier, password=password, request=request._request)
    return services.auth_login(
        identifier=identifier, password=password, device_name=params["device_name"], request=request._request
    )


class LoginApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        request=LoginInputSerializer,
        responses={200: AuthResultSerializer},
        summary="Log in with username or email; a bearer token for this device, or a browser session",
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if params["session"]:
            _enforce_csrf(request)
        result = _login(request, identifier=params["username"], password=params["password"], params=params)
        return Response(auth_response_body(request=request, result=result, region=params.get("region")))


class LogoutApi(APIView):
    @extend_schema(tags=["auth"], request=None, responses={204: None}, summary="Log this device out")
    def post(self, request: Request) -> Response:
        services.auth_logout(user=_user(request), token=_device_token(request), request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    @extend_schema(
        tags=["auth"],
        request=PasswordChangeInputSerializer,
        responses={204: None},
        summary="Change my password; every other device is logged out",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_password_change(
            user=_user(request),
            old_password=data.validated_data["old_password"],
            new_password=data.validated_data["new_password"],
            token=_device_token(request),
            request=request._request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        responses={200: inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})},
        summary="Set the CSRF cookie; browsers send its value as X-CSRFToken",
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


class DeviceTokenListApi(generics.ListAPIView[DeviceToken]):
    serializer_class = DeviceTokenSerializer
    pagination_class = Pagination

    @extend_schema(tags=["auth"], summary="My logged-in devices (one bearer token each)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[DeviceToken]:
        return selectors.device_token_list(user=_user(self.request))


class DeviceTokenRevokeApi(APIView):
    @extend_schema(tags=["auth"], responses={204: None}, summary="Log one of my devices out")
    def delete(self, request: Request, device_id: UUID) -> Response:
        services.device_token_revoke(user=_user(request), device_id=str(device_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- profiles


class MeApi(APIView):
    @extend_schema(tags=["profile"], responses={200: MeSerializer}, summary="My profile and settings")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_user(request), context={"request": request}).data)

    @extend_schema(
        tags=["profile"],
        request=MeUpdateInputSerializer,
        responses={200: MeSerializer},
        summary="Change my profile and settings (any subset of the fields)",
    )
    def patch(self, request: Request) -> Response:
        data = MeUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=_user(request), changes=data.flat_changes())
        return Response(MeSerializer(user, context={"request": request}).data)


class MeAvatarApi(APIView):
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        tags=["profile"],
        request={
            "multipart/form-data": OpenApiRequest(
                AvatarInputSerializer,
                encoding={"avatar": {"contentType": ", ".join(sorted(AVATAR_CONTENT_TYPES))}},
            )
        },
        responses={200: MeSerializer},
        summary="Upload my avatar",
    )
    def post(self, request: Request) -> Response:
        data = AvatarInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_set_avatar(user=_user(request), image=data.validated_data["avatar"])
        return Response(MeSerializer(user, context={"request": request}).data)

    @extend_schema(tags=["profile"], responses={200: MeSerializer}, summary="Remove my avatar")
    def delete(self, request: Request) -> Response:
        user = services.user_clear_avatar(user=_user(request))
        return Response(MeSerializer(user, context={"request": request}).data)


class UserListApi(generics.ListAPIView[User]):
    serializer_class = PublicUserSerializer
    pagination_class = Pagination

    @extend_schema(
        tags=["profile"],
        parameters=[OpenApiParameter("search", str, description="Prefix of a username or display name")],
        summary="Directory: users by name prefix (not those who blocked me)",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[User]:
        query = UserSearchInputSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.user_search(viewer=_user(self.request), search=query.validated_data["search"])


class UserDetailApi(APIView):
    @extend_schema(tags=["profile"], responses={200: PublicUserSerializer}, summary="A user's public profile")
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_visible(viewer=_user(request), user_id=user_id)
        return Response(PublicUserSerializer(user, context={"request": request}).data)


# --- friends and blocks


class FriendListApi(generics.ListAPIView[Friendship]):
    serializer_class = FriendSerializer
    pagination_class = Pagination

    @extend_schema(tags=["friends"], summary="My friends, oldest friendship first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Friendship]:
        return selectors.friend_list(user=_user(self.request))

    # the stubs type this generically over rows (values() querysets); ours are friendships
    def paginate_queryset(self, queryset: QuerySet[Friendship]) -> list[Friendship] | None:  # type: ignore[override]
        """The page, and the presence of its friends read together (one Redis round trip)."""
        page = super().paginate_queryset(queryset)
        me = _user(self.request).pk
        friend_ids = [f.user_high_id if f.user_low_id == me else f.user_low_id for f in page or []]
        self.presence = presence_fields_for_viewer(viewer_id=me, user_ids=friend_ids)
        return page

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "presence": getattr(self, "presence", {})}


class FriendRemoveApi(APIView):
    @extend_schema(tags=["friends"], responses={204: None}, summary="Unfriend a user")
    def delete(self, request: Request, user_id: int) -> Response:
        services.friend_remove(user=_user(request), friend_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FriendRequestCreateApi(APIView):
    @extend_schema(
        tags=["friends"],
        request=FriendRequestCreateInputSerializer,
        responses={
            201: FriendRequestSerializer,
            200: OpenApiResponse(FriendRequestSerializer, description="They had asked me: now accepted."),
            **FRIEND_REQUEST_CONFLICT,
        },
        summary="Send a friend request",
    )
    def post(self, request: Request) -> Response:
        data = FriendRequestCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        friend_request, created = services.friend_request_send(
            from_user=_user(request), to_user_id=data.validated_data["user_id"]
        )
        return Response(
            FriendRequestSerializer(friend_request, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class _FriendRequestListApi(generics.ListAPIView[FriendRequest]):
    serializer_class = FriendRequestSerializer
    pagination_class = Pagination
    incoming: bool

    def get_queryset(self) -> QuerySet[FriendRequest]:
        return selectors.friend_request_list(user=_user(self.request), incoming=self.incoming)


class FriendRequestIncomingApi(_FriendRequestListApi):
    incoming = True

    @extend_schema(tags=["friends"], summary="Pending friend requests sent to me, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class FriendRequestOutgoingApi(_FriendRequestListApi):
    incoming = False

    @extend_schema(tags=["friends"], summary="Pending friend requests I sent, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _friend_request_action(service: Callable[..., FriendRequest], summary: str) -> type[APIView]:
    """A POST endpoint that applies `service` to one friend request and returns it."""

    class FriendRequestActionApi(APIView):
        @extend_schema(
            tags=["friends"],
            request=None,
            responses={200: FriendRequestSerializer, **REQUEST_NOT_PENDING},
            summary=summary,
        )
        def post(self, request: Request, request_id: int) -> Response:
            friend_request = service(user=_user(request), request_id=request_id)
            return Response(FriendRequestSerializer(friend_request, context={"request": request}).data)

    FriendRequestActionApi.__name__ = FriendRequestActionApi.__qualname__ = service.__name__.title().replace(
        "_", ""
    )
    return FriendRequestActionApi


FriendRequestAcceptApi = _friend_request_action(
    services.friend_request_accept, "Accept a friend request sent to me"
)
FriendRequestDeclineApi = _friend_request_action(
    services.friend_request_decline, "Decline a friend request sent to me"
)
FriendRequestCancelApi = _friend_request_action(
    services.friend_request_cancel, "Withdraw a friend request I sent"
)


class BlockListApi(generics.ListAPIView[Block]):
    serializer_class = BlockSerializer
    pagination_class = Pagination

    @extend_schema(tags=["blocks"], summary="Users I blocked, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Block]:
        return selectors.block_list(user=_user(self.request))


class BlockApi(APIView):
    @extend_schema(
        tags=["blocks"],
        request=None,
        responses={
            201: BlockSerializer,
            200: OpenApiResponse(BlockSerializer, description="Already blocked."),
        },
        summary="Block a user (ends any friendship and pending request between us)",
    )
    def post(self, request: Request, user_id: int) -> Response:
        block, created = services.block_create(blocker=_user(request), blocked_id=user_id)
        return Response(
            BlockSerializer(block, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(tags=["blocks"], responses={204: None}, summary="Unblock a user")
    def delete(self, request: Request, user_id: int) -> Response:
        services.block_remove(blocker=_user(request), blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
