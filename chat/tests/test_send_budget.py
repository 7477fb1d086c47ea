"""The users' send budgets in Redis, checked for a turn's sends in one round trip
(`chat.store.redis.limits.rate_limits_take`, by EVALSHA), against the real Redis."""

from __future__ import annotations

import uuid

from chat.store.redis import limits
from chatproject.redis_client import get_async_redis


async def test_a_round_counts_each_send_in_order_and_refuses_past_the_limit() -> None:
    """Five sends of one user and one of another in one round, limit 3: the first three of the
    first user pass, the next two are refused with the wait, the other user passes."""
    first, second = (int(uuid.uuid4().int % 10**9) for _ in range(2))
    answers = await limits.rate_limits_take(
        get_async_redis(), user_ids=[first] * 5 + [second], limit=3, window=10
    )
    assert [entry is not None for entry, _ in answers] == [True, True, True, False, False, True]
    assert all(0 < wait <= 10_000 for entry, wait in answers if entry is None)
    await limits.rate_limit_return(get_async_redis(), user_id=first, entry=str(answers[0][0]))
    [(entry, _)] = await limits.rate_limits_take(get_async_redis(), user_ids=[first], limit=3, window=10)
    assert entry is not None  # a returned send frees its place


async def test_after_redis_forgot_the_script_it_is_loaded_again_and_nothing_counts_twice() -> None:
    """After SCRIPT FLUSH (as after a Redis restart) the round's runs find no script; they run
    again once it is loaded, and each send is counted once."""
    user = int(uuid.uuid4().int % 10**9)
    client = get_async_redis()
    await client.script_flush()
    answers = await limits.rate_limits_take(client, user_ids=[user, user], limit=3, window=10)
    assert all(entry is not None for entry, _ in answers)
    [(entry, _)] = await limits.rate_limits_take(client, user_ids=[user], limit=3, window=10)
    assert entry is not None
    [(entry, _)] = await limits.rate_limits_take(client, user_ids=[user], limit=3, window=10)
    assert entry is None  # exactly three counted
