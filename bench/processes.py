"""The processes of the running stack, by kind, and the CPU they use while a step runs.

Found the way the stack's own scripts know them: the application programs from supervisord
(`supervisorctl status`, scripts/run.sh), the services from their pid files (scripts/services.sh:
`run/redis.pid`, `run/cassandra.pid`, `run/nginx.pid`, PostgreSQL's `postmaster.pid`), each with
every process below it (Celery's pool processes, PostgreSQL's backends, nginx's workers). A process
started by hand outside supervisord is not seen. CPU is user plus system time from /proc.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs

_PROGRAM = re.compile(r"^(\S+)\s+RUNNING\s+pid (\d+),")


def program_kind(name: str) -> str:
    """supervisord's program name without its group or instance number: `chat-2` → `chat`,
    `worker-sync:worker-sync-0` → `worker-sync`."""
    return re.sub(r"-\d+$", "", name.split(":", 1)[0])


def supervised(var_dir: Path) -> dict[str, int]:
    """The running programs of supervisord: name → pid (none when supervisord is not running)."""
    ctl = Path(sys.executable).parent / "supervisorctl"
    conf = var_dir / "supervisord.conf"
    if not conf.exists():
        return {}
    try:
        out = subprocess.run(
            [str(ctl), "-c", str(conf), "status"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {m[1]: int(m[2]) for line in out.splitlines() if (m := _PROGRAM.match(line))}


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def services(var_dir: Path) -> dict[str, int]:
    """The backing services from their pid files: kind → pid."""
    files = {
        "redis": var_dir / "run" / "redis.pid",
        "cassandra": var_dir / "run" / "cassandra.pid",
        "nginx": var_dir / "run" / "nginx.pid",
        "postgres": var_dir / "postgres" / "postmaster.pid",
    }
    return {kind: pid for kind, path in files.items() if (pid := _pid_file(path)) is not None}


@dataclass
class Sample:
    """CPU seconds so far of every process of the stack, by pid, with its kind."""

    at: float
    cpu: dict[int, tuple[str, float]]


class StackProcesses:
    """The stack's process trees; `sample()` reads their CPU. The roots are found once and again
    only when one of them is gone (a program restarted)."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.roots: dict[int, str] = {}

    def _discover(self) -> None:
        roots = {pid: program_kind(name) for name, pid in supervised(self.var_dir).items()}
        roots |= {pid: kind for kind, pid in services(self.var_dir).items()}
        self.roots = roots

    def sample(self) -> Sample:
        table = procs.table()
        if not self.roots or any(pid not in table for pid in self.roots):
            self._discover()
        parents = {pid: ppid for pid, (ppid, _cpu) in table.items()}
        cpu: dict[int, tuple[str, float]] = {}
        for root, kind in self.roots.items():
            for pid in procs.descendants([root], parents):
                cpu[pid] = (kind, table[pid][1])
        return Sample(at=time.perf_counter(), cpu=cpu)

    def chat_server_pids(self) -> list[int]:
        if not self.roots:
            self._discover()
        return [pid for pid, kind in self.roots.items() if kind == "chat"]


def cpu_used(before: Sample, after: Sample, *, stored: int) -> dict[str, Any]:
    """CPU between two samples: ms per stored message (all processes and per kind), cores used.
    A process born in between counts in full; one gone in between is not seen after."""
    by_kind: dict[str, float] = {}
    count: dict[str, int] = {}
    for pid, (kind, seconds) in after.cpu.items():
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds - before.cpu.get(pid, (kind, 0.0))[1]
        count[kind] = count.get(kind, 0) + 1
    total = sum(by_kind.values())
    wall = after.at - before.at

    def per_message(seconds: float) -> float | None:
        return round(1000 * seconds / stored, 3) if stored else None

    return {
        "stored": stored,
        "wall_s": round(wall, 2),
        "cpu_s": round(total, 2),
        "cores": round(total / wall, 2) if wall > 0 else None,
        "ms_per_stored": per_message(total),
        "by_kind": {
            kind: {
                "processes": count[kind],
                "cpu_s": round(seconds, 2),
                "ms_per_stored": per_message(seconds),
            }
            for kind, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1])
        },
    }


def running_setting(stack: StackProcesses, name: str) -> str | None:
    """A setting as the running chat servers got it from their environment (None when they have
    none, or cannot be read: then the settings' own default applies)."""
    for pid in stack.chat_server_pids():
        value = procs.environ(pid).get(name)
        if value is not None:
            return value
    return None
