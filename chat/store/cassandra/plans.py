"""Running CQL *plans*: read and write logic as generators of statement rounds.

A plan is a generator that yields a batch of `(cql, params)` pairs — statements that may run
concurrently — and receives, for each, its rows; its return value is the plan's result.
The plain writes of a round travel as unlogged batches grouped by node (see `_requests`).
`run_plans` sends each round at once (`statements_start`) and waits for its rows. Several plans advance in
lockstep, their batches merged into one round of concurrent statements. Callers on an event loop
run them in a thread (`database_sync_to_async`).

CQL text names its keyspace as `{ks}`; statements are prepared once per session and run at the
session's consistency level (CASSANDRA_CONSISTENCY).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cassandra import ConsistencyLevel, CoordinationFailure, OperationTimedOut, Timeout, Unavailable
from cassandra.cluster import NoHostAvailable
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType, BoundStatement, Statement
from django.conf import settings

from chat.domain.errors import MessageStoreUnavailable
from chat.store.cassandra.session import cassandra_prepare, cassandra_session

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
    else:
        # every other statement is idempotent (writes carry their timestamp, DESIGN.md §4): the
        # driver may send it again to another node when its coordinator goes away mid-request
        stmt.is_idempotent = True
    return stmt


# plain writes of one round go to the node as unlogged batches: one request (and one response to
# decode) for many rows instead of one each, which is most of the cost per message on both sides.
# Rows are grouped by the node that holds their partition (the recommended use of an unlogged
# batch), and each batch stays under the thresholds of deploy/cassandra/cassandra.yaml.in
# (batch_size_warn_threshold 64 KiB, unlogged_batch_across_partitions_warn_threshold 128); a row
# larger than that goes alone.
BATCH_MAX_STATEMENTS = 100
BATCH_MAX_BYTES = 48_000
_PLAIN_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?!.*\bIF\b)", re.IGNORECASE | re.DOTALL)


def _size(params: tuple[Any, ...]) -> int:
    """Roughly what a row weighs in a batch: its text and blobs, and a little for the rest."""
    return 64 + sum(len(p) for p in params if isinstance(p, str | bytes))


def _replica(bound: BoundStatement) -> object:
    metadata = cassandra_session().cluster.metadata
    if len(metadata.all_hosts()) == 1:
        return None  # one node holds everything: no need to hash the partition key
    key = bound.routing_key
    if key is None:
        return None
    replicas = metadata.get_replicas(bound.keyspace, key)
    return replicas[0].endpoint if replicas else None


@dataclass
class _Group:
    statements: list[BoundStatement] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    size: int = 0

    def request(self) -> tuple[Statement, list[int]]:
        if len(self.statements) == 1:
            return self.statements[0], self.positions
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.is_idempotent = True  # plain writes only (`_PLAIN_WRITE`)
        for statement in self.statements:
            batch.add(statement)
        return batch, self.positions


def _requests(batch: list[Query]) -> list[tuple[Statement, list[int]]]:
    """The statements to send for a round, each with the positions of the queries it carries."""
    out: list[tuple[Statement, list[int]]] = []
    groups: dict[object, _Group] = {}  # by node
    for i, (cql, params) in enumerate(batch):
        bound = _statement(cql).bind(params)
        size = _size(params)
        if not _PLAIN_WRITE.match(cql) or size > BATCH_MAX_BYTES:
            out.append((bound, [i]))
            continue
        node = _replica(bound)
        group = groups.get(node)
        if group is not None and (
            len(group.statements) >= BATCH_MAX_STATEMENTS or group.size + size > BATCH_MAX_BYTES
        ):
            out.append(groups.pop(node).request())
            group = None
        if group is None:
            group = groups[node] = _Group()
        group.statements.append(bound)
        group.positions.append(i)
        group.size += size
    out += [group.request() for group in groups.values()]
    return out


def _spread(requests: list[tuple[Statement, list[int]]], rows: list[Rows], count: int) -> list[Rows]:
    out: list[Rows] = [[] for _ in range(count)]
    for (_, positions), got in zip(requests, rows, strict=True):
        if len(positions) == 1:
            out[positions[0]] = got
    return out


_REFUSED = (Unavailable, NoHostAvailable)  # too few replicas alive: the coordinator wrote nothing
_UNSERVED = (*_REFUSED, Timeout, OperationTimedOut, CoordinationFailure)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """The driver's errors of a cluster that cannot serve the consistency level, as the domain's
    MessageStoreUnavailable (one that may have written part of the round)."""
    try:
        yield
    except _UNSERVED as exc:
        raise MessageStoreUnavailable() from exc


def _round_failed(errors: list[BaseException], requests: int) -> None:
    """Raise for a round whose requests failed. `nothing_written` only when every request of the
    round was refused for want of live replicas: a timed-out or failed write may be half done on
    the replicas, and another request of the round may have succeeded."""
    unserved = [e for e in errors if isinstance(e, _UNSERVED)]
    if len(unserved) < len(errors):
        raise next(e for e in errors if not isinstance(e, _UNSERVED))
    refused = len(errors) == requests and all(isinstance(e, _REFUSED) for e in errors)
    raise MessageStoreUnavailable(nothing_written=refused) from errors[0]


def execute_statements(batch: list[Query]) -> list[Rows]:
    """Run statements concurrently; rows of each, in order (raises on the first failure)."""
    return statements_start(batch)()


ASYNC_MAX_REQUESTS = 256  # a round of more requests runs with bounded concurrency instead


def statements_start(batch: list[Query]) -> Callable[[], list[Rows]]:
    """Send a round of statements and return at once; calling the result waits for the rows of
    each, in order (raising the first failure). The driver's I/O thread does the waiting, so the
    caller can do other work (a Redis round trip) while Cassandra answers."""
    if not batch:
        return list
    try:
        requests = _requests(batch)  # prepares, and connects: nothing is sent yet
        session = cassandra_session()
    except _REFUSED as exc:
        raise MessageStoreUnavailable(nothing_written=True) from exc
    if len(requests) > ASYNC_MAX_REQUESTS:  # a big read: the driver's bounded concurrency, now
        with _store_errors():
            results = execute_concurrent(
                session, [(stmt, None) for stmt, _ in requests], concurrency=64, raise_on_first_error=True
            )
            done = _spread(requests, [list(result.result_or_exc) for result in results], len(batch))
        return lambda: done
    futures = [session.execute_async(stmt) for stmt, _ in requests]

    def rows() -> list[Rows]:
        got: list[Rows] = []
        errors: list[BaseException] = []
        for future in futures:  # every answer, failed or not, before judging the round
            try:
                got.append(list(future.result()))
            except Exception as exc:
                errors.append(exc)
        if errors:
            _round_failed(errors, len(futures))
        return _spread(requests, got, len(batch))

    return rows


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


def plan_start(plan: Plan[T]) -> Callable[[], T]:
    """Send a plan's first round and return at once; calling the result finishes the plan (its
    later rounds run as `run_plan` runs them) and returns its value."""
    try:
        first = next(plan)
    except StopIteration as stop:
        value: T = stop.value
        return lambda: value
    rows = statements_start(first)

    def finish() -> T:
        try:
            batch = plan.send(rows())
            while True:
                batch = plan.send(execute_statements(batch))
        except StopIteration as stop:
            result: T = stop.value
            return result

    return finish


def run_plan(plan: Plan[T]) -> T:
    result: T = run_plans([plan])[0]
    return result
