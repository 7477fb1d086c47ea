"""A Redis restart under a running stack loses no acknowledged message (DESIGN.md §5).

The stack gets a Redis server of its own (so the restart disturbs nothing else on the machine),
with its append-only file on, as the local stack runs it.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import User
from chat.services import conversation_direct_open
from tests.chat_client import Device
from tests.stack import Stack, api_call, free_port

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "yes",
                "--pidfile", str(self.dir / "redis.pid"), "--logfile", str(self.dir / "redis.log"),
            ],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode:
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while not subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode:
            assert time.monotonic() < deadline, "redis did not stop"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def redis_and_stack(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[tuple[PrivateRedis, Stack]]:
    root = tmp_path_factory.mktemp("redis-restart")
    redis = PrivateRedis(root / "redis")
    redis.start()
    stack = Stack(
        root / "var",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "REDIS_PORT": str(redis.port),
            "TEST_REDIS_DB": "0",
            "CHAT_REGISTRY_TTL": "4",
            "CHAT_REGISTRY_REFRESH": "1",
        },
    )
    stack.start()
    try:
        stack.wait_ready()
        yield redis, stack
    finally:
        stack.stop()
        redis.stop()


async def test_redis_restart_loses_no_message(
    redis_and_stack: tuple[PrivateRedis, Stack], alice: User, bob: User, cassandra_clean: str
) -> None:
    """Messages sent before, during and after a Redis restart are all stored once and delivered."""
    redis, stack = redis_and_stack
    conversation, _ = await asyncio.to_thread(conversation_direct_open, user=alice, other_id=bob.pk)
    a1 = Device.login(api=stack.api, username="alice", password=PASSWORD, name="a1")
    b1 = Device.login(api=stack.api, username="bob", password=PASSWORD, name="b1")
    await a1.connect(stack.chat_url(0))
    await b1.connect(stack.chat_url(1))
    before = [await a1.send(conversation.pk, f"before {i}") for i in range(10)]
    await a1.wait_acked(before)

    redis.stop()
    during = [await a1.send(conversation.pk, f"during {i}") for i in range(5)]  # refused or queued
    redis.start()
    after = [await a1.send(conversation.pk, f"after {i}") for i in range(10)]
    await a1.wait_acked(during + after, wait=90, resend_every=3)

    expected = sorted(
        [f"before {i}" for i in range(10)]
        + [f"during {i}" for i in range(5)]
        + [f"after {i}" for i in range(10)]
    )
    status, page = api_call(
        stack.api, "GET", f"conversations/{conversation.pk}/messages?limit=100", token=a1.token
    )
    assert status == 200
    assert sorted(m["body"] for m in page["messages"]) == expected  # all stored, none twice
    await b1.sync()  # live delivery may have missed some while Redis was down; sync repairs it
    assert sorted(m["body"] for m in b1.seen.values()) == expected
    for device in (a1, b1):
        await device.close()
