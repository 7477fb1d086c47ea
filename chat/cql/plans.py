"""Running CQL *plans*: read and write logic written once for blocking and asyncio callers.

A plan is a generator that yields a batch of `(cql, params)` pairs — statements that may run
concurrently — and receives, for each, its rows; its return value is the plan's result.
`run_plans` executes batches with the driver's `execute_concurrent`; `run_plans_async` awaits the
driver's futures through `execute_async`, so the event loop never blocks. Several plans advance in
lockstep, their batches merged into one round of concurrent statements.

CQL text names its keyspace as `{ks}`; statements are prepared once per session and run at the
session's consistency level (CASSANDRA_CONSISTENCY); a conditional statement (`IF NOT EXISTS`)
also gets CASSANDRA_SERIAL_CONSISTENCY for its Paxos phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, TypeVar

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent
from django.conf import settings

from chat.cql.session import cassandra_prepare, cassandra_session, execute_async

T = TypeVar("T")
Query = tuple[str, tuple[Any, ...]]
Rows = list[Any]
Plan = Generator[list[Query], list[Rows], T]


def _statement(cql: str) -> Any:
    stmt = cassandra_prepare(cql.format(ks=settings.CASSANDRA_KEYSPACE))
    if " IF NOT EXISTS" in cql:
        stmt.serial_consistency_level = getattr(
            ConsistencyLevel, settings.CASSANDRA_SERIAL_CONSISTENCY.upper()
        )
    return stmt


def execute_statements(batch: list[Query]) -> list[Rows]:
    """Run statements concurrently; rows of each, in order (raises on the first failure)."""
    if not batch:
        return []
    pairs = [(_statement(cql), params) for cql, params in batch]
    results = execute_concurrent(cassandra_session(), pairs, concurrency=64, raise_on_first_error=True)
    return [list(result.result_or_exc) for result in results]


async def execute_statements_async(batch: list[Query]) -> list[Rows]:
    if not batch:
        return []
    results = await asyncio.gather(*(execute_async(_statement(cql), params) for cql, params in batch))
    return [list(result.current_rows) for result in results]


def _advance(
    plans: list[Plan[Any]], out: list[Any], batches: dict[int, list[Query]], i: int, sent: Any
) -> None:
    try:
        batches[i] = plans[i].send(sent)
    except StopIteration as stop:
        out[i] = stop.value
        batches.pop(i, None)


class _Lockstep:
    """Several plans advanced together: one merged batch of statements per round."""

    def __init__(self, plans: list[Plan[Any]]) -> None:
        self.plans = plans
        self.out: list[Any] = [None] * len(plans)
        self.batches: dict[int, list[Query]] = {}
        for i in range(len(plans)):
            _advance(plans, self.out, self.batches, i, None)

    def pending(self) -> list[Query]:
        return [query for batch in self.batches.values() for query in batch]

    def deliver(self, rows: list[Rows]) -> None:
        start = 0
        for i, batch in list(self.batches.items()):
            _advance(self.plans, self.out, self.batches, i, rows[start : start + len(batch)])
            start += len(batch)


def run_plans(plans: list[Plan[Any]]) -> list[Any]:
    """Drive several plans together: each round runs every plan's next batch concurrently."""
    step = _Lockstep(plans)
    while step.batches:
        step.deliver(execute_statements(step.pending()))
    return step.out


async def run_plans_async(plans: list[Plan[Any]]) -> list[Any]:
    step = _Lockstep(plans)
    while step.batches:
        step.deliver(await execute_statements_async(step.pending()))
    return step.out


def run_plan(plan: Plan[T]) -> T:
    result: T = run_plans([plan])[0]
    return result


async def run_plan_async(plan: Plan[T]) -> T:
    result: T = (await run_plans_async([plan]))[0]
    return result
