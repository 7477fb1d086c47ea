"""The WebSocket protocol as data: a JSON Schema for every frame, client → server and server →
client, and the AsyncAPI 3.0 document built from them (`docs/asyncapi.yaml`, written by
`manage.py asyncapi`, `make asyncapi`).

The limits come from where the code enforces them (`chat.protocol`, the settings, the REST body
pattern), and the tests pin both directions: the committed document equals the generated one,
every frame `chat.protocol` parses or builds validates against its schema, every client frame type
here is one `frame_parse` knows, and every frame the test suite sends or receives is checked
against the document (tests/frames.py). Prose and rationale stay in docs/protocol.md.

Payload schemas use only JSON Schema draft-07 keywords (AsyncAPI's default schema format). They
leave `additionalProperties` open: a server of the same protocol version may add a field to a
frame, and clients ignore fields (and frame types) they do not know. The tests validate strictly,
so the code cannot send a field this module does not describe.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chat import protocol
from chat.api.serializers import NOT_ONLY_WHITESPACE

Schema = dict[str, Any]

ASYNCAPI_PATH = "docs/asyncapi.yaml"

# ---------------------------------------------------------------- field schemas


def _ref(name: str) -> Schema:
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
            "id": _ref("MessageId"),
            "conversation_id": _ref("ObjectId"),
            "sender_id": _ref("ObjectId"),
            "body": {"type": "string", "maxLength": settings.CHAT_MESSAGE_MAX_LENGTH},
            "created_at": _ref("Time"),
            "client_msg_id": _ref("ClientMsgId"),
            "mentions": {"type": "array", "items": _ref("ObjectId"), "description": "user IDs mentioned"},
            "edited_at": {"oneOf": [_ref("Time"), {"type": "null"}]},
            "deleted": {"type": "boolean"},
        },
    },
    "Conversation": {
        "type": "object",
        "description": "The conversation of a conversation.created / conversation.joined entry.",
        "required": ["id", "type", "title", "member_ids"],
        "properties": {
            "id": _ref("ObjectId"),
            "type": {"type": "string", "enum": ["direct", "group"]},
            "title": {"type": "string", "maxLength": 200},
            "member_ids": {"type": "array", "items": _ref("ObjectId")},
        },
    },
}


def _frame(kind: str, properties: Schema | None = None, required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "required": ["type", *(required if required is not None else list(properties or {}))],
        "properties": {"type": {"type": "string", "const": kind}, **(properties or {})},
    }


def _entry(kind: str, properties: Schema, required: list[str] | None = None) -> Schema:
    """A change-feed entry: the same frame live and inside a sync.batch."""
    return _frame(
        kind,
        {"feed_id": _ref("FeedId"), **properties},
        ["feed_id", *(required if required is not None else list(properties))],
    )


_POSITION = {
    "conversation_id": _ref("ObjectId"),
    "user_id": _ref("ObjectId"),
    "message_id": _ref("MessageId"),
}

# ---------------------------------------------------------------- frames


def _message_key(direction: str, kind: str) -> str:
    """The document's key of a frame type: `client.read` and `server.read` differ."""
    return f"{direction}.{kind}"


class FrameDoc:
    """One frame type of one direction: its payload schema, what it is, an example."""

    def __init__(self, kind: str, schema: Schema, summary: str, example: dict[str, Any]) -> None:
        self.kind = kind
        self.schema = schema
        self.summary = summary
        self.example = example


_M = {
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

CLIENT_FRAMES: list[FrameDoc] = [
    FrameDoc(
        "message.send",
        _frame(
            "message.send",
            {
                "conversation_id": _ref("ClientObjectId"),
                "client_msg_id": _ref("ClientMsgId"),
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
            "client_msg_id": _M["client_msg_id"],
            "body": "hi @bob",
        },
    ),
    FrameDoc(
        "sync",
        _frame(
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
        _frame(
            "heartbeat",
            {"idle": {"type": "boolean", "description": "the user is idle on this device (away)"}},
            required=[],
        ),
        "Keep the socket and presence alive (every 10 s); answered by heartbeat.ack.",
        {"type": "heartbeat"},
    ),
    FrameDoc(
        "typing",
        _frame("typing", {"conversation_id": _ref("ClientObjectId")}),
        "The user is typing; the other members' devices get a typing frame.",
        {"type": "typing", "conversation_id": 12},
    ),
    FrameDoc(
        "read",
        _frame("read", {"conversation_id": _ref("ClientObjectId"), "message_id": _ref("ClientObjectId")}),
        "Move the read marker forward; the reader's devices and the senders get a read entry.",
        {"type": "read", "conversation_id": 12, "message_id": "1190403012575232000"},
    ),
    FrameDoc(
        "delivered",
        _frame(
            "delivered",
            {
                "message_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": protocol.DELIVERED_MAX_IDS,
                    "items": _ref("ClientObjectId"),
                }
            },
        ),
        "The device received these messages (live or by sync); their senders get delivered entries.",
        {"type": "delivered", "message_ids": ["1190403012575232000"]},
    ),
]

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

ENTRY_FRAMES: list[FrameDoc] = [
    FrameDoc(
        "message.new",
        _entry("message.new", {"message": _ref("Message")}),
        "A new message (feed_id = its ID), to every connected device of every member but the sending one.",
        {"type": "message.new", "feed_id": _M["id"], "message": _M},
    ),
    FrameDoc(
        "message.updated",
        _entry("message.updated", {"message": _ref("Message")}),
        "A message was edited, or deleted (deleted: true, empty body).",
        {
            "type": "message.updated",
            "feed_id": "1190403099999999999",
            "message": {**_M, "body": "hi @bob!", "edited_at": "2026-11-25T18:01:00Z"},
        },
    ),
    FrameDoc(
        "read",
        _entry("read", _POSITION),
        "A member's read marker moved (to the reader's devices and the senders of what it passed).",
        {
            "type": "read",
            "feed_id": "1190403099999999999",
            "conversation_id": 12,
            "user_id": 2,
            "message_id": _M["id"],
        },
    ),
    FrameDoc(
        "delivered",
        _entry("delivered", _POSITION),
        "A recipient's delivered position moved (to the senders of the messages delivered).",
        {
            "type": "delivered",
            "feed_id": "1190403099999999999",
            "conversation_id": 12,
            "user_id": 2,
            "message_id": _M["id"],
        },
    ),
    FrameDoc(
        "conversation.created",
        _entry("conversation.created", {"conversation": _ref("Conversation")}),
        "A conversation the user is a member of was created.",
        {
            "type": "conversation.created",
            "feed_id": "1190403099999999999",
            "conversation": {"id": 12, "type": "direct", "title": "", "member_ids": [1, 2]},
        },
    ),
    FrameDoc(
        "conversation.joined",
        _entry("conversation.joined", {"conversation": _ref("Conversation")}),
        "The user was added to a group.",
        {
            "type": "conversation.joined",
            "feed_id": "1190403099999999999",
            "conversation": {"id": 13, "type": "group", "title": "trio", "member_ids": [1, 2, 3]},
        },
    ),
    FrameDoc(
        "conversation.updated",
        _entry(
            "conversation.updated",
            {
                "conversation_id": _ref("ObjectId"),
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
        _entry("conversation.left", {"conversation_id": _ref("ObjectId")}),
        "The user left the conversation or was removed from it.",
        {"type": "conversation.left", "feed_id": "1190403099999999999", "conversation_id": 13},
    ),
    FrameDoc(
        "member.added",
        _entry("member.added", {"conversation_id": _ref("ObjectId"), "user_id": _ref("ObjectId")}),
        "Someone was added to a group the user is in.",
        {"type": "member.added", "feed_id": "1190403099999999999", "conversation_id": 13, "user_id": 4},
    ),
    FrameDoc(
        "member.removed",
        _entry("member.removed", {"conversation_id": _ref("ObjectId"), "user_id": _ref("ObjectId")}),
        "Someone left or was removed from a group the user is in.",
        {"type": "member.removed", "feed_id": "1190403099999999999", "conversation_id": 13, "user_id": 4},
    ),
]


def _entry_ref(kind: str) -> Schema:
    return {"$ref": f"#/components/messages/{_message_key('server', kind)}/payload"}


SERVER_FRAMES: list[FrameDoc] = [
    *ENTRY_FRAMES,
    FrameDoc(
        "message.ack",
        _frame(
            "message.ack",
            {
                "client_msg_id": _ref("ClientMsgId"),
                "message_id": _ref("MessageId"),
                "conversation_id": _ref("ObjectId"),
            },
        ),
        "To the sending device once its message is stored; a resend gets the same message_id.",
        {
            "type": "message.ack",
            "client_msg_id": _M["client_msg_id"],
            "message_id": _M["id"],
            "conversation_id": 12,
        },
    ),
    FrameDoc(
        "sync.batch",
        _frame(
            "sync.batch",
            {
                "entries": {
                    "type": "array",
                    "items": {"oneOf": [_entry_ref(f.kind) for f in ENTRY_FRAMES]},
                    "description": "feed entries in feed_id order",
                },
                "messages": {
                    "type": "array",
                    "items": _ref("Message"),
                    "description": "the messages of the message.new entries, for clients that read only them",
                },
                "has_more": {"type": "boolean"},
            },
        ),
        "One page of a catch-up.",
        {
            "type": "sync.batch",
            "entries": [{"type": "message.new", "feed_id": _M["id"], "message": _M}],
            "messages": [_M],
            "has_more": False,
        },
    ),
    FrameDoc(
        "sync.done",
        _frame("sync.done", {"cur_max_message_id": _ref("Cursor")}),
        "The end of a catch-up: sync on from cur_max_message_id.",
        {"type": "sync.done", "cur_max_message_id": "1190403099999999999"},
    ),
    FrameDoc(
        "sync.reset_required",
        _frame("sync.reset_required", {"cur_max_message_id": _ref("Cursor")}),
        "Further behind than the feed keeps: reload the conversation list, then sync from here.",
        {"type": "sync.reset_required", "cur_max_message_id": "1190403099999999999"},
    ),
    FrameDoc(
        "heartbeat.ack",
        _frame("heartbeat.ack"),
        "The answer to a heartbeat.",
        {"type": "heartbeat.ack"},
    ),
    FrameDoc(
        "typing",
        _frame("typing", {"conversation_id": _ref("ObjectId"), "user_id": _ref("ObjectId")}),
        "Another member is typing (not stored).",
        {"type": "typing", "conversation_id": 12, "user_id": 2},
    ),
    FrameDoc(
        "presence",
        _frame(
            "presence",
            {
                "user_id": _ref("ObjectId"),
                "status": {"type": "string", "enum": ["online", "away", "offline"]},
                "last_active_at": {"oneOf": [_ref("Time"), {"type": "null"}]},
            },
        ),
        "A friend who shares their presence changed status (at most once per announce window).",
        {"type": "presence", "user_id": 2, "status": "online", "last_active_at": "2026-11-25T18:00:00Z"},
    ),
    FrameDoc(
        "server.draining",
        _frame("server.draining"),
        "The server is draining: reconnect through discovery (it closes the socket with 4503).",
        {"type": "server.draining"},
    ),
    FrameDoc(
        "error",
        _frame(
            "error",
            {
                "code": {"type": "string", "enum": ERROR_CODES},
                "message": {"type": "string"},
                "ref": {"oneOf": [_ref("ClientMsgId"), {"type": "null"}]},
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

# ---------------------------------------------------------------- close codes

CLOSE_CODES: dict[int, tuple[str, str]] = {  # code: (meaning, what the client does)
    protocol.CLOSE_BAD_TICKET: (
        "No ticket and no session, or the ticket is unknown, expired or reused; or the device's login ended.",
        "Get a new ticket (GET chat/server); if that is refused, log in again.",
    ),
    protocol.CLOSE_TOO_MANY_SOCKETS: (
        "The user opened more than CHAT_SOCKETS_PER_USER sockets over all chat servers: this, "
        "the oldest, was closed.",
        "Reconnect only if this device still needs a socket.",
    ),
    protocol.CLOSE_TOO_SLOW: (
        "Too slow: the client stopped reading, and more than CHAT_SEND_BACKLOG_MAX bytes of frames "
        "waited unsent for it; the close frame follows them.",
        "Reconnect through discovery, sync, resend the outbox.",
    ),
    protocol.CLOSE_DRAINING: (
        "The chat server is draining (after server.draining).",
        "Ask discovery again, reconnect, sync, resend the outbox.",
    ),
    protocol.CLOSE_UNSUPPORTED_VERSION: (
        "The protocol version asked for in `v` is not one this server speaks.",
        "Upgrade the client; do not retry with the same version.",
    ),
}


def close_code_constants() -> dict[str, int]:
    """Every `CLOSE_*` constant of chat.protocol: the close codes the server uses."""
    return {name: value for name, value in vars(protocol).items() if name.startswith("CLOSE_")}


# ---------------------------------------------------------------- the document


def _message(direction: str, frame: FrameDoc) -> Schema:
    arrow = "client → server" if direction == "client" else "server → client"
    return {
        "name": frame.kind,
        "title": f"{frame.kind} ({arrow})",
        "summary": frame.summary,
        "contentType": "application/json",
        "payload": frame.schema,
        "examples": [{"name": frame.kind, "payload": frame.example}],
    }


_REPLIES = {  # client frames with a direct answer to the sending socket
    "message.send": ["message.ack", "error"],
    "sync": ["sync.batch", "sync.done", "sync.reset_required", "error"],
    "heartbeat": ["heartbeat.ack", "error"],
}

DESCRIPTION = """\
The WebSocket protocol between clients and chat servers (DESIGN.md §3.2; the prose, with the
change feed, receipts, presence and budgets, is docs/protocol.md). Written from the client's
side: `send` operations are frames the client sends, `receive` operations frames it receives.

Connecting: log in (`POST /api/v1/auth/login`) or ask `GET /api/v1/chat/server`; both answer
`chat_server.url` and a single-use `ticket`. Open `<url>?ticket=<ticket>&v=1`. A browser on
the same site may connect without a ticket (its session cookie).

Every frame is one JSON text message, an object with a string `type`, at most
CHAT_MAX_FRAME_BYTES bytes. Message IDs are decimal strings; conversation and user IDs are
numbers (a client may send them as decimal strings). Close codes: `x-close-codes` of the channel.

Versioning: `v` in the URL names the protocol version the client speaks (absent: 1). Within a
version the server may add frame types and fields; clients ignore those they do not know. A
change that would break a client makes a new version; a server closes a socket asking for a
version it does not speak with 4505. Generated from chat/protocol_schema.py (`make asyncapi`)."""


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the chat server's WebSocket protocol."""
    messages: dict[str, Schema] = {}
    for direction, frames in (("client", CLIENT_FRAMES), ("server", SERVER_FRAMES)):
        for frame in frames:
            messages[_message_key(direction, frame.kind)] = _message(direction, frame)

    def channel_ref(key: str) -> Schema:
        return {"$ref": f"#/channels/chat/messages/{key}"}

    operations: dict[str, Schema] = {}
    for frame in CLIENT_FRAMES:
        operation: Schema = {
            "action": "send",
            "channel": {"$ref": "#/channels/chat"},
            "summary": frame.summary,
            "messages": [channel_ref(_message_key("client", frame.kind))],
        }
        if frame.kind in _REPLIES:
            operation["reply"] = {
                "channel": {"$ref": "#/channels/chat"},
                "messages": [channel_ref(_message_key("server", k)) for k in _REPLIES[frame.kind]],
            }
        operations[f"send.{frame.kind}"] = operation
    operations["receive"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/chat"},
        "summary": "Every frame the server sends: answers, feed entries, presence, typing, draining, errors.",
        "messages": [channel_ref(_message_key("server", f.kind)) for f in SERVER_FRAMES],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chat server WebSocket protocol",
            "version": str(protocol.PROTOCOL_VERSION),
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "chat": {
                "host": "{host}",
                "protocol": "ws",
                "description": "The load balancer's origin, as the chat_server.url of login or GET "
                "chat/server names it (nginx forwards the path to the chosen chat server).",
                "variables": {"host": {"default": "127.0.0.1:8000"}},
            }
        },
        "channels": {
            "chat": {
                "address": "/ws/chat",
                "title": "A device's socket to its chat server",
                "servers": [{"$ref": "#/servers/chat"}],
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
                "bindings": {
                    "ws": {
                        "bindingVersion": "0.1.0",
                        "query": {
                            "type": "object",
                            "properties": {
                                "ticket": {
                                    "type": "string",
                                    "pattern": r"^[A-Za-z0-9_\-]{43}$",
                                    "description": "the single-use connect ticket (60 s); a browser may "
                                    "use its session instead",
                                },
                                "v": {
                                    "type": "string",
                                    "enum": [str(v) for v in protocol.PROTOCOL_VERSIONS],
                                    "default": str(protocol.PROTOCOL_VERSION),
                                    "description": "the protocol version the client speaks",
                                },
                            },
                        },
                    }
                },
                "x-close-codes": [
                    {"code": code, "meaning": meaning, "client_action": action}
                    for code, (meaning, action) in sorted(CLOSE_CODES.items())
                ],
                "x-max-frame-bytes": settings.CHAT_MAX_FRAME_BYTES,
            }
        },
        "operations": operations,
        "components": {"schemas": SCHEMAS, "messages": messages},
    }


def asyncapi_yaml() -> str:
    """The document as the YAML text committed in docs/asyncapi.yaml."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # the same example twice is written twice
            return True

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None  # prose as a block, as written here
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Generated from chat/protocol_schema.py by `make asyncapi`: do not edit by hand.\n"
    body = yaml.dump(asyncapi_document(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body
