"""A real process stack for process-level tests: supervisord running the program set of `make run`
(two API servers, two daphne chat servers, the sync, push, sweep and presence Celery workers,
beat) and an nginx load balancer, on free ports, in a scratch var dir, against the test databases
of this run.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = {
    "api-1",
    "api-2",
    "chat-1",
    "chat-2",
    "worker-sync",
    "worker-push",
    "worker-sweep",
    "worker-presence",
    "beat",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports, below the ephemeral range that `free_port`
    draws from (the Celery processes' metrics ports: METRICS_PORT_BASE + offsets)."""
    for _ in range(100):
        base = random.randrange(20000, 32000 - size)
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + size):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no {size} consecutive free ports")


class Stack:
    def __init__(self, var: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.var = var
        self.scratch: Path | None = None  # a directory of its own (`in_scratch`), removed by stop
        self.lb_port = free_port()
        self.api_ports = [free_port(), free_port()]
        self.chat_ports = [free_port(), free_port()]
        self.metrics_base = free_port_block(20)  # scripts/run.sh: push +0 ... beat +3, sync +10...
        self.env = {
            **os.environ,
            "CHAT_VAR_DIR": str(var),
            "LB_PORT": str(self.lb_port),
            "API_PORTS": ",".join(map(str, self.api_ports)),
            "CHAT_PORTS": ",".join(map(str, self.chat_ports)),
            "METRICS_PORT_BASE": str(self.metrics_base),
            "DJANGO_SETTINGS_MODULE": "chatproject.settings.test",
            # the processes run the real Celery workers, not the in-process eager mode of tests
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **(extra_env or {}),
        }
        # a stack's processes must use this run's test database, never the development one (a
        # run whose tests carry no django_db mark gets no test database: mark the module)
        database = self.env.get("POSTGRES_DB", "")
        if not database.startswith("test_"):
            raise AssertionError(f"a test stack on database {database!r}: mark the tests django_db")

    @classmethod
    def in_scratch(cls, prefix: str, *, extra_env: dict[str, str]) -> Stack:
        """A stack in a new directory of its own, which `stop` removes. nginx's unprivileged
        workers must read it, and every pytest run that starts makes pytest's own temporary
        directories private again (a concurrent run would lock them out mid-test)."""
        scratch = Path(tempfile.mkdtemp(prefix=prefix))
        scratch.chmod(0o755)
        stack = cls(scratch / "var", extra_env=extra_env)
        stack.scratch = scratch
        return stack

    @classmethod
    @contextlib.contextmanager
    def running(cls, prefix: str, *, extra_env: dict[str, str]) -> Iterator[Stack]:
        """A stack of its own (`in_scratch`), started and ready for the block, stopped after it."""
        stack = cls.in_scratch(prefix, extra_env=extra_env)
        stack.start()
        try:
            stack.wait_ready()
            yield stack
        finally:
            stack.stop()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}/api/v1/"

    def chat_url(self, index: int) -> str:
        """The chat server's public URL, as discovery hands it out: through the load balancer."""
        return f"ws://127.0.0.1:{self.lb_port}/ws/chat-{index + 1}/chat"

    def chat_direct_url(self, index: int) -> str:
        """The chat server's own port, bypassing the load balancer."""
        return f"ws://127.0.0.1:{self.chat_ports[index]}/ws/chat"

    def run(self, *args: str) -> str:
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        self.run("scripts/services.sh", "start", "nginx")
        self._let_nginx_traverse()
        self.run("scripts/run.sh", "up")

    def _let_nginx_traverse(self) -> None:
        """nginx's workers run as `nobody`, and pytest's temporary directories are mode 700: let
        them through to the stack's var/ (request bodies they buffer on disk, media files)."""
        for directory in [self.var, *self.var.parents]:
            if directory == Path(tempfile.gettempdir()) or directory == directory.parent:
                break
            directory.chmod(directory.stat().st_mode | 0o011)

    def stop(self) -> None:
        subprocess.run(["scripts/run.sh", "stop"], cwd=ROOT, env=self.env, timeout=90, check=False)
        subprocess.run(
            ["scripts/services.sh", "stop", "nginx"], cwd=ROOT, env=self.env, timeout=30, check=False
        )
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def ctl(self, *args: str) -> str:
        return subprocess.run(
            [str(ROOT / ".venv/bin/supervisorctl"), "-c", str(self.var / "supervisord.conf"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def processes(self) -> dict[str, list[tuple[str, int | None]]]:
        """(state, pid) of each process of each program (a program such as worker-sync may run
        several: supervisorctl names them `<program>:<program>-<n>`)."""
        result: dict[str, list[tuple[str, int | None]]] = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else None
                result.setdefault(parts[0].split(":")[0], []).append((parts[1], pid))
        return result

    def status(self) -> dict[str, tuple[str, int | None]]:
        """(state, pid) of each program: RUNNING when all its processes run; the first one's pid."""
        result: dict[str, tuple[str, int | None]] = {}
        for name, procs in self.processes().items():
            states = {state for state, _ in procs}
            result[name] = (states.pop() if len(states) == 1 else "MIXED", procs[0][1])
        return result

    def wait_all_running(self, timeout: float = 180) -> dict[str, tuple[str, int | None]]:
        deadline = time.monotonic() + timeout
        status: dict[str, tuple[str, int | None]] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if set(status) == PROGRAMS and all(state == "RUNNING" for state, _ in status.values()):
                return status
            time.sleep(0.5)
        raise AssertionError(f"not all programs running: {status}")

    def wait_http(self, url: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=15):
                    return
            except (OSError, urllib.error.HTTPError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def wait_ready(self) -> None:
        """Every program running and answering: API servers, chat servers (registered), workers."""
        self.wait_all_running()
        for port in self.api_ports:
            self.wait_http(f"http://127.0.0.1:{port}/healthz")
        for port in self.chat_ports:
            self.wait_http(f"http://127.0.0.1:{port}/healthz")


def api_call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One JSON request to the REST API; returns (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, method=method, data=data)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None
