"""The WebSocket protocol as data: the AsyncAPI 3.0 document (`docs/asyncapi.yaml`, written by
`manage.py asyncapi`, `make asyncapi`) built from the frame schemas of `chat.frame_schemas`, with
the channel, its close codes and the operations (which client frames the server answers, and how).

The limits come from where the code enforces them (`chat.protocol`, the settings, the REST body
pattern), and the tests pin both directions: the committed document equals the generated one,
every frame `chat.protocol` parses or builds validates against its schema, every client frame type
here is one `frame_parse` knows, and every frame the test suite sends or receives is checked
against the document (tests/frames.py). Prose and rationale stay in docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chat import protocol
from chat.frame_schemas.client import CLIENT_FRAMES
from chat.frame_schemas.components import SCHEMAS, FrameDoc, Schema, message_key
from chat.frame_schemas.server import SERVER_FRAMES

ASYNCAPI_PATH = "docs/asyncapi.yaml"

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
            messages[message_key(direction, frame.kind)] = _message(direction, frame)

    def channel_ref(key: str) -> Schema:
        return {"$ref": f"#/channels/chat/messages/{key}"}

    operations: dict[str, Schema] = {}
    for frame in CLIENT_FRAMES:
        operation: Schema = {
            "action": "send",
            "channel": {"$ref": "#/channels/chat"},
            "summary": frame.summary,
            "messages": [channel_ref(message_key("client", frame.kind))],
        }
        if frame.kind in _REPLIES:
            operation["reply"] = {
                "channel": {"$ref": "#/channels/chat"},
                "messages": [channel_ref(message_key("server", k)) for k in _REPLIES[frame.kind]],
            }
        operations[f"send.{frame.kind}"] = operation
    operations["receive"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/chat"},
        "summary": "Every frame the server sends: answers, feed entries, presence, typing, draining, errors.",
        "messages": [channel_ref(message_key("server", f.kind)) for f in SERVER_FRAMES],
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
