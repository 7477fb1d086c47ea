"""REST endpoints of friends: my friends (with their presence), unfriending, friend requests
sent, listed, accepted, declined and withdrawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.apis.base import Pagination, request_user
from accounts.models import FriendRequest, Friendship
from accounts.serializers import (
    FriendRequestCreateInputSerializer,
    FriendRequestSerializer,
    FriendSerializer,
)
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


class FriendListApi(generics.ListAPIView[Friendship]):
    serializer_class = FriendSerializer
    pagination_class = Pagination

    @extend_schema(tags=["friends"], summary="My friends, oldest friendship first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Friendship]:
        return selectors.friend_list(user=request_user(self.request))

    # the stubs type this generically over rows (values() querysets); ours are friendships
    def paginate_queryset(self, queryset: QuerySet[Friendship]) -> list[Friendship] | None:  # type: ignore[override]
        """The page, and the presence of its friends read together (one Redis round trip)."""
        page = super().paginate_queryset(queryset)
        me = request_user(self.request).pk
        friend_ids = [f.user_high_id if f.user_low_id == me else f.user_low_id for f in page or []]
        self.presence = presence_fields_for_viewer(viewer_id=me, user_ids=friend_ids)
        return page

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "presence": getattr(self, "presence", {})}


class FriendRemoveApi(APIView):
    @extend_schema(tags=["friends"], responses={204: None}, summary="Unfriend a user")
    def delete(self, request: Request, user_id: int) -> Response:
        services.friend_remove(user=request_user(request), friend_id=user_id)
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
            from_user=request_user(request), to_user_id=data.validated_data["user_id"]
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
        return selectors.friend_request_list(user=request_user(self.request), incoming=self.incoming)


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
            friend_request = service(user=request_user(request), request_id=request_id)
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
