"""The (sender, client_msg_id) claims that make storing a message idempotent (docs/message-store.md):
one Redis key per claim, holding the whole winning message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis

from chat.domain.records import PendingMessage

_CLAIM = "chat:claim:{}:{}"  # sender id, client_msg_id


def _queue_claims(pipe: Any, messages: Sequence[PendingMessage], *, ttl: int, claim: bool) -> None:
    """SET each message's claim key to the message: only if free, returning the holder (`claim`),
    or unconditionally (restoring a claim Redis forgot)."""
    for m in messages:
        key, value = _CLAIM.format(m.sender_id, m.client_msg_id), orjson.dumps(m.as_dict())
        pipe.set(key, value, nx=claim, get=claim, ex=ttl)


def _claim_answers(pending: Sequence[PendingMessage], answers: list[Any]) -> list[PendingMessage]:
    return [
        p if old is None else PendingMessage.from_dict(orjson.loads(old))
        for p, old in zip(pending, answers, strict=True)
    ]


def message_claims(
    client: redis.Redis, pending: Sequence[PendingMessage], *, ttl: int
) -> list[PendingMessage]:
    """Claim each message's (sender, client_msg_id), in order, in one round trip: the message that
    holds the claim — the message itself when the claim was free (or already its own). Atomic per
    key (SET NX GET), so of racing claims exactly one wins and every other learns the winner."""
    with client.pipeline(transaction=False) as pipe:
        _queue_claims(pipe, pending, ttl=ttl, claim=True)
        return _claim_answers(pending, pipe.execute())


def message_claims_restore(client: redis.Redis, winners: Sequence[PendingMessage], *, ttl: int) -> None:
    """Put back claims Redis had forgotten (expired or lost), with the messages that hold them."""
    with client.pipeline(transaction=False) as pipe:
        _queue_claims(pipe, winners, ttl=ttl, claim=False)
        pipe.execute()


def message_claims_release(client: redis.Redis, pending: Sequence[PendingMessage], *, min_id: int) -> int:
    """Drop the claims of `pending` held by a message whose ID is `min_id` or larger (a message
    that was never stored, or a renumbering of it), so that a resend claims afresh; a claim of an
    older message stays (it may be stored: the claim table would find it anyway). Returns how
    many were dropped."""
    keys = [_CLAIM.format(m.sender_id, m.client_msg_id) for m in pending]
    held = client.mget(keys) if keys else []
    ours = [
        key
        for key, value in zip(keys, held, strict=True)  # type: ignore[arg-type]
        if value is not None and PendingMessage.from_dict(orjson.loads(value)).id >= min_id
    ]
    return int(client.delete(*ours)) if ours else 0  # type: ignore[arg-type]


_PERHAPS_WRITTEN = "chat:claim-perhaps-written:{}:{}"
PERHAPS_WRITTEN_TTL = 3600  # longer than every retry of a sync task


def message_claims_mark_perhaps_written(client: redis.Redis, pending: Sequence[PendingMessage]) -> None:
    """A store of these messages timed out: some rows may be written. A later attempt that finds
    the store refusing outright must then keep their claims (`message_claims_perhaps_written`)."""
    with client.pipeline(transaction=False) as pipe:
        for m in pending:
            pipe.set(_PERHAPS_WRITTEN.format(m.sender_id, m.client_msg_id), 1, ex=PERHAPS_WRITTEN_TTL)
        pipe.execute()


def message_claims_perhaps_written(client: redis.Redis, pending: Sequence[PendingMessage]) -> list[bool]:
    """For each message: whether an earlier attempt to store it may have written rows."""
    keys = [_PERHAPS_WRITTEN.format(m.sender_id, m.client_msg_id) for m in pending]
    return [value is not None for value in client.mget(keys)] if keys else []  # type: ignore[union-attr]


def message_claims_clear(client: redis.Redis) -> int:
    """Drop every claim (tests: after the claim table is truncated, Redis must not remember it)."""
    keys = list(client.scan_iter(match=_CLAIM.format("*", "*"), count=1000))
    keys += list(client.scan_iter(match=_PERHAPS_WRITTEN.format("*", "*"), count=1000))
    return int(client.delete(*keys)) if keys else 0  # type: ignore[arg-type]
