"""The application processes of `make run` under supervisord, for real.

Starts the whole process set (two API servers, two chat servers, the sync, push, sweep and presence
workers, beat) and an nginx load balancer on free ports in a scratch var dir, then checks that the
load balancer spreads requests over both API servers and that a killed process is restarted while
the others keep running.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.stack import PROGRAMS, Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def _get_json(url: str) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "var", extra_env={"POSTGRES_DB": str(connection.settings_dict["NAME"])})
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_load_balancer_spreads_over_both_api_servers(stack: Stack) -> None:
    """/healthz through nginx is 200, and both API servers answer some of the requests."""
    stack.wait_all_running()
    for port in stack.api_ports:  # both API servers are up before counting
        assert _get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
    for _ in range(10):
        status, body = _get_json(f"http://127.0.0.1:{stack.lb_port}/healthz")
        assert status == 200
        assert body["checks"] == {"postgres": "ok", "redis": "ok", "cassandra": "ok"}
    for name in ("api-1", "api-2"):
        log = (stack.var / "log" / f"{name}.log").read_text()
        assert log.count('"GET /healthz') >= 2, f"{name} got no balanced traffic"


def test_killed_process_is_restarted_and_others_keep_running(stack: Stack) -> None:
    """kill -9 of a chat server: supervisord starts a new one; no other process is touched."""
    before = stack.wait_all_running()
    victim_pid = before["chat-1"][1]
    assert victim_pid is not None
    os.kill(victim_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    after = before
    while time.monotonic() < deadline:
        after = stack.status()
        if after.get("chat-1", ("", None))[0] == "RUNNING" and after["chat-1"][1] != victim_pid:
            break
        time.sleep(0.5)
    assert after["chat-1"][0] == "RUNNING"
    assert after["chat-1"][1] != victim_pid
    for name in PROGRAMS - {"chat-1"}:
        assert after[name] == before[name], f"{name} was disturbed"
    port = stack.chat_ports[0]
    assert _get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
