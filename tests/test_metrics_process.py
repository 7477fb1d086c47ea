"""Logs and metrics across real processes: a message sent through a chat server moves the
counters that each process serves on its own /metrics port (chat server, API server, sync worker,
beat's queue depth, and the other Celery processes answer too), in Prometheus' text format; the
load balancer does not serve /metrics; the processes log JSON lines with their name, and an API
request's id is on its access line (README, "Logs and metrics")."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import User
from chat.services import conversation_direct_open
from tests.chat_client import Device
from tests.stack import Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def stack(django_db_setup: None) -> Iterator[Stack]:
    with Stack.running(
        "metrics-stack-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "LOG_FORMAT": "json",
            "CHAT_REGISTRY_TTL": "4",
            "CHAT_REGISTRY_REFRESH": "1",
            "CHAT_DRAIN_GRACE": "1",
        },
    ) as running:
        yield running


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _scrape(port: int, timeout: float = 30) -> dict[str, list[Any]]:
    """The samples of each metric family that the process on `port` serves at /metrics; the text
    must parse as Prometheus' format. Waits for a Celery process still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, text, headers = _get(f"http://127.0.0.1:{port}/metrics")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert status == 200, (port, status, text[:200])
    assert headers["Content-Type"].startswith("text/plain"), headers
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _total(families: dict[str, list[Any]], family: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _sync_worker_ports(stack: Stack) -> list[int]:
    count = int(stack.env.get("SYNC_WORKER_PROCESSES", "3"))
    return [stack.metrics_base + 10 + i for i in range(count)]


def _until(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


@pytest.fixture
def direct(alice: User, bob: User, cassandra_clean: str) -> int:
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    return int(conversation.pk)


async def test_each_process_serves_its_counters_and_the_load_balancer_does_not(
    stack: Stack, alice: User, bob: User, direct: int
) -> None:
    """Alice sends to Bob across the two chat servers; then the chat server counted the accepted
    send, an API server its requests, a sync worker the stored message and its task, beat the
    queues' depth; push, sweep and presence workers answer /metrics; /metrics through the load
    balancer is 404."""
    a1 = Device.login(api=stack.api, username=alice.username, password=PASSWORD, name="a1")
    b1 = Device.login(api=stack.api, username=bob.username, password=PASSWORD, name="b1")
    await a1.connect(stack.chat_url(0))
    await b1.connect(stack.chat_url(1))
    sent = await a1.send(direct, "counted")
    await a1.wait_acked([sent])
    await b1.wait_seen({a1.acks[sent]})

    chat_1 = _scrape(stack.chat_ports[0])
    assert _total(chat_1, "chat_messages_accepted", "chat_messages_accepted_total") >= 1
    assert _total(chat_1, "chat_frames_in", "chat_frames_in_total", type="message.send") >= 1
    assert _total(chat_1, "chat_connections", "chat_connections") >= 1
    assert _total(chat_1, "chat_send_batch_size", "chat_send_batch_size_count") >= 1
    assert _total(chat_1, "chat_deliveries", "chat_deliveries_total") >= 1  # the ack
    chat_2 = _scrape(stack.chat_ports[1])
    assert _total(chat_2, "chat_deliveries", "chat_deliveries_total") >= 1  # Bob's message.new
    assert _total(chat_2, "chat_delivery_batch_size", "chat_delivery_batch_size_count") >= 1

    api = [_scrape(port) for port in stack.api_ports]
    assert (
        sum(_total(f, "chat_http_requests", "chat_http_requests_total") for f in api) >= 4
    )  # logins, tickets
    logins = sum(
        _total(f, "chat_http_requests", "chat_http_requests_total", view="auth-login", status="200")
        for f in api
    )
    assert logins >= 2
    assert sum(_total(f, "chat_http_request_seconds", "chat_http_request_seconds_count") for f in api) >= 4

    def sync_workers() -> list[dict[str, list[Any]]] | None:
        scraped = [_scrape(port) for port in _sync_worker_ports(stack)]
        tasks = sum(
            _total(
                f, "chat_celery_tasks", "chat_celery_tasks_total", task="chat.messages_sync", state="SUCCESS"
            )
            for f in scraped
        )
        return scraped if tasks >= 1 else None

    workers = _until(sync_workers)
    assert workers, "no sync worker counted its task"
    assert sum(_total(f, "chat_messages_stored", "chat_messages_stored_total") for f in workers) >= 1
    assert sum(_total(f, "chat_store_seconds", "chat_store_seconds_count") for f in workers) >= 1
    assert sum(_total(f, "chat_sync_batch_size", "chat_sync_batch_size_count") for f in workers) >= 1
    assert sum(_total(f, "chat_publish_seconds", "chat_publish_seconds_count") for f in workers) >= 1

    beat = _scrape(stack.metrics_base + 3)
    queues = {s.labels["queue"] for s in beat["chat_queue_depth"]}
    assert {"sync", "push", "sweep", "presence"} <= queues
    assert "chat_queue_unacked" in beat
    for offset in (0, 1, 2):  # worker-push, worker-sweep, worker-presence
        assert "chat_celery_tasks" in _scrape(stack.metrics_base + offset)

    for path in ("/metrics", "/metrics?format=text", "//metrics", "/%6detrics"):
        status, body, _ = _get(f"http://127.0.0.1:{stack.lb_port}{path}")
        assert status == 404, (path, status)
        assert "chat_" not in body
    for device in (a1, b1):
        await device.close()


def test_processes_log_json_lines_with_their_name_and_the_request_id(stack: Stack) -> None:
    """LOG_FORMAT=json: the chat servers' log lines are JSON objects naming the process; a request
    through the load balancer gets nginx's request id, which the API server's access line shows."""
    status, _, headers = _get(f"http://127.0.0.1:{stack.lb_port}/api/v1/no-such-thing")
    assert status == 404
    request_id = headers["X-Request-ID"]
    assert len(request_id) == 32  # nginx's $request_id

    logs = stack.var / "log"

    def api_line() -> bool:
        return any(request_id in (logs / f"api-{i}.log").read_text() for i in (1, 2))

    assert _until(api_line), "the request id is on no API server's log line"
    api_text = "".join((logs / f"api-{i}.log").read_text() for i in (1, 2))
    not_found = [
        json.loads(line)
        for line in api_text.splitlines()
        if line.startswith("{") and "no-such-thing" in line and request_id in line
    ]
    assert not_found, "the 404 has no JSON line with its request id"
    assert (not_found[0]["request_id"], not_found[0]["kind"]) == (request_id, "api")

    chat_lines = [
        json.loads(line) for line in (logs / "chat-1.log").read_text().splitlines() if line.startswith("{")
    ]
    assert chat_lines, "chat-1 logged no JSON line"
    assert {line["process"] for line in chat_lines} == {"chat-1"}
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in chat_lines)
