"""The WebSocket protocol of the chat servers (DESIGN.md §3.2): frame parsing, error codes, and
the building of every server frame (`*_frame`, the message object `message_payload`).

`frame_parse` turns the text of one client frame into a typed frame or raises a `ProtocolError`
whose `code` is one of the documented error codes; the consumer answers it with an `error` frame
and keeps the socket open. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from chat.domain.records import FeedChange, FeedEntry, StoredMessage
from chatproject.errors import BadRequest, ServiceError, TooLarge

# close codes of the chat server (docs/protocol.md)
CLOSE_BAD_TICKET = 4401  # no, forged, expired or reused ticket, and no session; or the login ended
CLOSE_DRAINING = 4503  # the server is draining: get another through discovery
CLOSE_TOO_MANY_SOCKETS = 4429  # the user opened more than CHAT_SOCKETS_PER_USER: this, the oldest, goes
CLOSE_TOO_SLOW = 4008  # the client stopped reading (CHAT_SEND_BACKLOG_MAX unsent): reconnect and sync

CLOSE_UNSUPPORTED_VERSION = 4505  # the `v` the client asked for is not a protocol version this server speaks

# the protocol's version: a client names the one it speaks with `v` in the socket's URL (absent: 1).
# Within a version frames and fields are only added; a change that breaks a client is a new version.
PROTOCOL_VERSION = 1
PROTOCOL_VERSIONS = (1,)  # what this server speaks

MAX_ID = (1 << 63) - 1
CLIENT_MSG_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
_CLIENT_MSG_ID_RE = re.compile(CLIENT_MSG_ID_PATTERN)


def protocol_version_of(values: list[str] | None) -> int | None:
    """The protocol version a socket's `v` query values ask for, or None if this server does not
    speak it (no `v`: version 1, what clients before versioning speak)."""
    if not values:
        return 1
    value = values[0]
    if value.isascii() and value.isdigit() and int(value) in PROTOCOL_VERSIONS:
        return int(value)
    return None


class ProtocolError(ServiceError):
    """A frame the server cannot act on; `ref` points at the client_msg_id when there is one."""


class UnknownType(ProtocolError):
    code = "unknown_type"
    default_message = "Unknown frame type."


@dataclass(frozen=True)
class MessageSend:
    conversation_id: int
    client_msg_id: str
    body: str


@dataclass(frozen=True)
class SyncRequest:
    since: int


@dataclass(frozen=True)
class Heartbeat:
    idle: bool | None = None  # the device reports its user idle (True) or active (False); None: not said


@dataclass(frozen=True)
class Delivered:
    """The device received these messages (live or by sync)."""

    message_ids: tuple[int, ...]


@dataclass(frozen=True)
class Typing:
    conversation_id: int


@dataclass(frozen=True)
class ReadMarker:
    conversation_id: int
    message_id: int


Frame = MessageSend | SyncRequest | Heartbeat | Typing | ReadMarker | Delivered

DELIVERED_MAX_IDS = 100  # message IDs per `delivered` frame


def _id(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """A positive 63-bit id given as a JSON number or a decimal string."""
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or not (0 if allow_zero else 1) <= value <= MAX_ID:
        raise BadRequest(f"{name} must be an id (a positive integer or a decimal string)")
    return value


def client_msg_id_of(data: Any) -> str | None:
    """The frame's client_msg_id if it has a usable one (for the `ref` of an error frame)."""
    if isinstance(data, dict):
        value = data.get("client_msg_id")
        if isinstance(value, str) and _CLIENT_MSG_ID_RE.match(value):
            return value
    return None


FRAME_MAX_DEPTH = 32


def frame_decode(text: str | bytes | None, *, max_bytes: int) -> dict[str, Any]:
    """The JSON object of one frame; raises TooLarge or BadRequest."""
    if text is None:
        raise BadRequest("binary frames are not supported; send JSON text")
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise TooLarge(f"frame is {size} bytes; the limit is {max_bytes}")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:  # also orjson's own refusal of nesting past 1024
        raise BadRequest("frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BadRequest("a frame must be a JSON object")
    # no frame of the protocol nests deeper than a few levels; deeper ones are refused before any
    # handler (or log line) walks them recursively
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > FRAME_MAX_DEPTH:
            raise BadRequest(f"frame is nested deeper than {FRAME_MAX_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    if not isinstance(data.get("type"), str):
        raise BadRequest("a frame needs a string 'type'")
    return data


def frame_parse(data: dict[str, Any], *, max_body: int) -> Frame:
    """The typed frame of a decoded JSON object; raises ProtocolError/BadRequest/TooLarge."""
    kind = data["type"]
    if kind == "message.send":
        client_msg_id = data.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not _CLIENT_MSG_ID_RE.match(client_msg_id):
            raise BadRequest("client_msg_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        body = data.get("body")
        if not isinstance(body, str):
            raise BadRequest("body must be a string")
        if len(body) > max_body:
            raise TooLarge(f"body is {len(body)} characters; the limit is {max_body}")
        if not body.strip():
            raise BadRequest("body must not be empty")
        return MessageSend(
            conversation_id=_id(data.get("conversation_id"), "conversation_id"),
            client_msg_id=client_msg_id,
            body=body,
        )
    if kind == "sync":
        return SyncRequest(since=_id(data.get("since", 0), "since", allow_zero=True))
    if kind == "heartbeat":
        idle = data.get("idle")
        if idle is not None and not isinstance(idle, bool):
            raise BadRequest("idle must be true or false")
        return Heartbeat(idle=idle)
    if kind == "delivered":
        ids = data.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise BadRequest("message_ids must be a non-empty list of message ids")
        if len(ids) > DELIVERED_MAX_IDS:
            raise TooLarge(f"at most {DELIVERED_MAX_IDS} message ids per delivered frame")
        return Delivered(message_ids=tuple(sorted({_id(v, "message_ids[]") for v in ids})))
    if kind == "typing":
        return Typing(conversation_id=_id(data.get("conversation_id"), "conversation_id"))
    if kind == "read":
        return ReadMarker(
            conversation_id=_id(data.get("conversation_id"), "conversation_id"),
            message_id=_id(data.get("message_id"), "message_id"),
        )
    raise UnknownType(f"unknown frame type {kind[:64]!r}")


def frame_text(frame: dict[str, Any]) -> str:
    """Serialise a server frame."""
    return orjson.dumps(frame).decode()


def time_text(value: Any) -> str | None:
    """A timestamp as the protocol writes it: ISO 8601 in UTC with a `Z`."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def message_payload(message: StoredMessage) -> dict[str, Any]:
    """The message object: IDs of messages are decimal strings; a tombstone has an empty body."""
    return {
        "id": str(message.id),
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "body": "" if message.deleted else message.body,
        "created_at": time_text(message.created_at),
        "client_msg_id": message.client_msg_id,
        "mentions": list(message.mentions),
        "edited_at": time_text(message.edited_at),
        "deleted": message.deleted,
    }


def message_new_frame(message: StoredMessage) -> dict[str, Any]:
    """A new message, as a feed entry: its `feed_id` is its ID."""
    return {"type": "message.new", "feed_id": str(message.id), "message": message_payload(message)}


def feed_change_frame(change: FeedChange) -> dict[str, Any]:
    """A feed entry other than a new message: its type, `feed_id` and fields."""
    return {"type": change.kind, "feed_id": str(change.feed_id), **change.fields}


def feed_entry_frame(entry: FeedEntry) -> dict[str, Any]:
    """The frame of any feed entry: the same live and in a sync.batch (docs/protocol.md)."""
    if isinstance(entry, StoredMessage):
        return message_new_frame(entry)
    return feed_change_frame(entry)


def message_ack_frame(message: StoredMessage) -> dict[str, Any]:
    """To the sending device, once its message is stored."""
    return {
        "type": "message.ack",
        "client_msg_id": message.client_msg_id,
        "message_id": str(message.id),
        "conversation_id": message.conversation_id,
    }


def catch_up_batch_frame(entries: list[FeedEntry], *, has_more: bool) -> dict[str, Any]:
    """Feed entries in order; `messages` repeats the new messages' objects for clients that read
    only those."""
    return {
        "type": "sync.batch",
        "entries": [feed_entry_frame(e) for e in entries],
        "messages": [message_payload(e) for e in entries if isinstance(e, StoredMessage)],
        "has_more": has_more,
    }


def catch_up_batch_frames(
    entries: list[FeedEntry], *, has_more: bool, max_bytes: int
) -> list[dict[str, Any]]:
    """The `sync.batch` frames of a page of entries, each at most about `max_bytes` of JSON (a
    chat server's frames must stay under the WebSocket server's message limit, and a new message
    is carried twice, in `entries` and `messages`); every frame but the last says `has_more`."""
    frames: list[dict[str, Any]] = []
    chunk: list[FeedEntry] = []
    size = 0
    for entry in entries:
        cost = len(orjson.dumps(feed_entry_frame(entry)))
        if isinstance(entry, StoredMessage):
            cost *= 2
        if chunk and size + cost > max_bytes:
            frames.append(catch_up_batch_frame(chunk, has_more=True))
            chunk, size = [], 0
        chunk.append(entry)
        size += cost
    frames.append(catch_up_batch_frame(chunk, has_more=has_more))
    return frames


def catch_up_reset_frame(cur_max_message_id: int) -> dict[str, Any]:
    """The device is further behind than the feed keeps: reload, then sync on from here."""
    return {"type": "sync.reset_required", "cur_max_message_id": str(cur_max_message_id)}


def catch_up_done_frame(cur_max_message_id: int) -> dict[str, Any]:
    return {"type": "sync.done", "cur_max_message_id": str(cur_max_message_id)}


def typing_frame(*, conversation_id: int, user_id: int) -> dict[str, Any]:
    return {"type": "typing", "conversation_id": conversation_id, "user_id": user_id}


def position_fields(*, conversation_id: int, user_id: int, message_id: int) -> dict[str, Any]:
    """The fields of a `read` or `delivered` entry: a member's position in a conversation."""
    return {"conversation_id": conversation_id, "user_id": user_id, "message_id": str(message_id)}


def conversation_fields(
    *, conversation_id: int, kind: str, title: str, member_ids: list[int]
) -> dict[str, Any]:
    """The `conversation` of a conversation.created / conversation.joined entry (its `type`, as in
    the REST conversation object)."""
    return {
        "conversation": {
            "id": conversation_id,
            "type": kind,
            "title": title,
            "member_ids": sorted(member_ids),
        }
    }


def server_draining_frame() -> dict[str, Any]:
    return {"type": "server.draining"}


def live_gap_frame() -> dict[str, Any]:
    """Live frames to this socket may have been dropped (the chat server's delivery subscription
    was lost for a moment): the client syncs now rather than at its next periodic re-sync."""
    return {"type": "live.gap"}


def internal_error_frame(ref: str | None) -> dict[str, Any]:
    """An unexpected failure: the socket stays open."""
    return {"type": "error", "code": "internal", "message": "Internal error.", "ref": ref}
