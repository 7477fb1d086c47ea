"""The application processes of `make run` under supervisord, for real.

Starts the whole process set (two API servers, two chat servers, the sync and push workers, beat)
and an nginx load balancer on free ports in a scratch var dir, then checks that the load balancer
spreads requests over both API servers and that a killed process is restarted while the others
keep running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = {"api-1", "api-2", "chat-1", "chat-2", "worker-sync", "worker-push", "beat"}

pytestmark = pytest.mark.process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(self, var: Path) -> None:
        self.var = var
        self.lb_port = _free_port()
        self.api_ports = [_free_port(), _free_port()]
        self.chat_ports = [_free_port(), _free_port()]
        self.env = {
            **os.environ,
            "CHAT_VAR_DIR": str(var),
            "LB_PORT": str(self.lb_port),
            "API_PORTS": ",".join(map(str, self.api_ports)),
            "CHAT_PORTS": ",".join(map(str, self.chat_ports)),
            "DJANGO_SETTINGS_MODULE": "chatproject.settings.test",
        }

    def run(self, *args: str) -> str:
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def status(self) -> dict[str, tuple[str, int | None]]:
        out = subprocess.run(
            [str(ROOT / ".venv/bin/supervisorctl"), "-c", str(self.var / "supervisord.conf"), "status"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        result: dict[str, tuple[str, int | None]] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else None
                result[parts[0]] = (parts[1], pid)
        return result

    def wait_all_running(self, timeout: float = 60) -> dict[str, tuple[str, int | None]]:
        deadline = time.monotonic() + timeout
        status: dict[str, tuple[str, int | None]] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if set(status) == PROGRAMS and all(state == "RUNNING" for state, _ in status.values()):
                return status
            time.sleep(0.5)
        raise AssertionError(f"not all programs running: {status}")


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
    s = Stack(tmp_path / "var")
    s.run("scripts/services.sh", "start", "nginx")
    s.run("scripts/run.sh", "up")
    try:
        yield s
    finally:
        subprocess.run(["scripts/run.sh", "stop"], cwd=ROOT, env=s.env, timeout=60)
        subprocess.run(["scripts/services.sh", "stop", "nginx"], cwd=ROOT, env=s.env, timeout=30)


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
