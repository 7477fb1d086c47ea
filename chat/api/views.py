"""REST endpoints of conversations and messages (DESIGN.md §3.1): parse, call one service or
selector, shape the output. Authentication is DRF's configured default; errors leave as the one
error body of chatproject.errors.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from accounts.models import User
from accounts.selectors import device_id_for_request
from accounts.serializers import ChatServerSerializer
from chat import selectors, services
from chat.api.sending import queue_message_send_and_wait
from chat.api.serializers import (
    ConversationCreateInput,
    ConversationDoc,
    ConversationListQuery,
    ConversationPageDoc,
    ConversationUpdateInput,
    HistoryQuery,
    MemberInput,
    MentionsQuery,
    MessageCreateInput,
    MessageDoc,
    MessageEditInput,
    MessagePageDoc,
    ReadDoc,
    ReadInput,
    SyncPageDoc,
    SyncQuery,
    conversation_payload,
    message_payload,
)
from chat.discovery import chat_server_assign
from chat.domain.records import AroundPage
from chat.protocol import feed_entry_frame
from chat.services import receipts
from chatproject.errors import ERROR_SCHEMA
from chatproject.inputs import InputSerializer
from presence.selectors import presence_fields_for_viewer

TAGS = ["conversations"]
NOT_A_GROUP = {
    409: OpenApiResponse(
        ERROR_SCHEMA, description="A direct conversation has no title and fixed members (`not_a_group`)."
    )
}
MEMBERS_CONFLICT = {
    409: OpenApiResponse(
        ERROR_SCHEMA,
        description="The group has reached its member limit (`group_full`), or the conversation is "
        "direct, with fixed members (`not_a_group`).",
    )
}


def _me(request: Request) -> User:
    """The authenticated user (IsAuthenticated, the default permission, has let only users in)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _conversation(request: Request, conversation_id: int) -> dict[str, Any]:
    summary = selectors.conversation_get_for_user(user_id=_me(request).id, conversation_id=conversation_id)
    return _conversation_payloads(request, [summary])[0]


def _conversation_payloads(
    request: Request, summaries: list[selectors.ConversationSummary]
) -> list[dict[str, Any]]:
    """The conversations' REST shape, with the presence of all their members read at once."""
    member_ids = (m.user_id for summary in summaries for m in summary.members)
    presence = presence_fields_for_viewer(viewer_id=_me(request).id, user_ids=member_ids)
    return [conversation_payload(summary, presence=presence) for summary in summaries]


class ConversationListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[ConversationListQuery],
        responses={200: ConversationPageDoc},
        summary="My conversations, most recently active first, with unread counts and last messages",
    )
    def get(self, request: Request) -> Response:
        query = _parse(ConversationListQuery, request.query_params)
        page, has_more = selectors.conversation_list_for_user(
            user_id=_me(request).id, limit=query["limit"], before=query.get("before")
        )
        return Response({"conversations": _conversation_payloads(request, page), "has_more": has_more})

    @extend_schema(
        tags=TAGS,
        request=ConversationCreateInput,
        responses={200: ConversationDoc, 201: ConversationDoc, **MEMBERS_CONFLICT},
        summary="Open a direct conversation (200 if it exists) or create a group (201)",
    )
    def post(self, request: Request) -> Response:
        data = _parse(ConversationCreateInput, request.data)
        if data["type"] == "direct":
            conversation, created = services.conversation_direct_open(
                user=_me(request), other_id=data["user_id"]
            )
        else:
            conversation = services.conversation_group_create(
                owner=_me(request), title=data["title"], member_ids=data.get("member_ids", [])
            )
            created = True
        return Response(
            _conversation(request, conversation.pk),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConversationDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: ConversationDoc}, summary="One of my conversations")
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(_conversation(request, conversation_id))

    @extend_schema(
        tags=TAGS,
        request=ConversationUpdateInput,
        responses={200: ConversationDoc, **NOT_A_GROUP},
        summary="Mute or unmute it for me; rename a group (owner and admins)",
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        data = _parse(ConversationUpdateInput, request.data)
        services.conversation_update(user_id=_me(request).id, conversation_id=conversation_id, **data)
        return Response(_conversation(request, conversation_id))


class ConversationMembersApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=MemberInput,
        responses={200: ConversationDoc, 201: ConversationDoc, **MEMBERS_CONFLICT},
        summary="Add a member to a group (200 if already a member)",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = _parse(MemberInput, request.data)
        _, created = services.conversation_member_add(
            actor_id=_me(request).id, conversation_id=conversation_id, user_id=data["user_id"]
        )
        return Response(
            _conversation(request, conversation_id),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        tags=TAGS,
        parameters=[MemberInput],
        request=None,
        responses={204: None, **NOT_A_GROUP},
        summary="Leave a group (my own user_id) or remove a member (owner and admins); "
        "user_id in the query (or, for clients that send DELETE bodies, in a JSON body)",
    )
    def delete(self, request: Request, conversation_id: int) -> Response:
        data = _parse(MemberInput, request.data or request.query_params)
        services.conversation_member_remove(
            actor_id=_me(request).id, conversation_id=conversation_id, user_id=data["user_id"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[HistoryQuery],
        responses={200: MessagePageDoc},
        summary="History page, newest first: before (older), after (newer), or around (jump to a message)",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        query = _parse(HistoryQuery, request.query_params)
        page = selectors.message_history(user_id=_me(request).id, conversation_id=conversation_id, **query)
        body: dict[str, Any] = {"messages": [message_payload(m) for m in page.messages]}
        if isinstance(page, AroundPage):
            body["has_more"] = page.has_more_before or page.has_more_after
            body["has_more_before"] = page.has_more_before
            body["has_more_after"] = page.has_more_after
        else:
            body["has_more"] = page.has_more
        return Response(body)

    @extend_schema(
        tags=TAGS,
        request=MessageCreateInput,
        responses={
            200: MessageDoc,
            201: MessageDoc,
            409: OpenApiResponse(
                ERROR_SCHEMA,
                description="The client_msg_id was used for a message in another conversation "
                "(`client_msg_id_reused`).",
            ),
            503: OpenApiResponse(
                ERROR_SCHEMA,
                description="Not stored in time (`store_timeout`), not queued (`unavailable`) or the "
                "service is overloaded (`overloaded`): send again with the same client_msg_id.",
            ),
        },
        summary="Send a message (201); resending a client_msg_id returns the stored message (200)",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = _parse(MessageCreateInput, request.data)
        payload, duplicate = queue_message_send_and_wait(
            sender_id=_me(request).id, conversation_id=conversation_id, **data
        )
        return Response(payload, status=status.HTTP_200_OK if duplicate else status.HTTP_201_CREATED)


class MessageChangeThrottle(UserRateThrottle):
    """Edits and deletes each have a budget per user, besides the general one of every request
    (API_THROTTLE_MESSAGE_EDIT, API_THROTTLE_MESSAGE_DELETE)."""

    SCOPES = {"PATCH": "message_edit", "DELETE": "message_delete"}

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = self.SCOPES.get(request.method or "")
        if scope is None:
            return True
        self.scope = scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class MessageDetailApi(APIView):
    throttle_classes = [*APIView.throttle_classes, MessageChangeThrottle]

    @extend_schema(
        tags=TAGS,
        request=MessageEditInput,
        responses={
            200: MessageDoc,
            409: OpenApiResponse(ERROR_SCHEMA, description="The message was deleted (`message_deleted`)."),
        },
        summary="Edit my message",
    )
    def patch(self, request: Request, conversation_id: int, message_id: int) -> Response:
        data = _parse(MessageEditInput, request.data)
        message = services.message_edit(
            editor_id=_me(request).id,
            conversation_id=conversation_id,
            message_id=message_id,
            body=data["body"],
        )
        return Response(message_payload(message))

    @extend_schema(
        tags=TAGS, responses={200: MessageDoc}, summary="Delete my message (it stays as a tombstone)"
    )
    def delete(self, request: Request, conversation_id: int, message_id: int) -> Response:
        message = services.message_delete(
            actor_id=_me(request).id, conversation_id=conversation_id, message_id=message_id
        )
        return Response(message_payload(message))


class ConversationReadApi(APIView):
    @extend_schema(tags=TAGS, request=ReadInput, responses={200: ReadDoc}, summary="Move my read marker")
    def post(self, request: Request, conversation_id: int) -> Response:
        data = _parse(ReadInput, request.data)
        marker = receipts.conversation_mark_read(
            user_id=_me(request).id, conversation_id=conversation_id, message_id=data["message_id"]
        )
        return Response({"conversation_id": conversation_id, "last_read_message_id": str(marker)})


class SyncApi(APIView):
    @extend_schema(
        tags=["sync"],
        parameters=[SyncQuery],
        responses={200: SyncPageDoc},
        summary="My change feed after since, oldest first (multi-device sync): new, edited and deleted "
        "messages, read and delivered positions, membership, renames; pass cur_max_message_id back as "
        "since; it looks back a few seconds, so applying an entry twice must change nothing",
    )
    def get(self, request: Request) -> Response:
        query = _parse(SyncQuery, request.query_params)
        page, next_since = selectors.catch_up_page(
            user_id=_me(request).id, since=query["since"], limit=query["limit"]
        )
        return Response(
            {
                "entries": [feed_entry_frame(e) for e in page.entries],
                "messages": [message_payload(m) for m in page.messages],
                "has_more": page.has_more,
                "cur_max_message_id": str(next_since),
                "reset_required": page.reset_required,
            }
        )


class MentionsApi(APIView):
    @extend_schema(
        tags=["sync"],
        parameters=[MentionsQuery],
        responses={200: MessagePageDoc},
        summary="Messages that mention me, newest first",
    )
    def get(self, request: Request) -> Response:
        query = _parse(MentionsQuery, request.query_params)
        page = selectors.mention_list(
            user_id=_me(request).id, before=query.get("before"), limit=query["limit"]
        )
        return Response({"messages": [message_payload(m) for m in page.messages], "has_more": page.has_more})


class ChatServerQuery(InputSerializer):
    region = serializers.CharField(required=False, max_length=64, help_text="The client's region, if known.")


class ChatAssignmentDoc(serializers.Serializer[Any]):
    chat_server = ChatServerSerializer()
    ticket = serializers.CharField(help_text="Single-use connect ticket.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")
    heartbeat_interval = serializers.IntegerField(help_text="Seconds between the client's heartbeats.")


class ChatServerApi(APIView):
    @extend_schema(
        tags=["chat servers"],
        parameters=[ChatServerQuery],
        responses={
            200: ChatAssignmentDoc,
            503: OpenApiResponse(ERROR_SCHEMA, description="No chat server is live (no_chat_server)."),
        },
        summary="Service discovery: the chat server to connect to, and a fresh connect ticket",
    )
    def get(self, request: Request) -> Response:
        query = _parse(ChatServerQuery, request.query_params)
        assignment = chat_server_assign(
            user_id=_me(request).id, device_id=device_id_for_request(request), region=query.get("region")
        )
        return Response(assignment.as_dict())
