"""The metrics of each process kind, in process: a chat server's counters and its /metrics, the
sync worker's (the sync task runs inline here), an API server's request metrics and /metrics, the
queues' depth read from Redis, and a Celery process whose metrics port is taken
(chatproject/metrics.py, chat/server/metrics.py, chat/worker/metrics.py)."""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from django.test import Client, override_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import chatproject.metrics as metrics_module
from accounts.models import User
from chat.server.app import http_application, websocket_application
from chat.services import conversation_direct_open
from chatproject.metrics import QueueDepthCollector, celery_queues, metrics_server_start
from chatproject.redis_client import get_redis
from tests.tickets import device_ticket_async


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


async def _chat_server_metrics() -> tuple[int, str, str]:
    """GET /metrics of the chat server's HTTP application: (status, content type, body)."""

    async def not_django(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("/metrics must not go through Django")

    comm = ApplicationCommunicator(
        http_application(not_django),
        {"type": "http", "method": "GET", "path": "/metrics", "headers": [], "query_string": b""},
    )
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(timeout=5)
    body = await comm.receive_output(timeout=5)
    content_type = dict(start["headers"])[b"content-type"].decode()
    return start["status"], content_type, body["body"].decode()


@pytest.mark.django_db(transaction=True)
async def test_a_chat_server_counts_frames_sends_batches_and_deliveries(
    alice: User, bob: User, cassandra_clean: str, fresh_chat_runtime: None
) -> None:
    """A message sent on a socket moves the chat server's counters (frames in, accepted, send
    batch, deliveries: the ack) and the sync worker's (stored, batch size, store latency); its
    /metrics answers them in the text format, with the connection gauge."""
    conversation, _ = await database_sync_to_async(conversation_direct_open)(user=alice, other_id=bob.pk)
    before = {
        "frames": _value("chat_frames_in_total", {"type": "message.send"}),
        "accepted": _value("chat_messages_accepted_total"),
        "batches": _value("chat_send_batch_size_count"),
        "deliveries": _value("chat_deliveries_total"),
        "stored": _value("chat_messages_stored_total"),
        "store_rounds": _value("chat_store_seconds_count"),
        "opened": _value("chat_connections_opened_total"),
    }
    ticket = await device_ticket_async(alice, "d1")
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    assert (await comm.connect())[0]
    await comm.send_to(
        text_data=json.dumps(
            {"type": "message.send", "conversation_id": conversation.pk, "client_msg_id": "m-1", "body": "hi"}
        )
    )
    assert json.loads(await comm.receive_from(timeout=10))["type"] == "message.ack"

    assert _value("chat_frames_in_total", {"type": "message.send"}) == before["frames"] + 1
    assert _value("chat_messages_accepted_total") == before["accepted"] + 1
    assert _value("chat_send_batch_size_count") == before["batches"] + 1
    assert _value("chat_deliveries_total") >= before["deliveries"] + 1
    assert _value("chat_messages_stored_total") == before["stored"] + 1
    assert _value("chat_store_seconds_count") == before["store_rounds"] + 1
    assert _value("chat_connections_opened_total") == before["opened"] + 1

    status, content_type, text = await _chat_server_metrics()
    assert status == 200
    assert content_type.startswith("text/plain")
    families = _families(text)
    assert families["chat_connections"].samples[0].value == 1
    assert families["chat_send_inflight"].samples[0].value >= 0
    assert "chat_event_loop_lag_seconds" in families
    assert "chat_delivery_batch_size" in families
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_refused_sends_are_counted_by_reason(alice: User, bob: User, fresh_chat_runtime: None) -> None:
    """A send to a conversation the sender is not in counts as refused with its error frame's code
    (`forbidden`), not accepted; an unknown frame type counts as an invalid frame."""
    refused = _value("chat_messages_refused_total", {"reason": "forbidden"})
    accepted = _value("chat_messages_accepted_total")
    invalid = _value("chat_frames_in_total", {"type": "invalid"})
    ticket = await device_ticket_async(alice, "d1")
    comm = WebsocketCommunicator(websocket_application(), f"/ws/chat?ticket={ticket}")
    assert (await comm.connect())[0]
    await comm.send_to(
        text_data=json.dumps(
            {"type": "message.send", "conversation_id": 999999, "client_msg_id": "x", "body": "hi"}
        )
    )
    assert json.loads(await comm.receive_from(timeout=5))["code"] == "forbidden"
    await comm.send_to(text_data=json.dumps({"type": "no.such.frame"}))
    assert json.loads(await comm.receive_from(timeout=5))["code"] == "unknown_type"
    await comm.disconnect()
    assert _value("chat_messages_refused_total", {"reason": "forbidden"}) == refused + 1
    assert _value("chat_messages_accepted_total") == accepted
    assert _value("chat_frames_in_total", {"type": "invalid"}) == invalid + 1


@pytest.mark.django_db
def test_an_api_server_counts_requests_by_view_and_serves_metrics() -> None:
    """Each request is counted by view, method and status and timed; GET /metrics answers the
    text format, with the X-Request-ID of the request."""
    client = Client()
    labels = {"view": "healthz", "method": "GET", "status": "200"}
    before = _value("chat_http_requests_total", labels)
    unmatched = _value("chat_http_requests_total", {"view": "unmatched", "method": "GET", "status": "404"})
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/no-such-thing").status_code == 404
    assert _value("chat_http_requests_total", labels) == before + 1
    assert (
        _value("chat_http_requests_total", {"view": "unmatched", "method": "GET", "status": "404"})
        == unmatched + 1
    )
    assert _value("chat_http_request_seconds_count", {"view": "healthz"}) >= 1

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = _families(response.content.decode())
    assert "chat_http_requests" in families
    assert "chat_http_request_seconds" in families


def test_queue_depth_is_read_from_the_brokers_lists_at_scrape_time() -> None:
    """chat_queue_depth is each queue's list length in Redis, chat_queue_unacked kombu's hash."""
    queue, empty = (f"metrics-test-{uuid.uuid4().hex[:8]}" for _ in range(2))
    client = get_redis()
    client.lpush(queue, "a", "b", "c")
    try:
        families = {f.name: f for f in QueueDepthCollector([queue, empty]).collect()}
    finally:
        client.delete(queue)
    depths = {s.labels["queue"]: s.value for s in families["chat_queue_depth"].samples}
    assert depths == {queue: 3, empty: 0}
    assert families["chat_queue_unacked"].samples[0].value >= 0
    assert {"sync", "push", "sweep", "presence"} <= celery_queues()


def test_a_celery_process_whose_metrics_port_is_taken_runs_on_without_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The port is in use: metrics_server_start says so and returns None instead of raising."""
    monkeypatch.setattr(metrics_module, "_served", [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with override_settings(METRICS_PORT=port, METRICS_PORT_INDEX=0, METRICS_ADDR="127.0.0.1"):
            assert metrics_server_start() is None
    with override_settings(METRICS_PORT=0):
        assert metrics_server_start() is None  # 0: no server at all
