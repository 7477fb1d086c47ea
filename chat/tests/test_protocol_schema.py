"""docs/asyncapi.yaml against the code: generated from chat/protocol_schema.py, and every frame the
protocol parses or builds is in it, valid, and the other way round."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from chat import protocol
from chat.domain.records import FeedChange, StoredMessage
from chat.protocol_schema import (
    ASYNCAPI_PATH,
    CLIENT_FRAMES,
    CLOSE_CODES,
    ENTRY_FRAMES,
    ERROR_CODES,
    SERVER_FRAMES,
    asyncapi_yaml,
    close_code_constants,
)
from chatproject.errors import RateLimited, ServiceError
from presence.redis_keys import PresenceState
from presence.services import presence_frame
from tests.frames import frame_problems

# the dataclass frame_parse returns for each client frame type
PARSED = {
    "message.send": protocol.MessageSend,
    "sync": protocol.SyncRequest,
    "heartbeat": protocol.Heartbeat,
    "typing": protocol.Typing,
    "read": protocol.ReadMarker,
    "delivered": protocol.Delivered,
}


def _message(**fields: object) -> StoredMessage:
    base: dict[str, object] = {
        "id": 1190403012575232000,
        "conversation_id": 12,
        "sender_id": 1,
        "client_msg_id": "c-1",
        "body": "hi @bob",
        "mentions": (2,),
    }
    return StoredMessage(**{**base, **fields})  # type: ignore[arg-type]


def _valid(frame: object, direction: str = "server") -> None:
    assert frame_problems(frame, direction=direction) == []


def test_the_committed_document_is_the_generated_one() -> None:
    """docs/asyncapi.yaml is exactly what `make asyncapi` writes from chat/protocol_schema.py."""
    committed = (Path(settings.BASE_DIR) / ASYNCAPI_PATH).read_text()
    assert committed == asyncapi_yaml(), "docs/asyncapi.yaml is out of date: run `make asyncapi`"


def test_every_client_frame_type_is_one_frame_parse_knows_and_the_other_way_round() -> None:
    """The document's client frames are exactly the types of chat.protocol.Frame; each example
    parses to its dataclass."""
    assert {f.kind for f in CLIENT_FRAMES} == set(PARSED)
    assert set(PARSED.values()) == set(typing.get_args(protocol.Frame))
    for frame in CLIENT_FRAMES:
        _valid(frame.example, "client")
        parsed = protocol.frame_parse(dict(frame.example), max_body=settings.CHAT_MESSAGE_MAX_LENGTH)
        assert isinstance(parsed, PARSED[frame.kind])


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message.send", "conversation_id": 1, "client_msg_id": "a b", "body": "x"},
        {"type": "message.send", "conversation_id": 1, "client_msg_id": "a", "body": " \u3000\n"},
        {"type": "message.send", "conversation_id": 1, "client_msg_id": "a", "body": "x" * 10_001},
        {"type": "message.send", "conversation_id": "1x", "client_msg_id": "a", "body": "x"},
        {"type": "message.send", "conversation_id": 0, "client_msg_id": "a", "body": "x"},
        {"type": "sync", "since": -1},
        {"type": "heartbeat", "idle": "yes"},
        {"type": "read", "conversation_id": 1},
        {"type": "delivered", "message_ids": []},
        {"type": "delivered", "message_ids": [str(i + 1) for i in range(101)]},
    ],
)
def test_what_the_document_refuses_the_parser_refuses(frame: dict[str, object]) -> None:
    """A client frame that breaks its schema is refused by frame_parse too (same limits)."""
    assert frame_problems(frame, direction="client")
    with pytest.raises(ServiceError):  # bad_request or too_large
        protocol.frame_parse(frame, max_body=settings.CHAT_MESSAGE_MAX_LENGTH)


def test_every_server_frame_the_code_builds_is_valid() -> None:
    """Each builder of chat.protocol (and presence's) makes a frame the document allows."""
    edited = _message(edited_at=datetime(2026, 11, 25, 18, 1, tzinfo=UTC))
    built = [
        protocol.message_new_frame(_message()),
        protocol.feed_entry_frame(_message()),
        protocol.message_ack_frame(_message()),
        protocol.catch_up_batch_frame([_message(), edited], has_more=True),
        protocol.catch_up_reset_frame(0),
        protocol.catch_up_done_frame(1190403012575232000),
        protocol.typing_frame(conversation_id=12, user_id=2),
        protocol.server_draining_frame(),
        protocol.internal_error_frame(None),
        protocol.internal_error_frame("c-1"),
        RateLimited("slow down", retry_after_ms=1200).as_frame("c-1"),
        protocol.UnknownType().as_frame(None),
        presence_frame(PresenceState(user_id=2, status="away", last_active_at=1764000000.5)),
        presence_frame(PresenceState(user_id=2, status="offline", last_active_at=None)),
        {"type": "heartbeat.ack"},  # chat/server/consumer.py sends it as a literal
    ]
    for change in [
        FeedChange(
            feed_id=1190403099999999999,
            conversation_id=12,
            kind="message.updated",
            fields={"message": protocol.message_payload(_message(deleted=True, body=""))},
        ),
        FeedChange(
            feed_id=1190403099999999999,
            conversation_id=12,
            kind="read",
            fields=protocol.position_fields(conversation_id=12, user_id=2, message_id=5),
        ),
        FeedChange(
            feed_id=1190403099999999999,
            conversation_id=12,
            kind="conversation.joined",
            fields=protocol.conversation_fields(
                conversation_id=13, kind="group", title="t", member_ids=[3, 1]
            ),
        ),
    ]:
        built.append(protocol.feed_change_frame(change))
    for frame in built:
        _valid(frame)
    assert {f["type"] for f in built} | {f.kind for f in ENTRY_FRAMES} == {f.kind for f in SERVER_FRAMES}


def test_every_example_is_valid() -> None:
    """The document's examples are frames it allows."""
    for frames, direction in ((CLIENT_FRAMES, "client"), (SERVER_FRAMES, "server")):
        for frame in frames:
            assert frame.example["type"] == frame.kind
            _valid(frame.example, direction)


def test_an_undocumented_field_or_type_is_a_violation() -> None:
    """The suite's check is strict: an extra field or an unknown type fails it."""
    assert frame_problems({"type": "heartbeat.ack", "extra": 1}, direction="server")
    assert frame_problems({"type": "hello"}, direction="server")
    assert frame_problems({"type": "message.ack"}, direction="client")


def test_every_close_code_of_the_code_is_documented() -> None:
    """Each CLOSE_* constant of chat.protocol has its entry in the document, and only those."""
    assert set(close_code_constants().values()) == set(CLOSE_CODES)


def test_the_error_codes_are_those_docs_protocol_md_lists() -> None:
    """The error frame's code enum and the prose list of docs/protocol.md agree."""
    prose = (Path(settings.BASE_DIR) / "docs" / "protocol.md").read_text()
    listed = prose.split("Error codes:", 1)[1].split("\n\n", 1)[0]
    for code in ERROR_CODES:
        assert f"`{code}`" in listed, code


def test_protocol_version_of_the_url() -> None:
    """No `v` is version 1; a version this server does not speak is None."""
    assert protocol.protocol_version_of(None) == 1
    assert protocol.protocol_version_of(["1"]) == 1
    assert protocol.protocol_version_of(["2"]) is None
    assert protocol.protocol_version_of(["\uff11"]) is None  # a non-ASCII digit
