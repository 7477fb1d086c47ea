"""The process's one Cassandra `Cluster`/`Session`.

Created lazily on first use, re-created after a fork (a Celery prefork child gets its own; the
parent's sockets are never shared) and when a CASSANDRA_* setting changes (tests). Statements
are prepared once per session and cached.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import ssl
import threading
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_COLUMN_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@functools.lru_cache(maxsize=512)
def _row_class(columns: tuple[str, ...]) -> type[tuple[Any, ...]]:
    names = [_COLUMN_CHARS.sub("", name).lstrip("_0123456789") or f"c{i}" for i, name in enumerate(columns)]
    return namedtuple("Row", names, rename=True)


def named_tuple_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows as named tuples (`row.message_id`, `row.applied` for `[applied]`), as the driver's
    default factory gives them, but with the row class made once per column list instead of once
    per result: the driver's factory spends more time building the class than reading the rows."""
    cls = _row_class(tuple(columns))
    return [cls(*row) for row in rows]


@dataclass
class _Connection:
    pid: int
    cluster: Cluster
    session: Session
    prepared: dict[str, PreparedStatement] = field(default_factory=dict)


_conn: _Connection | None = None
_lock = threading.Lock()


def consistency_level() -> int:
    """The consistency level named by CASSANDRA_CONSISTENCY (ONE, LOCAL_QUORUM, ...)."""
    name = settings.CASSANDRA_CONSISTENCY.upper()
    try:
        return int(getattr(ConsistencyLevel, name))
    except AttributeError as exc:
        raise ValueError(f"unknown CASSANDRA_CONSISTENCY {name!r}") from exc


def _connect() -> _Connection:
    policy = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.CASSANDRA_LOCAL_DC or None))
    profile = ExecutionProfile(
        row_factory=named_tuple_rows,
        load_balancing_policy=policy,
        consistency_level=consistency_level(),
        request_timeout=settings.CASSANDRA_REQUEST_TIMEOUT,
    )
    # credentials and TLS: off locally, set for a real cluster (CASSANDRA_USERNAME, CASSANDRA_TLS)
    auth_provider = (
        PlainTextAuthProvider(username=settings.CASSANDRA_USERNAME, password=settings.CASSANDRA_PASSWORD)
        if settings.CASSANDRA_USERNAME
        else None
    )
    ssl_context = (
        ssl.create_default_context(cafile=settings.CASSANDRA_TLS_CA_CERTS or None)
        if settings.CASSANDRA_TLS
        else None
    )
    cluster = Cluster(
        contact_points=settings.CASSANDRA_HOSTS,
        port=settings.CASSANDRA_PORT,
        auth_provider=auth_provider,
        ssl_context=ssl_context,
        protocol_version=settings.CASSANDRA_PROTOCOL_VERSION,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.CASSANDRA_CONNECT_TIMEOUT,
        control_connection_timeout=settings.CASSANDRA_CONNECT_TIMEOUT,
        # a node that went down is tried again every 0.5 s, doubling up to 10 s (the driver's
        # default grows to 10 minutes): a node back after an outage takes requests within seconds
        # (a node's own UP event reconnects at once; this bounds the case where that is missed)
        reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=10.0),
        # the driver writes a request in several send() calls: with Nagle's algorithm the last
        # waits for the node's delayed ACK, 40 ms for every request larger than a few rows
        sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    try:
        session = cluster.connect()
    except Exception:
        cluster.shutdown()
        raise
    return _Connection(pid=os.getpid(), cluster=cluster, session=session)


def _current() -> _Connection:
    global _conn
    conn = _conn
    if conn is not None and conn.pid == os.getpid():
        return conn
    with _lock:
        if _conn is None or _conn.pid != os.getpid():
            # after a fork the inherited object belongs to the parent: drop it without shutdown
            _conn = _connect()
        return _conn


def cassandra_session() -> Session:
    """The Session of this process (not bound to a keyspace: statements name their keyspace)."""
    return _current().session


def cassandra_prepare(cql: str) -> PreparedStatement:
    """Prepare `cql` once per session and return the cached statement."""
    conn = _current()
    stmt = conn.prepared.get(cql)
    if stmt is None:
        stmt = conn.session.prepare(cql)
        conn.prepared[cql] = stmt
    return stmt


def cassandra_ping() -> str:
    """The node's release version, read with a prepared statement (the health check)."""
    row = (
        cassandra_session()
        .execute(cassandra_prepare("SELECT release_version FROM system.local WHERE key = ?"), ("local",))
        .one()
    )
    if row is None:
        raise RuntimeError("system.local returned no row")
    return str(row.release_version)


def cassandra_reset() -> None:
    """Forget this process's connection; the next use connects again.

    In the process that created it the cluster is shut down; in a forked child it is only
    dropped, since its sockets and threads belong to the parent.
    """
    global _conn
    with _lock:
        conn, _conn = _conn, None
    if conn is not None and conn.pid == os.getpid():
        conn.cluster.shutdown()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting.startswith("CASSANDRA_"):
        cassandra_reset()
