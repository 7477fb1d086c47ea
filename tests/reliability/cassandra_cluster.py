"""A 3-node Cassandra cluster of the fault suite's own: scripts/services.sh with CASSANDRA_NODES=3,
in a scratch var dir, on 127.0.0.1, .2 and .3 and on ports chosen at run time (the shared single
node of `make services` keeps 127.0.0.1:9042). A test stops and starts single nodes through the
same script (`cassandra-<i>`), as an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from tests.stack import ROOT

NODES = 3
HOSTS = [f"127.0.0.{i}" for i in range(1, NODES + 1)]


def free_port_on_every_host() -> int:
    """A port free on each of HOSTS (a node of the cluster listens on each with the same port)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((HOSTS[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in HOSTS[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every host")


class CassandraCluster:
    def __init__(self, var: Path) -> None:
        self.var = var
        self.port = free_port_on_every_host()
        self.storage_port = free_port_on_every_host()
        self.env = {
            **os.environ,
            "CHAT_VAR_DIR": str(var),
            "CASSANDRA_NODES": str(NODES),
            "CASSANDRA_HOSTS": ",".join(HOSTS),
            "CASSANDRA_PORT": str(self.port),
            "CASSANDRA_STORAGE_PORT": str(self.storage_port),
            # three JVMs on a small machine
            "CASSANDRA_MAX_HEAP_SIZE": "512M",
            "CASSANDRA_HEAP_NEWSIZE": "128M",
        }

    def services(self, action: str, target: str) -> None:
        done = subprocess.run(
            [str(ROOT / "scripts/services.sh"), action, target],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        """Every node, ready and knowing the others. The nodes' jars are the project's own when
        `make services` fetched them already (else services.sh fetches them through Maven)."""
        shared_lib = Path(os.environ.get("CHAT_VAR_DIR") or ROOT / "var").resolve() / "cassandra" / "lib"
        own_lib = self.var / "cassandra" / "lib"
        if any(shared_lib.glob(".version-*")) and not own_lib.exists():
            own_lib.parent.mkdir(parents=True, exist_ok=True)
            own_lib.symlink_to(shared_lib)
        self.services("start", "cassandra")

    def stop_node(self, node: int) -> None:
        self.services("stop", f"cassandra-{node}")

    def start_node(self, node: int) -> None:
        self.services("start", f"cassandra-{node}")

    def stop(self) -> None:
        subprocess.run(
            [str(ROOT / "scripts/services.sh"), "stop", "cassandra"],
            cwd=ROOT,
            env=self.env,
            timeout=300,
            check=False,
        )

    def settings(self, *, consistency: str) -> dict[str, Any]:
        """Django settings (override_settings) of a client of this cluster, keyspace at RF=3."""
        return {
            "CASSANDRA_HOSTS": HOSTS,
            "CASSANDRA_PORT": self.port,
            "CASSANDRA_REPLICATION": f"SimpleStrategy:{NODES}",
            "CASSANDRA_CONSISTENCY": consistency,
        }

    def app_env(self, *, consistency: str) -> dict[str, str]:
        """The same, as the environment of the stack's processes."""
        return {
            "CASSANDRA_HOSTS": ",".join(HOSTS),
            "CASSANDRA_PORT": str(self.port),
            "CASSANDRA_REPLICATION": f"SimpleStrategy:{NODES}",
            "CASSANDRA_CONSISTENCY": consistency,
        }
