"""What every frame schema is built from: the shared schemas of the document's
`components/schemas` (IDs, cursors, times, the message object), the shape of a frame and of a
change-feed entry, `FrameDoc`, and the example message the frames' examples share.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chat import protocol

Schema = dict[str, Any]


def schema_ref(name: str) -> Schema:
    """A reference to one of `SCHEMAS`."""
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Schema] = {
    "MessageId": {
        "type": "string",
        "pattern": r"^[1-9][0-9]{0,18}$",
        "description": "A message ID (a 63-bit Snowflake) as a decimal string: a JavaScript number "
        "cannot hold it.",
        "examples": ["1190403012575232000"],
    },
    "Cursor": {
        "type": "string",
        "pattern": r"^(0|[1-9][0-9]{0,18})$",
        "description": "A position in the user's change feed (a feed_id or message ID), decimal; "
        "0 before anything.",
    },
    "FeedId": {
        "type": "string",
        "pattern": r"^[1-9][0-9]{0,18}$",
        "description": "The Snowflake of a change-feed entry, decimal; a new message's feed_id is its ID.",
    },
    "ObjectId": {
        "type": "integer",
        "minimum": 1,
        "maximum": protocol.MAX_ID,
        "description": "A conversation or user ID: a JSON number (clients treat it as opaque).",
    },
    "ClientObjectId": {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": protocol.MAX_ID},
            {"type": "string", "pattern": r"^[0-9]{1,19}$"},
        ],
        "description": "A conversation or message ID sent by a client: a number or a decimal string "
        "(1 to 2^63-1).",
    },
    "ClientMsgId": {
        "type": "string",
        "pattern": protocol.CLIENT_MSG_ID_PATTERN,
        "description": "The sending device's own ID for a message (a UUID fits): resending it is idempotent.",
    },
    "Time": {
        "type": "string",
        "format": "date-time",
        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$",
        "description": "ISO 8601 in UTC with a Z.",
    },
    "Message": {
        "type": "object",
        "description": "The message object M; a deleted message has `deleted: true` and an empty body.",
        "required": [
            "id",
            "conversation_id",
            "sender_id",
            "body",
            "created_at",
            "client_msg_id",
            "mentions",
            "edited_at",
            "deleted",
        ],
        "properties": {
            "id": schema_ref("MessageId"),
            "conversation_id": schema_ref("ObjectId"),
            "sender_id": schema_ref("ObjectId"),
            "body": {"type": "string", "maxLength": settings.CHAT_MESSAGE_MAX_LENGTH},
            "created_at": schema_ref("Time"),
            "client_msg_id": schema_ref("ClientMsgId"),
            "mentions": {
                "type": "array",
                "items": schema_ref("ObjectId"),
                "description": "user IDs mentioned",
            },
            "edited_at": {"oneOf": [schema_ref("Time"), {"type": "null"}]},
            "deleted": {"type": "boolean"},
        },
    },
    "Conversation": {
        "type": "object",
        "description": "The conversation of a conversation.created / conversation.joined entry.",
        "required": ["id", "type", "title", "member_ids"],
        "properties": {
            "id": schema_ref("ObjectId"),
            "type": {"type": "string", "enum": ["direct", "group"]},
            "title": {"type": "string", "maxLength": 200},
            "member_ids": {"type": "array", "items": schema_ref("ObjectId")},
        },
    },
}


def frame_schema(kind: str, properties: Schema | None = None, required: list[str] | None = None) -> Schema:
    """A frame of type `kind`: `required` lists the properties it must carry (default: all)."""
    return {
        "type": "object",
        "required": ["type", *(required if required is not None else list(properties or {}))],
        "properties": {"type": {"type": "string", "const": kind}, **(properties or {})},
    }


def entry_schema(kind: str, properties: Schema, required: list[str] | None = None) -> Schema:
    """A change-feed entry: the same frame live and inside a sync.batch."""
    return frame_schema(
        kind,
        {"feed_id": schema_ref("FeedId"), **properties},
        ["feed_id", *(required if required is not None else list(properties))],
    )


def message_key(direction: str, kind: str) -> str:
    """The document's key of a frame type: `client.read` and `server.read` differ."""
    return f"{direction}.{kind}"


class FrameDoc:
    """One frame type of one direction: its payload schema, what it is, an example."""

    def __init__(self, kind: str, schema: Schema, summary: str, example: dict[str, Any]) -> None:
        self.kind = kind
        self.schema = schema
        self.summary = summary
        self.example = example


EXAMPLE_MESSAGE = {
    "id": "1190403012575232000",
    "conversation_id": 12,
    "sender_id": 1,
    "body": "hi @bob",
    "created_at": "2026-11-25T18:00:00.123Z",
    "client_msg_id": "9b1d6c1e-5f7a-4a51-9a3e-0c2f9d6c1e5f",
    "mentions": [2],
    "edited_at": None,
    "deleted": False,
}
