"""Every frame a server sends: the change-feed entries, the answers to a client's frames, typing,
presence, draining, and the error frame with its codes."""

from __future__ import annotations

from chat.frame_schemas.components import (
    EXAMPLE_MESSAGE,
    FrameDoc,
    Schema,
    frame_schema,
    message_key,
    schema_ref,
)
from chat.frame_schemas.entries import ENTRY_FRAMES

ERROR_CODES: list[str] = [
    "bad_request",
    "unknown_type",
    "too_large",
    "forbidden",
    "invalid",
    "rate_limited",
    "overloaded",
    "unavailable",
    "internal",
]


def _entry_payload_ref(kind: str) -> Schema:
    return {"$ref": f"#/components/messages/{message_key('server', kind)}/payload"}


SERVER_FRAMES: list[FrameDoc] = [
    *ENTRY_FRAMES,
    FrameDoc(
        "message.ack",
        frame_schema(
            "message.ack",
            {
                "client_msg_id": schema_ref("ClientMsgId"),
                "message_id": schema_ref("MessageId"),
                "conversation_id": schema_ref("ObjectId"),
            },
        ),
        "To the sending device once its message is stored; a resend gets the same message_id.",
        {
            "type": "message.ack",
            "client_msg_id": EXAMPLE_MESSAGE["client_msg_id"],
            "message_id": EXAMPLE_MESSAGE["id"],
            "conversation_id": 12,
        },
    ),
    FrameDoc(
        "sync.batch",
        frame_schema(
            "sync.batch",
            {
                "entries": {
                    "type": "array",
                    "items": {"oneOf": [_entry_payload_ref(f.kind) for f in ENTRY_FRAMES]},
                    "description": "feed entries in feed_id order",
                },
                "messages": {
                    "type": "array",
                    "items": schema_ref("Message"),
                    "description": "the messages of the message.new entries, for clients that read only them",
                },
                "has_more": {"type": "boolean"},
            },
        ),
        "One page of a catch-up.",
        {
            "type": "sync.batch",
            "entries": [
                {"type": "message.new", "feed_id": EXAMPLE_MESSAGE["id"], "message": EXAMPLE_MESSAGE}
            ],
            "messages": [EXAMPLE_MESSAGE],
            "has_more": False,
        },
    ),
    FrameDoc(
        "sync.done",
        frame_schema("sync.done", {"cur_max_message_id": schema_ref("Cursor")}),
        "The end of a catch-up: sync on from cur_max_message_id.",
        {"type": "sync.done", "cur_max_message_id": "1190403099999999999"},
    ),
    FrameDoc(
        "sync.reset_required",
        frame_schema("sync.reset_required", {"cur_max_message_id": schema_ref("Cursor")}),
        "Further behind than the feed keeps: reload the conversation list, then sync from here.",
        {"type": "sync.reset_required", "cur_max_message_id": "1190403099999999999"},
    ),
    FrameDoc(
        "heartbeat.ack",
        frame_schema("heartbeat.ack"),
        "The answer to a heartbeat.",
        {"type": "heartbeat.ack"},
    ),
    FrameDoc(
        "typing",
        frame_schema(
            "typing", {"conversation_id": schema_ref("ObjectId"), "user_id": schema_ref("ObjectId")}
        ),
        "Another member is typing (not stored).",
        {"type": "typing", "conversation_id": 12, "user_id": 2},
    ),
    FrameDoc(
        "presence",
        frame_schema(
            "presence",
            {
                "user_id": schema_ref("ObjectId"),
                "status": {"type": "string", "enum": ["online", "away", "offline"]},
                "last_active_at": {"oneOf": [schema_ref("Time"), {"type": "null"}]},
            },
        ),
        "A friend who shares their presence changed status (at most once per announce window).",
        {"type": "presence", "user_id": 2, "status": "online", "last_active_at": "2026-11-25T18:00:00Z"},
    ),
    FrameDoc(
        "server.draining",
        frame_schema("server.draining"),
        "The server is draining: reconnect through discovery (it closes the socket with 4503).",
        {"type": "server.draining"},
    ),
    FrameDoc(
        "live.gap",
        frame_schema("live.gap"),
        "Live frames to this socket may have been dropped (the chat server lost its delivery "
        "subscription for a moment): sync now from the cursor; the sync brings what was dropped.",
        {"type": "live.gap"},
    ),
    FrameDoc(
        "error",
        frame_schema(
            "error",
            {
                "code": {"type": "string", "enum": ERROR_CODES},
                "message": {"type": "string"},
                "ref": {"oneOf": [schema_ref("ClientMsgId"), {"type": "null"}]},
                "retry_after_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "rate_limited and overloaded: wait this long, then resend",
                },
            },
            required=["code", "message", "ref"],
        ),
        "A frame was refused; the socket stays open. `ref` is the client_msg_id of a refused send.",
        {"type": "error", "code": "bad_request", "message": "body must not be empty", "ref": "x"},
    ),
]
