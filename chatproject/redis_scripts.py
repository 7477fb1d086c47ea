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

Call = tuple[list[str], tuple[Any, ...]]  # the keys and arguments of one run


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

    async def run_many_async(
        self, client: aioredis.Redis, calls: list[tuple[list[str], tuple[Any, ...]]]
    ) -> list[Any]:
        """Several runs in one round trip (a pipeline); the runs that found the script missing
        are run again, and only those, once it is loaded."""
        results: list[Any] = await self._pipeline(client, calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            await client.script_load(self.text)
            again = await self._pipeline(client, [calls[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _pipeline(
        self, client: aioredis.Redis, calls: list[tuple[list[str], tuple[Any, ...]]]
    ) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
