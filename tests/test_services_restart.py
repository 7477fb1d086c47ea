"""`scripts/services.sh` stop and start are robust (a Redis of its own on a free port, in a scratch
var/): stop returns only once the process has exited, even behind a large backlog, so a start at
once finds the port free and the backlog kept; a Redis of this var/ left running without its pid
file is recognised and used, not reported as a stranger on the port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import ROOT, free_port

Scratch = tuple[dict[str, str], int]  # the environment of services.sh, the Redis port
BACKLOG = 100_000  # queued task messages of ~1 KB, as an overload run leaves in the broker


@pytest.fixture
def scratch_redis(tmp_path: Path) -> Iterator[Scratch]:
    port = free_port()
    env = {
        **os.environ,
        "CHAT_VAR_DIR": str(tmp_path / "var"),
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
    }
    yield env, port
    subprocess.run(["scripts/services.sh", "stop", "redis"], cwd=ROOT, env=env, timeout=400, check=False)


def _services(env: dict[str, str], action: str) -> str:
    done = subprocess.run(
        ["scripts/services.sh", action, "redis"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_waits_for_redis_to_exit_and_start_finds_the_backlog(
    scratch_redis: tuple[dict[str, str], int],
) -> None:
    env, port = scratch_redis
    _services(env, "start")
    client = redis.Redis(host="127.0.0.1", port=port)
    payload = b"x" * 1000
    for first in range(0, BACKLOG, 10_000):
        with client.pipeline(transaction=False) as pipe:
            for _ in range(first, first + 10_000):
                pipe.lpush("sync", payload)
            pipe.execute()
    pid = int(client.execute_command("INFO", "server")["process_id"])
    client.close()
    _services(env, "stop")
    assert not _alive(pid)  # gone when stop returns, not merely told to go
    _services(env, "start")
    client = redis.Redis(host="127.0.0.1", port=port)
    assert client.llen("sync") == BACKLOG  # the append-only file kept the backlog
    client.close()


def test_a_redis_of_this_var_left_without_its_pid_file_is_used(
    scratch_redis: tuple[dict[str, str], int],
) -> None:
    env, _ = scratch_redis
    _services(env, "start")
    pid_file = Path(env["CHAT_VAR_DIR"]) / "run" / "redis.pid"
    pid = int(pid_file.read_text())
    pid_file.unlink()
    assert "using it" in _services(env, "start")
    assert int(pid_file.read_text()) == pid
    pid_file.unlink()
    _services(env, "stop")  # found by its data directory too
    assert not _alive(pid)
