"""The fault suite's one stack (fault_stack.py), shared by the package's fault tests and stopped
when they are done; started only by the tests that ask for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from conftest import cassandra_truncate
from tests.reliability.fault_stack import FaultStack
from tests.reliability.proxy import ProxyProcess
from tests.reliability.redis_server import PrivateRedis
from tests.stack import Stack


@pytest.fixture(scope="package")
def faults(
    django_db_setup: None, cassandra_keyspace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultStack]:
    # a new PostgreSQL test database numbers users from 1 again: earlier runs' history must go
    cassandra_truncate(cassandra_keyspace)
    private_redis = PrivateRedis(tmp_path_factory.mktemp("fault-redis"))
    private_redis.start()
    db = settings.DATABASES["default"]
    proxy = ProxyProcess(
        {
            "redis": ("127.0.0.1", private_redis.port),
            "cassandra": (settings.CASSANDRA_HOSTS[0], settings.CASSANDRA_PORT),
            "postgres": (str(db["HOST"]), int(str(db["PORT"]))),
        }
    )
    proxy.start()
    try:
        stack = Stack.in_scratch(
            "chat-faults-",
            extra_env={
                "POSTGRES_DB": str(connection.settings_dict["NAME"]),
                "POSTGRES_HOST": "127.0.0.1",
                "POSTGRES_PORT": str(proxy.ports["postgres"]),
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(proxy.ports["redis"]),
                "TEST_REDIS_DB": "0",
                "CASSANDRA_HOSTS": "127.0.0.1",
                "CASSANDRA_PORT": str(proxy.ports["cassandra"]),
                "CASSANDRA_REQUEST_TIMEOUT": "5",
                # a dead server leaves discovery within seconds; a drain takes one second
                "CHAT_REGISTRY_TTL": "4",
                "CHAT_REGISTRY_REFRESH": "1",
                "CHAT_DRAIN_GRACE": "1",
                # a task of a killed worker is handed to another after 5 s
                "CELERY_VISIBILITY_TIMEOUT": "5",
                # the load of these tests comes from few users and one address
                "CHAT_RATE_LIMIT_MESSAGES": "100000",
                "CHAT_BUDGET_SYNC": "1000",
                "API_THROTTLE_ANON": "100000/min",
                "API_THROTTLE_USER": "100000/min",
                "AXES_FAILURE_LIMIT": "1000000",
                # as in production: sends to known conversations are checked without PostgreSQL
                "CHAT_SEND_RULES_CACHE_SECONDS": "30",
                # a client that stops reading is closed past 256 KiB unsent (test_slow_consumer.py),
                # and its close frame waits long enough for the test to read up to it
                "CHAT_SEND_BACKLOG_MAX": str(256 * 1024),
                "CHAT_SLOW_CLOSE_GRACE": "60",
                # the kernel holds little of it: on the loopback its send buffer grows to 4 MB
                "CHAT_SOCKET_SEND_BUFFER": str(64 * 1024),
            },
        )
        fault_stack = FaultStack(stack=stack, redis=private_redis, proxy=proxy)
        stack.start()
        try:
            # as Stack.wait_ready, with the patience a machine shared with other test runs needs
            stack.wait_all_running(timeout=120)
            for port in [*stack.api_ports, *stack.chat_ports]:
                stack.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)
            fault_stack.wait_registered()
            yield fault_stack
        finally:
            # the rows of this run and the processes' logs outlive the stack's var/
            kept = tmp_path_factory.getbasetemp() / "reliability"
            shutil.copytree(stack.var / "log", kept / "log", dirs_exist_ok=True)
            if fault_stack.report.exists():
                shutil.copy(fault_stack.report, kept / "reliability.json")
            print(f"\nreliability rows and logs: {kept}")
            stack.stop()
    finally:
        proxy.stop()
        private_redis.stop()
