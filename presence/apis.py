"""REST of presence: `GET /api/v1/presence?user_ids=1,2,3`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.inputs import InputSerializer
from presence.selectors import presence_for_viewer
from presence.serializers import PresenceFieldsDoc, presence_fields

MAX_USERS = 200


class PresenceQuery(InputSerializer):
    user_ids = serializers.RegexField(
        r"^[0-9]{1,19}(,[0-9]{1,19}){0,199}$", help_text="Comma-separated user ids (at most 200)."
    )


class PresenceDoc(PresenceFieldsDoc):
    user_id = serializers.IntegerField()


class PresenceApi(APIView):
    @extend_schema(
        tags=["presence"],
        parameters=[PresenceQuery],
        responses={200: PresenceDoc(many=True)},
        summary="Presence of the users I may see (friends who share it); others are left out",
    )
    def get(self, request: Request) -> Response:
        query = PresenceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = [int(i) for i in query.validated_data["user_ids"].split(",")][:MAX_USERS]
        viewer = request.user.pk
        assert viewer is not None  # IsAuthenticated
        states = presence_for_viewer(viewer_id=int(viewer), user_ids=ids)
        return Response([{"user_id": state.user_id, **presence_fields(state)} for state in states])
