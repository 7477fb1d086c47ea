"""Log lines as JSON, and the id of the work they belong to on each of them: a REST request's id,
a WebSocket connection's id and the frame's client_msg_id, a sync batch's message IDs
(chatproject/logs.py)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import User
from chat.domain.events import Origin, SyncBatch, sync_item
from chat.domain.snowflake import TIMESTAMP_SHIFT
from chat.server import consumer as consumer_module
from chat.server.app import websocket_application
from chat.services import check_message_send_blocking, conversation_direct_open
from chat.worker.pipeline import do_send_messages
from chatproject.logs import JsonFormatter, LogContextFilter, PlainFormatter, log_context
from chatproject.settings.observability import logging_config
from tests.tickets import device_ticket_async


class _Lines:
    """The log lines of the block, formatted as the console handler of LOG_FORMAT=json does."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def matching(self, text: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if text in line["message"]]


@pytest.fixture
def json_lines() -> Iterator[_Lines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(JsonFormatter(process="api-7", kind="api"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield _Lines(stream)
    finally:
        root.removeHandler(handler)


def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("chat.test", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_json_formatter_writes_one_object_with_the_fixed_fields() -> None:
    """time (UTC), level, logger, message, process, kind, pid; no context fields when none is set."""
    line = JsonFormatter(process="chat-2", kind="chat").format(_record('a "quoted"\nline'))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "chat.test"
    assert entry["message"] == 'a "quoted"\nline'
    assert (entry["process"], entry["kind"]) == ("chat-2", "chat")
    assert entry["time"].endswith("+00:00")
    assert "correlation_id" not in entry
    assert "conn_id" not in entry


def test_json_formatter_writes_the_context_ids_as_strings_and_the_traceback() -> None:
    """The context's ids, Snowflakes as decimal strings, correlation_id the unit of work's id;
    an exception's traceback in `exception`."""
    handler_filter = LogContextFilter()
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("chat.test", logging.ERROR, __file__, 1, "failed", (), exc_info)
    with log_context(batch_id="b1", message_ids=[2**62 + 1, 7]):
        handler_filter.filter(record)
    entry = json.loads(JsonFormatter(process="worker-sync-0", kind="worker-sync").format(record))
    assert entry["correlation_id"] == "b1"
    assert entry["message_ids"] == [str(2**62 + 1), "7"]
    assert "ValueError: boom" in entry["exception"]


def test_log_context_nests_and_is_restored() -> None:
    """An inner block adds fields; leaving it restores the outer context; extra= fields win."""
    handler_filter = LogContextFilter()
    with log_context(conn_id="c1"):
        with log_context(client_msg_id="m1"):
            inner = _record("inner")
            handler_filter.filter(inner)
        outer = _record("outer", message_id=42)
        handler_filter.filter(outer)
    formatter = JsonFormatter()
    assert json.loads(formatter.format(inner))["client_msg_id"] == "m1"
    entry = json.loads(formatter.format(outer))
    assert (entry["correlation_id"], entry["message_id"]) == ("c1", "42")
    assert "client_msg_id" not in entry


def test_plain_formatter_appends_the_context_in_brackets() -> None:
    """LOG_FORMAT=plain: the usual line, then the context's fields."""
    record = _record("hello")
    with log_context(request_id="r1"):
        LogContextFilter().filter(record)
    assert PlainFormatter().format(record).endswith("WARNING chat.test hello [request_id=r1]")


def test_logging_config_takes_json_or_plain_only() -> None:
    """The console handler gets the format of LOG_FORMAT and the context filter; a typo is refused."""
    config = logging_config("json")
    assert config["handlers"]["console"] == {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context"],
    }
    with pytest.raises(RuntimeError):
        logging_config("xml")


@pytest.mark.django_db
def test_a_rest_requests_id_is_on_its_log_lines_and_in_its_response(json_lines: _Lines) -> None:
    """The load balancer's X-Request-ID (or a new id) is on the lines the request logs, Django's
    own 4xx line included (logged after the middleware returned), and in the response."""
    client = Client()
    response = client.post(
        "/api/v1/auth/login", data="{}", content_type="application/json", HTTP_X_REQUEST_ID="lb-id-1"
    )
    assert response.status_code == 400
    assert response["X-Request-ID"] == "lb-id-1"
    [line] = json_lines.matching("Bad Request: /api/v1/auth/login")
    assert (line["request_id"], line["correlation_id"]) == ("lb-id-1", "lb-id-1")

    response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="bad id\nwith a line break")
    generated = response["X-Request-ID"]
    assert response.status_code == 404
    assert len(generated) == 32
    [line] = json_lines.matching("Not Found: /api/v1/no-such-thing")
    assert line["request_id"] == generated


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frames_log_line_carries_its_connection_and_client_msg_id(
    alice: User,
    bob: User,
    cassandra_clean: str,
    fresh_chat_runtime: None,
    json_lines: _Lines,
    monkeypatch: Any,
) -> None:
    """A line logged while a message.send is handled carries the socket's conn_id (the
    correlation id) and the frame's client_msg_id."""
    conversation, _ = await database_sync_to_async(conversation_direct_open)(user=alice, other_id=bob.pk)

    async def broken(**_: Any) -> None:
        raise RuntimeError("queue exploded")

    monkeypatch.setattr(consumer_module, "queue_message_send", broken)
    ticket = await device_ticket_async(alice, "d1")
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(
        text_data=json.dumps(
            {
                "type": "message.send",
                "conversation_id": conversation.pk,
                "client_msg_id": "cm-1",
                "body": "hi",
            }
        )
    )
    frame = json.loads(await comm.receive_from(timeout=5))
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "internal", "cm-1")
    await comm.disconnect()
    [line] = json_lines.matching("frame handling failed")
    assert line["client_msg_id"] == "cm-1"
    assert len(line["conn_id"]) == 32
    assert line["correlation_id"] == line["conn_id"]
    assert "queue exploded" in line["exception"]


@pytest.mark.django_db(transaction=True)
def test_a_log_line_in_do_send_messages_carries_the_message_and_batch_ids(
    alice: User, bob: User, cassandra_clean: str, json_lines: _Lines
) -> None:
    """The late-message line names the message (its first ID and client_msg_id) and the batch
    it came in (batch id as the correlation id, every message ID of the batch)."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    pending = check_message_send_blocking(
        sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="late-1", body="late"
    )
    late = replace(pending, id=pending.id - (60_000 << TIMESTAMP_SHIFT))  # numbered a minute ago
    [stored] = do_send_messages(
        items=[sync_item(pending=late, origin=Origin())],
        batch=SyncBatch(server_id="chat-9", batch_id="batch-1").encode(),
    )
    assert stored.id != late.id
    [line] = json_lines.matching("reached storage late")
    assert (line["message_id"], line["client_msg_id"]) == (str(late.id), "late-1")
    assert (line["batch_id"], line["correlation_id"], line["message_ids"]) == (
        "batch-1",
        "batch-1",
        [str(late.id)],
    )
