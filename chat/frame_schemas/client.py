"""The frames a client sends: message.send, sync, heartbeat, typing, read, delivered."""

from __future__ import annotations

from django.conf import settings

from chat import protocol
from chat.api.serializers import NOT_ONLY_WHITESPACE
from chat.frame_schemas.components import EXAMPLE_MESSAGE, FrameDoc, frame_schema, schema_ref

CLIENT_FRAMES: list[FrameDoc] = [
    FrameDoc(
        "message.send",
        frame_schema(
            "message.send",
            {
                "conversation_id": schema_ref("ClientObjectId"),
                "client_msg_id": schema_ref("ClientMsgId"),
                "body": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": settings.CHAT_MESSAGE_MAX_LENGTH,
                    "pattern": NOT_ONLY_WHITESPACE,
                    "description": "1 to CHAT_MESSAGE_MAX_LENGTH characters, not only whitespace",
                },
            },
        ),
        "Send a message. Answered by message.ack once stored (or an error with ref = client_msg_id).",
        {
            "type": "message.send",
            "conversation_id": 12,
            "client_msg_id": EXAMPLE_MESSAGE["client_msg_id"],
            "body": "hi @bob",
        },
    ),
    FrameDoc(
        "sync",
        frame_schema(
            "sync",
            {
                "since": {
                    "oneOf": [
                        {"type": "integer", "minimum": 0, "maximum": protocol.MAX_ID},
                        {"type": "string", "pattern": r"^[0-9]{1,19}$"},
                    ],
                    "description": "the largest feed_id the device has seen; 0 (default): a new device",
                }
            },
            required=[],
        ),
        "Catch up on the change feed after `since`: sync.batch frames, then sync.done or "
        "sync.reset_required.",
        {"type": "sync", "since": "1190403012575232000"},
    ),
    FrameDoc(
        "heartbeat",
        frame_schema(
            "heartbeat",
            {"idle": {"type": "boolean", "description": "the user is idle on this device (away)"}},
            required=[],
        ),
        "Keep the socket and presence alive (every 10 s); answered by heartbeat.ack.",
        {"type": "heartbeat"},
    ),
    FrameDoc(
        "typing",
        frame_schema("typing", {"conversation_id": schema_ref("ClientObjectId")}),
        "The user is typing; the other members' devices get a typing frame.",
        {"type": "typing", "conversation_id": 12},
    ),
    FrameDoc(
        "read",
        frame_schema(
            "read",
            {"conversation_id": schema_ref("ClientObjectId"), "message_id": schema_ref("ClientObjectId")},
        ),
        "Move the read marker forward; the reader's devices and the senders get a read entry.",
        {"type": "read", "conversation_id": 12, "message_id": "1190403012575232000"},
    ),
    FrameDoc(
        "delivered",
        frame_schema(
            "delivered",
            {
                "message_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": protocol.DELIVERED_MAX_IDS,
                    "items": schema_ref("ClientObjectId"),
                }
            },
        ),
        "The device received these messages (live or by sync); their senders get delivered entries.",
        {"type": "delivered", "message_ids": ["1190403012575232000"]},
    ),
]
