"""Lua scripts run by their SHA-1 digest (EVALSHA), loaded into Redis on first use.

A script sent with EVAL travels in full with every call and is hashed by Redis each time; the
hot ones (a user's send budget, a socket's attach and detach) run by digest instead, and Redis
is sent the text again only when it answers NOSCRIPT (after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def run(self, client: redis.Redis, keys: list[str], *args: Any) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.text, len(keys), *keys, *args)

    async def run_async(self, client: aioredis.Redis, keys: list[str], *args: Any) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            return await client.eval(self.text, len(keys), *keys, *args)  # type: ignore[misc]
