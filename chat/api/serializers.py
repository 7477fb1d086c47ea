"""REST input parsing and output shapes of conversations and messages.

Input serializers turn query strings and bodies into typed values (IDs are accepted as numbers or
decimal strings and must fit 63 bits; anything else is a 400). Output is built by plain functions,
`chat.protocol.message_payload` (the message object of DESIGN.md §3.2) and `conversation_payload`;
the `*Doc` serializers only describe those shapes to drf-spectacular.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.domain.snowflake import MAX_ID
from chat.protocol import message_payload, time_text
from chat.selectors import ConversationSummary
from chat.services import CLIENT_MSG_ID_RE
from chatproject.inputs import InputSerializer
from presence.serializers import PresenceFieldsDoc


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=kwargs.pop("min_value", 1), max_value=MAX_ID, **kwargs)


class ConversationCreateInput(InputSerializer):
    type = serializers.ChoiceField(choices=["direct", "group"])
    user_id = _id_field(required=False, help_text="direct: the other user")
    title = serializers.CharField(required=False, max_length=200, help_text="group: its title")
    member_ids = serializers.ListField(
        child=_id_field(), required=False, max_length=1000, help_text="group: the other members"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "direct" and "user_id" not in attrs:
            raise serializers.ValidationError({"user_id": ["Required for a direct conversation."]})
        if attrs["type"] == "group" and not attrs.get("title", "").strip():
            raise serializers.ValidationError({"title": ["Required for a group."]})
        return attrs


class ConversationUpdateInput(InputSerializer):
    muted = serializers.BooleanField(required=False)
    title = serializers.CharField(required=False, max_length=200)


class ConversationListQuery(InputSerializer):
    before = _id_field(required=False, help_text="continue after this conversation (the last one seen)")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)


class MemberInput(InputSerializer):
    user_id = _id_field()


# a message body: 1 to CHAT_MESSAGE_MAX_LENGTH characters, not only whitespace: at least one
# character that Python's str.strip() keeps (`\S` of JSON Schema's regexes differs on \x1c-\x1f,
# \x85 and \ufeff, so the class spells out exactly what str.isspace() calls whitespace). The
# service checks it (chat.services.messages), so that REST and WebSocket sends give the same
# answers: over the length is 413 too_large, not 400.
NOT_ONLY_WHITESPACE = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.CHAT_MESSAGE_MAX_LENGTH,
        "pattern": NOT_ONLY_WHITESPACE,
        "example": "See you at 8 @bob",
    }
)
class MessageBodyField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # an empty body goes on to the service, whose answer is the WebSocket's; not allow_blank,
        # which drf-spectacular would publish as a second schema that takes ""
        return "" if data == "" else super().run_validation(data)


class MessageCreateInput(InputSerializer):
    client_msg_id = serializers.RegexField(
        CLIENT_MSG_ID_RE.pattern,
        max_length=64,
        help_text="the sending device's id for this message (a UUID, say): resending it is idempotent",
    )
    body = MessageBodyField()


class MessageEditInput(InputSerializer):
    body = MessageBodyField()


class ReadInput(InputSerializer):
    message_id = _id_field(min_value=0, help_text="the newest message read (decimal string)")


class HistoryQuery(InputSerializer):
    before = _id_field(required=False, help_text="older than this message ID")
    after = _id_field(min_value=0, required=False, help_text="newer than this message ID")
    around = _id_field(required=False, help_text="this message and its neighbours")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "around" in attrs and ("before" in attrs or "after" in attrs):
            raise serializers.ValidationError({"around": ["Use around alone, without before or after."]})
        return attrs


class SyncQuery(InputSerializer):
    since = _id_field(min_value=0, default=0, help_text="the device's cur_max_message_id")
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class MentionsQuery(InputSerializer):
    before = _id_field(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)


# --- output


def conversation_payload(
    summary: ConversationSummary, *, presence: Mapping[int, dict[str, object] | None]
) -> dict[str, Any]:
    """`presence`: each member's `{status, last_active_at}` as the viewer may see it (None: not),
    read for the whole response at once (presence.selectors.presence_fields_for_viewer)."""
    conversation, membership = summary.conversation, summary.membership
    return {
        "id": conversation.pk,
        "type": conversation.kind,
        "title": conversation.title,
        "owner_id": conversation.owner_id,
        "created_at": time_text(conversation.created_at),
        "last_activity_at": time_text(conversation.last_activity_at),
        "members": [
            {
                "user_id": m.user_id,
                "username": m.username,
                "display_name": m.display_name,
                "role": m.role,
                "joined_at": time_text(m.joined_at),
                # read ticks after a reload; null for a member who keeps their reads private
                "last_read_message_id": None
                if m.last_read_message_id is None
                else str(m.last_read_message_id),
                # delivered ticks after a reload: the newest message some device of theirs got
                "last_delivered_message_id": str(m.last_delivered_message_id),
                "presence": presence.get(m.user_id),
            }
            for m in summary.members
        ],
        "last_message": message_payload(summary.last_message) if summary.last_message else None,
        "unread_count": summary.unread_count,
        "blocked": summary.blocked,
        "archived": conversation.archived_at is not None,
        "last_read_message_id": str(membership.last_read_message_id),
        "muted": membership.muted,
    }


class MessageDoc(serializers.Serializer):
    id = serializers.CharField(help_text="Snowflake, as a decimal string")
    conversation_id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    body = serializers.CharField(help_text="empty when deleted")
    created_at = serializers.DateTimeField()
    client_msg_id = serializers.CharField()
    mentions = serializers.ListField(child=serializers.IntegerField())
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()


class MemberDoc(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "admin", "member"])
    joined_at = serializers.DateTimeField()
    last_read_message_id = serializers.CharField(
        allow_null=True,
        help_text="the member's read marker (a message ID); null when their receipts or mine are off",
    )
    last_delivered_message_id = serializers.CharField(
        help_text="the newest message a device of the member acknowledged (read implies delivered)"
    )
    presence = PresenceFieldsDoc(
        allow_null=True, help_text="null unless I may see it (a friend who shares it, or myself)"
    )


class ConversationDoc(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=["direct", "group"])
    title = serializers.CharField()
    owner_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    members = MemberDoc(many=True)
    last_message = MessageDoc(allow_null=True)
    unread_count = serializers.IntegerField()
    blocked = serializers.BooleanField(
        help_text="a direct conversation whose pair blocked one another: no sends"
    )
    archived = serializers.BooleanField(help_text="archived by an operator: history only, no sends")
    last_read_message_id = serializers.CharField()
    muted = serializers.BooleanField()


class ConversationPageDoc(serializers.Serializer):
    conversations = ConversationDoc(many=True)
    has_more = serializers.BooleanField()


class MessagePageDoc(serializers.Serializer):
    messages = MessageDoc(many=True)
    has_more = serializers.BooleanField()
    has_more_before = serializers.BooleanField(required=False, help_text="around only")
    has_more_after = serializers.BooleanField(required=False, help_text="around only")


class FeedEntryDoc(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[
            "message.new",
            "message.updated",
            "read",
            "delivered",
            "conversation.created",
            "conversation.joined",
            "conversation.updated",
            "conversation.left",
            "member.added",
            "member.removed",
        ]
    )
    feed_id = serializers.CharField(help_text="the entry's Snowflake: entries are in this order")


class SyncPageDoc(serializers.Serializer):
    entries = FeedEntryDoc(
        many=True,
        help_text="every feed entry, in order; the other fields of each are those of its WebSocket frame",
    )
    messages = MessageDoc(many=True, help_text="the messages of the message.new entries")
    has_more = serializers.BooleanField()
    cur_max_message_id = serializers.CharField()
    reset_required = serializers.BooleanField(
        help_text="since is older than the feed keeps: reload the conversation list, then sync on "
        "from cur_max_message_id"
    )


class ReadDoc(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    last_read_message_id = serializers.CharField()
