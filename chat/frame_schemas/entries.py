"""The change-feed entries: each carries its feed_id and is the same frame live and inside a
sync.batch (message.new, read, delivered, conversation and member changes)."""

from __future__ import annotations

from chat.frame_schemas.components import EXAMPLE_MESSAGE, FrameDoc, entry_schema, schema_ref

_POSITION = {
    "conversation_id": schema_ref("ObjectId"),
    "user_id": schema_ref("ObjectId"),
    "message_id": schema_ref("MessageId"),
}

ENTRY_FRAMES: list[FrameDoc] = [
    FrameDoc(
        "message.new",
        entry_schema("message.new", {"message": schema_ref("Message")}),
        "A new message (feed_id = its ID), to every connected device of every member but the sending one.",
        {"type": "message.new", "feed_id": EXAMPLE_MESSAGE["id"], "message": EXAMPLE_MESSAGE},
    ),
    FrameDoc(
        "message.updated",
        entry_schema("message.updated", {"message": schema_ref("Message")}),
        "A message was edited, or deleted (deleted: true, empty body).",
        {
            "type": "message.updated",
            "feed_id": "1190403099999999999",
            "message": {**EXAMPLE_MESSAGE, "body": "hi @bob!", "edited_at": "2026-11-25T18:01:00Z"},
        },
    ),
    FrameDoc(
        "read",
        entry_schema("read", _POSITION),
        "A member's read marker moved (to the reader's devices and the senders of what it passed).",
        {
            "type": "read",
            "feed_id": "1190403099999999999",
            "conversation_id": 12,
            "user_id": 2,
            "message_id": EXAMPLE_MESSAGE["id"],
        },
    ),
    FrameDoc(
        "delivered",
        entry_schema("delivered", _POSITION),
        "A recipient's delivered position moved (to the senders of the messages delivered).",
        {
            "type": "delivered",
            "feed_id": "1190403099999999999",
            "conversation_id": 12,
            "user_id": 2,
            "message_id": EXAMPLE_MESSAGE["id"],
        },
    ),
    FrameDoc(
        "conversation.created",
        entry_schema("conversation.created", {"conversation": schema_ref("Conversation")}),
        "A conversation the user is a member of was created.",
        {
            "type": "conversation.created",
            "feed_id": "1190403099999999999",
            "conversation": {"id": 12, "type": "direct", "title": "", "member_ids": [1, 2]},
        },
    ),
    FrameDoc(
        "conversation.joined",
        entry_schema("conversation.joined", {"conversation": schema_ref("Conversation")}),
        "The user was added to a group.",
        {
            "type": "conversation.joined",
            "feed_id": "1190403099999999999",
            "conversation": {"id": 13, "type": "group", "title": "trio", "member_ids": [1, 2, 3]},
        },
    ),
    FrameDoc(
        "conversation.updated",
        entry_schema(
            "conversation.updated",
            {
                "conversation_id": schema_ref("ObjectId"),
                "title": {"type": "string", "maxLength": 200},
                "blocked": {
                    "type": "boolean",
                    "description": "a direct conversation whose pair blocked one another",
                },
                "archived": {"type": "boolean", "description": "an operator archived it (no sends)"},
            },
            required=["conversation_id", "title", "blocked"],
        ),
        "A conversation was renamed, archived or restored, or its pair blocked or unblocked one another.",
        {
            "type": "conversation.updated",
            "feed_id": "1190403099999999999",
            "conversation_id": 13,
            "title": "four",
            "blocked": False,
        },
    ),
    FrameDoc(
        "conversation.left",
        entry_schema("conversation.left", {"conversation_id": schema_ref("ObjectId")}),
        "The user left the conversation or was removed from it.",
        {"type": "conversation.left", "feed_id": "1190403099999999999", "conversation_id": 13},
    ),
    FrameDoc(
        "member.added",
        entry_schema(
            "member.added", {"conversation_id": schema_ref("ObjectId"), "user_id": schema_ref("ObjectId")}
        ),
        "Someone was added to a group the user is in.",
        {"type": "member.added", "feed_id": "1190403099999999999", "conversation_id": 13, "user_id": 4},
    ),
    FrameDoc(
        "member.removed",
        entry_schema(
            "member.removed", {"conversation_id": schema_ref("ObjectId"), "user_id": schema_ref("ObjectId")}
        ),
        "Someone left or was removed from a group the user is in.",
        {"type": "member.removed", "feed_id": "1190403099999999999", "conversation_id": 13, "user_id": 4},
    ),
]
