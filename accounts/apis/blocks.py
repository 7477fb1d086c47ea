"""REST endpoints of blocks: the users I blocked, blocking and unblocking."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.apis.base import Pagination, request_user
from accounts.models import Block
from accounts.serializers import BlockSerializer


class BlockListApi(generics.ListAPIView[Block]):
    serializer_class = BlockSerializer
    pagination_class = Pagination

    @extend_schema(tags=["blocks"], summary="Users I blocked, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Block]:
        return selectors.block_list(user=request_user(self.request))


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
        block, created = services.block_create(blocker=request_user(request), blocked_id=user_id)
        return Response(
            BlockSerializer(block, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(tags=["blocks"], responses={204: None}, summary="Unblock a user")
    def delete(self, request: Request, user_id: int) -> Response:
        services.block_remove(blocker=request_user(request), blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
