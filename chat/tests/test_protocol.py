"""Frame parsing of the WebSocket protocol: every bad input maps to a documented error code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat import protocol
from chatproject.errors import BadRequest, ServiceError, TooLarge


def _parse(frame: object, *, max_bytes: int = 65536, max_body: int = 10000) -> protocol.Frame:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    return protocol.frame_parse(protocol.frame_decode(text, max_bytes=max_bytes), max_body=max_body)


def _outcome(frame: object) -> str:
    try:
        _parse(frame)
    except ServiceError as exc:
        return exc.code
    return "parsed"


def test_message_send_parses_ids_as_numbers_or_strings() -> None:
    """conversation_id may be a number or a decimal string."""
    for cid in (7, "7"):
        frame = _parse({"type": "message.send", "conversation_id": cid, "client_msg_id": "a-1", "body": "hi"})
        assert frame == protocol.MessageSend(conversation_id=7, client_msg_id="a-1", body="hi")


def test_every_frame_type_parses() -> None:
    """sync, heartbeat, typing and read parse into their typed frames."""
    assert _parse({"type": "sync", "since": "123"}) == protocol.SyncRequest(since=123)
    assert _parse({"type": "sync", "since": 0}) == protocol.SyncRequest(since=0)
    assert _parse({"type": "heartbeat"}) == protocol.Heartbeat()
    assert _parse({"type": "typing", "conversation_id": 3}) == protocol.Typing(conversation_id=3)
    assert _parse({"type": "read", "conversation_id": 3, "message_id": "99"}) == protocol.ReadMarker(
        conversation_id=3, message_id=99
    )


@pytest.mark.parametrize(
    ("frame", "error", "code"),
    [
        ("not json", BadRequest, "bad_request"),
        ("[1, 2]", BadRequest, "bad_request"),
        ({"no": "type"}, BadRequest, "bad_request"),
        ({"type": 5}, BadRequest, "bad_request"),
        ({"type": "launch.rockets"}, protocol.UnknownType, "unknown_type"),
        ({"type": "message.send", "conversation_id": 1, "body": "x"}, BadRequest, "bad_request"),
        (
            {"type": "message.send", "conversation_id": 1, "client_msg_id": "a", "body": 5},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": 1, "client_msg_id": "a", "body": "  "},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": -1, "client_msg_id": "a", "body": "x"},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": True, "client_msg_id": "a", "body": "x"},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": "1e3", "client_msg_id": "a", "body": "x"},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": 2**63, "client_msg_id": "a", "body": "x"},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": 1, "client_msg_id": "a b", "body": "x"},
            BadRequest,
            "bad_request",
        ),
        (
            {"type": "message.send", "conversation_id": 1, "client_msg_id": "a", "body": "x" * 10001},
            TooLarge,
            "too_large",
        ),
        ({"type": "sync", "since": "abc"}, BadRequest, "bad_request"),
        ({"type": "read", "conversation_id": 1}, BadRequest, "bad_request"),
        ({"type": "typing"}, BadRequest, "bad_request"),
    ],
)
def test_bad_frames_get_their_error_code(frame: object, error: type[ServiceError], code: str) -> None:
    """Each kind of bad frame raises the error whose code the protocol documents."""
    with pytest.raises(error) as raised:
        _parse(frame)
    assert raised.value.code == code


def test_oversized_frame_is_too_large() -> None:
    """A frame over the byte limit is refused before it is parsed."""
    with pytest.raises(TooLarge):
        _parse({"type": "heartbeat", "pad": "x" * 100}, max_bytes=50)


def test_binary_frame_is_bad_request() -> None:
    """Binary frames are refused."""
    with pytest.raises(BadRequest):
        protocol.frame_decode(None, max_bytes=100)


def test_error_frame_carries_ref() -> None:
    """The error frame names the client_msg_id of the frame it answers."""
    assert protocol.client_msg_id_of({"client_msg_id": "m-1"}) == "m-1"
    assert protocol.client_msg_id_of({"client_msg_id": 5}) is None
    assert TooLarge("big").as_frame("m-1") == {
        "type": "error",
        "code": "too_large",
        "message": "big",
        "ref": "m-1",
    }


@given(st.text(max_size=300))
def test_any_text_either_parses_or_raises_a_protocol_error(text: str) -> None:
    """No input makes the parser fail with anything but a documented error."""
    assert _outcome(text) in {"parsed", "bad_request", "unknown_type", "too_large"}


@given(
    st.dictionaries(
        st.sampled_from(["type", "conversation_id", "client_msg_id", "body", "since", "message_id"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.floats(allow_nan=False)),
    )
)
def test_any_object_either_parses_or_raises_a_protocol_error(data: dict[str, object]) -> None:
    """Wrong types in any field give a documented error, never a crash."""
    assert _outcome(data) in {"parsed", "bad_request", "unknown_type", "too_large"}


def test_a_page_of_long_messages_is_cut_into_sync_batches_under_the_byte_budget() -> None:
    """Each sync.batch stays near the byte budget (a new message counts twice: entries and
    messages); the entries keep their order, none is lost, and only the last says has_more=False."""
    from chat.domain.records import FeedEntry, StoredMessage
    from chat.protocol import catch_up_batch_frames, frame_text

    entries: list[FeedEntry] = [
        StoredMessage(id=1000 + i, conversation_id=1, sender_id=2, client_msg_id=f"c{i}", body="x" * 5_000)
        for i in range(10)
    ]
    frames = catch_up_batch_frames(entries, has_more=False, max_bytes=25_000)
    assert len(frames) > 1
    assert all(len(frame_text(f)) <= 25_000 + 12_000 for f in frames)  # one entry may overhang
    assert [e["feed_id"] for f in frames for e in f["entries"]] == [str(1000 + i) for i in range(10)]
    assert [f["has_more"] for f in frames] == [True] * (len(frames) - 1) + [False]
    assert catch_up_batch_frames([], has_more=True, max_bytes=100) == [
        {"type": "sync.batch", "entries": [], "messages": [], "has_more": True}
    ]
