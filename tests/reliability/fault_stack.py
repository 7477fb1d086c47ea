"""The stack the fault tests break: tests/stack.py's processes, a Redis of their own, and the
suite's TCP proxy (proxy.py) between every process and Redis, Cassandra and PostgreSQL.

Through the proxy a test can add latency, reset every connection (what a restarted server looks
like to its clients) or refuse new ones, for one backing service, without touching the shared
PostgreSQL and Cassandra of other test runs; Redis is the stack's own, so it can really be
crashed and restarted.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from chat.store.redis import keys as redis_keys
from tests.reliability.proxy import ProxyProcess
from tests.reliability.redis_server import PrivateRedis
from tests.stack import Stack

Pids = dict[str, list[tuple[str, int | None]]]


@dataclass
class FaultStack:
    stack: Stack
    redis: PrivateRedis
    proxy: ProxyProcess

    @property
    def report(self) -> Path:
        return self.stack.var / "reliability.json"

    def pids(self, program: str) -> list[int]:
        return [pid for _, pid in self.stack.processes().get(program, []) if pid is not None]

    def process_names(self, program: str) -> list[str]:
        """supervisorctl's names of a program's processes (`worker-sync:worker-sync-0`, ...)."""
        names = [line.split()[0] for line in self.stack.ctl("status").splitlines() if line.strip()]
        return [name for name in names if name.split(":")[0] == program]

    def kill(self, program: str, sig: signal.Signals) -> list[int]:
        """Signal every process of a program (with its process group: a Celery worker's
        children too); returns the pids signalled."""
        pids = self.pids(program)
        for pid in pids:
            os.killpg(os.getpgid(pid), sig)
        return pids

    def wait_registered(self, count: int = 2, timeout: float = 30) -> None:
        """Until `count` chat servers are live in discovery (read from the stack's Redis)."""
        client = redis.Redis(port=self.redis.port, socket_timeout=5)
        deadline = time.monotonic() + timeout
        try:
            while len(redis_keys.servers_live(client)) < count:
                assert time.monotonic() < deadline, "chat servers did not register"
                time.sleep(0.2)
        finally:
            client.close()

    def wait_healthy(self, timeout: float = 60) -> None:
        self.stack.wait_all_running(timeout)
        self.wait_registered(timeout=timeout)

    def snapshot(self) -> Pids:
        return self.stack.processes()

    @staticmethod
    def restarts(before: Pids, after: Pids) -> dict[str, int]:
        """How many processes of each program run with another pid than before."""
        counts = {}
        for program, procs in after.items():
            old = {pid for _, pid in before.get(program, [])}
            counts[program] = sum(1 for _, pid in procs if pid not in old)
        return counts

    def assert_no_fatal(self) -> None:
        states = {
            f"{p}:{n}": state for p, procs in self.snapshot().items() for n, (state, _) in enumerate(procs)
        }
        assert not {"FATAL", "BACKOFF"} & set(states.values()), states

    @contextmanager
    def fault(self, do: str, route: str, **extra: float) -> Iterator[None]:
        """A proxy fault for the block's duration; the route passes traffic again after it."""
        self.proxy.command(do, route, **extra)
        try:
            yield
        finally:
            self.proxy.command("pass", route)
