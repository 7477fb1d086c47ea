"""Item 8: deeply nested or oversized JSON gets a 4xx with the project's error body, never a 500,
on the REST API (through nginx, and straight on an API server port: the application enforces the
body limit itself) and on a real chat server's WebSocket, which stays open."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from chat.protocol import frame_decode
from chatproject.errors import BadRequest, TooLarge
from chatproject.parsers import json_depth_exceeds
from tests.security.conftest import PASSWORD, login, register
from tests.stack import Stack

DEEP = 100_000
JSON_LIMIT = 1024 * 1024  # API_JSON_MAX_BYTES: 1 MiB
FRAME_LIMIT = 65536


def _post(port: int, path: str, body: bytes) -> tuple[int, Any]:
    """POST raw bytes as JSON to 127.0.0.1:`port`; returns (status, parsed JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), raw[:200]
        return response.status, json.loads(raw)
    finally:
        connection.close()


def _deep(opening: str, closing: str, depth: int, inner: str = "1") -> str:
    return opening * depth + inner + closing * depth


# --- the WebSocket frame decoder


@pytest.mark.parametrize(
    "text",
    [
        _deep("[", "]", 30_000),  # beyond orjson's own limit
        '{"type":"heartbeat","x":' + _deep("[", "]", 1_000) + "}",  # within orjson's, still too deep
        '{"type":"heartbeat","x":' + _deep('{"a":', "}", 2_000) + "}",
        '{"type":"sync","since":' + _deep("[", "]", 100) + "}",
    ],
)
def test_deep_frames_are_bad_requests(text: str) -> None:
    """Any frame nested deeper than the limit, whatever its shape, is a bad_request."""
    with pytest.raises(BadRequest) as refused:
        frame_decode(text, max_bytes=FRAME_LIMIT)
    assert refused.value.as_frame()["code"] == "bad_request"


def test_frames_within_the_depth_limit_decode() -> None:
    """Ordinary nesting still decodes."""
    frame = frame_decode(
        '{"type":"delivered","message_ids":["1","2"],"x":' + _deep("[", "]", 20) + "}", max_bytes=FRAME_LIMIT
    )
    assert frame["type"] == "delivered"


def test_oversized_frame_is_too_large() -> None:
    with pytest.raises(TooLarge):
        frame_decode('{"type":"heartbeat","x":"' + "a" * FRAME_LIMIT + '"}', max_bytes=FRAME_LIMIT)


# --- the REST parser's depth count


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (_deep("[", "]", 32), False),
        (_deep("[", "]", 33), True),
        (_deep('{"a":', "}", 33), True),
        ("[" * 33, True),  # never closed: the decoder would still descend
        ('["' + "[" * 100 + '"]', False),  # brackets inside a string do not nest
        ('["\\"' + ", []" * 100 + "]", False),  # an escaped backslash ends before the quote
        ('["\\"", ' + _deep("[", "]", 40) + "]", True),
        ('"' + "[" * 100, False),  # an unterminated string runs to the end
    ],
)
def test_rest_parser_counts_nesting_outside_strings(text: str, deep: bool) -> None:
    """The parser's depth count: brackets in strings, escapes and unclosed openings."""
    assert json_depth_exceeds(text.encode(), 32) is deep


# --- the real stack


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "body",
    [
        _deep("[", "]", DEEP),
        '{"username":' + _deep("[", "]", DEEP) + ',"password":"x"}',
        '{"username":' + _deep('{"a":', "}", 50_000) + ',"password":"x"}',
        '{"username":' + _deep("[", "]", 900) + ',"password":"x"}',
    ],
)
def test_deep_json_through_nginx_is_a_400(security_stack: Stack, body: str) -> None:
    """100,000 nested arrays (or objects, or just past the limit) posted through the load
    balancer: 400 bad_request in the error body, and the API servers keep answering."""
    status, answer = _post(security_stack.lb_port, "/api/v1/auth/login", body.encode())
    assert status == 400, answer
    assert answer["error"]["code"] == "bad_request"
    assert set(answer["error"]) == {"code", "message", "fields"}
    status, answer = _post(
        security_stack.lb_port, "/api/v1/auth/login", b'{"username":"nobody","password":"wrong"}'
    )
    assert status == 401, answer


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_oversized_json_is_refused_by_the_application(security_stack: Stack) -> None:
    """A JSON body over API_JSON_MAX_BYTES gets 413 too_large in the error body, through nginx
    (under nginx's own limit) and straight on an API server's port (over nginx's limit too)."""
    over = b'{"username":"' + b"a" * (2 * JSON_LIMIT) + b'","password":"x"}'
    status, answer = _post(security_stack.lb_port, "/api/v1/auth/login", over)
    assert status == 413, answer
    assert answer["error"]["code"] == "too_large"
    for port in security_stack.api_ports:
        # 11 MiB announced, beyond nginx's limit: refused on the Content-Length, before the body
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.putrequest("POST", "/api/v1/auth/login")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(11 * 1024 * 1024))
        connection.endheaders(b'{"username":"' + b"a" * 65536)
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        assert response.status == 413, answer
        assert answer["error"]["code"] == "too_large"
    account = register(security_stack, "json")
    status, answer = _post(
        security_stack.lb_port,
        "/api/v1/auth/login",
        json.dumps({"username": account.username, "password": PASSWORD}).encode(),
    )
    assert status == 200, answer


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
async def test_deep_frames_on_a_real_chat_server_get_bad_request(security_stack: Stack) -> None:
    """Deep frames sent to a real daphne get `error` bad_request (never internal); the socket
    stays open and answers a heartbeat afterwards."""
    import asyncio

    account = register(security_stack, "deepws")
    device = await asyncio.to_thread(login, security_stack, account)
    await device.connect()
    assert device.ws is not None
    for text in (
        _deep("[", "]", 30_000),
        '{"type":"heartbeat","x":' + _deep("[", "]", 1_000) + "}",
        '{"type":"message.send","conversation_id":1,"client_msg_id":"c1","body":"hi","x":'
        + _deep('{"a":', "}", 500)
        + "}",
    ):
        await device.ws.send(text)
        error = await device.next_frame("error")
        assert error["code"] == "bad_request", error
    answer = await device.request({"type": "heartbeat"}, "heartbeat.ack")
    assert answer["type"] == "heartbeat.ack"
    assert device.closed_with is None
    await device.close()
