"""Fixtures of the presence tests: a Redis without anyone's presence or routes from before."""

from __future__ import annotations

import pytest

from chatproject.redis_client import get_redis


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    client = get_redis()
    for pattern in ("presence:*", "chat:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
