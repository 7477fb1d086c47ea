"""A Redis server of the fault suite's own, configured as `make services` runs the project's
(append-only file, fsync every second), so that restarting or crashing it disturbs no other test
run on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.stack import free_port


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, check=False)

    def _answers(self) -> bool:
        return self._cli("ping").stdout.strip() == b"PONG"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "yes",
                "--pidfile", str(self.dir / "redis.pid"), "--logfile", str(self.dir / "redis.log"),
            ],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._answers():  # PONG only once the append-only file is loaded
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)

    def _pid(self) -> int:
        return int((self.dir / "redis.pid").read_text())

    def _wait_gone(self, pid: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            assert time.monotonic() < deadline, "redis did not stop"
            time.sleep(0.1)

    def stop(self) -> None:
        """A clean shutdown (the append-only file flushed)."""
        pid = self._pid()
        self._cli("shutdown")
        self._wait_gone(pid)

    def crash(self) -> None:
        """kill -9: whatever was written after the last fsync of the append-only file is lost."""
        pid = self._pid()
        os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid)
        (self.dir / "redis.pid").unlink(missing_ok=True)
