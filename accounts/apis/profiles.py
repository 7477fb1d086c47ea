"""REST endpoints of profiles: my profile, settings and avatar; the directory; a user's public
profile."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema
from rest_framework import generics
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.apis.base import Pagination, request_user
from accounts.models import User
from accounts.serializers import (
    AVATAR_CONTENT_TYPES,
    AvatarInputSerializer,
    MeSerializer,
    MeUpdateInputSerializer,
    PublicUserSerializer,
    UserSearchInputSerializer,
)


class MeApi(APIView):
    @extend_schema(tags=["profile"], responses={200: MeSerializer}, summary="My profile and settings")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request_user(request), context={"request": request}).data)

    @extend_schema(
        tags=["profile"],
        request=MeUpdateInputSerializer,
        responses={200: MeSerializer},
        summary="Change my profile and settings (any subset of the fields)",
    )
    def patch(self, request: Request) -> Response:
        data = MeUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request_user(request), changes=data.flat_changes())
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
        user = services.user_set_avatar(user=request_user(request), image=data.validated_data["avatar"])
        return Response(MeSerializer(user, context={"request": request}).data)

    @extend_schema(tags=["profile"], responses={200: MeSerializer}, summary="Remove my avatar")
    def delete(self, request: Request) -> Response:
        user = services.user_clear_avatar(user=request_user(request))
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
        return selectors.user_search(viewer=request_user(self.request), search=query.validated_data["search"])


class UserDetailApi(APIView):
    @extend_schema(tags=["profile"], responses={200: PublicUserSerializer}, summary="A user's public profile")
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_visible(viewer=request_user(request), user_id=user_id)
        return Response(PublicUserSerializer(user, context={"request": request}).data)
