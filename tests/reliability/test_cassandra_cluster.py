"""Fault 5: Cassandra as a 3-node cluster (RF=3, reads and writes at QUORUM) loses nodes under load.

The stack gets a cluster of its own (cassandra_cluster.py). 10 pairs of users, one sender and one
receiver each, send 5,000 messages. One node stops mid-stream: nothing is lost, and a read over
REST right after an ack always finds the message. A second node stops: no quorum is left, so every
send is refused with an `unavailable` error frame within seconds and nothing is acknowledged;
the clients keep those messages in their outboxes. Both nodes start again: without any restart of
the app, new sends are acknowledged and the outboxes drain; each acknowledged message is stored
once and reaches both devices of its conversation after catch-up.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from chat.store.cassandra.migrate import migrate
from tests.reliability.cassandra_cluster import CassandraCluster
from tests.reliability.fleet import Crowd, Member, Traffic, crowd_connected, first_ack_after
from tests.reliability.reconcile import assert_clean, reconcile
from tests.stack import Stack, api_call

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PAIRS = 10
MESSAGES = 5000
AFTER_RECOVERY = 200  # of MESSAGES, sent once both nodes are back
RATE = 60.0  # messages per second, all senders together
OUTAGE_SECONDS = 12.0  # two nodes down this long before they start again


@pytest.fixture
def cluster_and_stack(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CassandraCluster, Stack]]:
    """A 3-node cluster with the test keyspace at RF=3, and a stack reading and writing at QUORUM."""
    cluster = CassandraCluster(Path(tmp_path_factory.mktemp("cassandra-cluster")) / "var")
    try:
        cluster.start()
        with override_settings(**cluster.settings(consistency="QUORUM")):
            migrate()
        extra_env = {
            **cluster.app_env(consistency="QUORUM"),
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "CASSANDRA_REQUEST_TIMEOUT": "5",
            "CHAT_REGISTRY_TTL": "4",
            "CHAT_REGISTRY_REFRESH": "1",
            "CHAT_RATE_LIMIT_MESSAGES": "100000",
            "CHAT_BUDGET_SYNC": "1000",
            "API_THROTTLE_ANON": "100000/min",
            "API_THROTTLE_USER": "100000/min",
            "AXES_FAILURE_LIMIT": "1000000",
            "CHAT_SEND_RULES_CACHE_SECONDS": "30",
            "SYNC_WORKER_PROCESSES": "2",
        }
        with Stack.running("chat-cassandra-cluster-", extra_env=extra_env) as stack:
            try:
                yield cluster, stack
            finally:  # the processes' logs outlive the stack's var/
                kept = tmp_path_factory.getbasetemp() / "cassandra-cluster-logs"
                shutil.copytree(stack.var / "log", kept, dirs_exist_ok=True)
                print(f"\nlogs of the stack: {kept}")
    finally:
        cluster.stop()


class ErrorWatch:
    """When a send was first refused with an error frame that says "resend later": `unavailable`
    (the message store could not take it) or `overloaded` (the chat server sheds sends while its
    batches fail); the Device keeps no times."""

    CODES = ("unavailable", "overloaded")

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.first: dict[str, float] = {}  # client_msg_id -> when its first refusal arrived
        self.codes: dict[str, int] = dict.fromkeys(self.CODES, 0)
        self._seen = {id(m): 0 for m in members}
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            for member in self.members:
                errors = member.device.errors
                for frame in errors[self._seen[id(member)] :]:
                    if frame.get("code") in self.CODES and frame.get("ref"):
                        self.codes[frame["code"]] += 1
                        self.first.setdefault(str(frame["ref"]), time.monotonic())
                self._seen[id(member)] = len(errors)
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class ReadAfterAck:
    """While running: for every 10th message acknowledged, a history read over REST right after
    its ack, which must contain it (QUORUM write then QUORUM read, with a node down)."""

    def __init__(self, stack: Stack, senders: list[Member]) -> None:
        self.stack = stack
        self.senders = senders
        self.checked = 0
        self.missing: list[tuple[int, int]] = []
        self._done: set[str] = set()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        n = 0
        while True:
            for member in self.senders:
                for cmid, message_id in list(member.device.acks.items()):
                    if cmid in self._done:
                        continue
                    self._done.add(cmid)
                    n += 1
                    if n % 10 == 0:
                        await self._check(member, member.conversation_of[cmid], message_id)
            await asyncio.sleep(0.05)

    async def _check(self, member: Member, conversation_id: int, message_id: int) -> None:
        status, page = await asyncio.to_thread(
            api_call,
            self.stack.api,
            "GET",
            f"conversations/{conversation_id}/messages?around={message_id}&limit=3",
            None,
            member.account.token,
        )
        self.checked += 1
        if status != 200 or message_id not in {int(m["id"]) for m in page["messages"]}:
            self.missing.append((conversation_id, message_id))

    def start_from_now(self) -> None:
        """Only acks from now on are checked."""
        self._done |= {c for m in self.senders for c in m.device.acks}

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.mark.timeout(600)
async def test_cassandra_cluster_loses_two_nodes_and_recovers(
    cluster_and_stack: tuple[CassandraCluster, Stack], tmp_path: Path
) -> None:
    """Module docstring: one node down loses nothing and reads see acknowledged writes; two down
    refuse sends at once with `unavailable` and acknowledge nothing; both back, the app recovers
    by itself and every acknowledged message is stored once and on every member device."""
    cluster, stack = cluster_and_stack
    crowd = await crowd_connected(
        stack,
        prefix="cc",
        groups=PAIRS,
        senders_per_group=1,
        sender_url=stack.chat_url(0),
        receiver_url=stack.chat_url(1),
    )
    errors = ErrorWatch(crowd.senders)
    reads = ReadAfterAck(stack, crowd.senders)
    started = time.monotonic()
    traffic = Traffic(crowd.sending, rate=RATE, count=MESSAGES - AFTER_RECOVERY)
    traffic.start()

    # one node down, mid-stream
    await asyncio.sleep(15)
    reads.start_from_now()
    await asyncio.to_thread(cluster.stop_node, 3)
    one_down_at = time.monotonic()
    await asyncio.sleep(15)
    await reads.stop()

    # a second node down: no quorum
    await asyncio.to_thread(cluster.stop_node, 2)
    two_down_at = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS)
    restart_at = time.monotonic()
    acked_in_outage = [
        c
        for m in crowd.senders
        for c, t in m.device.ack_times.items()
        if two_down_at <= m.first_sent.get(c, 0.0) and t < restart_at
    ]
    sent_in_outage = [
        (m, c) for m in crowd.senders for c in m.sent if two_down_at <= m.first_sent[c] < restart_at - 5
    ]

    # both back, the app untouched
    await asyncio.gather(asyncio.to_thread(cluster.start_node, 2), asyncio.to_thread(cluster.start_node, 3))
    ready_at = time.monotonic()
    await traffic.finish()
    after = Traffic(crowd.sending, rate=RATE, count=AFTER_RECOVERY)
    after.start()
    await after.finish()
    await errors.stop()

    with override_settings(**cluster.settings(consistency="QUORUM")):
        row = await reconcile(
            fault="Cassandra 3 nodes RF=3 QUORUM: one node stopped, then a second, then both restarted",
            conversations=crowd.conversations,
            fault_ended_at=restart_at,
            report=tmp_path / "reliability.json",
        )
    await crowd.stop()
    _print_missing(crowd)

    refused_s = [errors.first[c] - m.first_sent[c] for m, c in sent_in_outage if c in errors.first]
    print(
        f"\nCASSANDRA CLUSTER: injected: node 3 stopped at {one_down_at - started:.0f} s, node 2 at "
        f"{two_down_at - started:.0f} s, both restarted at {restart_at - started:.0f} s (ready "
        f"{ready_at - restart_at:.1f} s later) | sent {row.sent}, acknowledged {row.acknowledged}, "
        f"stored {row.stored}, lost {row.lost}, duplicated {row.duplicated} | reads after ack with "
        f"one node down: {reads.checked}, missing {len(reads.missing)} | sends in the outage: "
        f"{len(sent_in_outage)}, refused {len(refused_s)} (error frames in all: {errors.codes}), after "
        f"{statistics.median(refused_s) if refused_s else float('nan'):.2f} s (median), "
        f"{max(refused_s, default=float('nan')):.2f} s (max) | recovery: first new ack "
        f"{row.recovery_s} s after the restart began, "
        f"{first_ack_after(crowd.senders, ready_at)} s after both nodes were ready"
    )
    assert_clean(row)
    assert reads.checked > 0
    assert not reads.missing, reads.missing
    assert not acked_in_outage, acked_in_outage  # nothing acknowledged without a quorum
    assert sent_in_outage
    assert len(refused_s) == len(sent_in_outage)  # each sender told, none left in silence
    assert row.recovery_s is not None


def _print_missing(crowd: Crowd) -> None:
    """For a failed run: each acknowledged message its receiver did not get, with its times."""
    for members in crowd.conversations.values():
        receiver, sender = members[0], members[1]
        seen = {int(m["id"]) for m in receiver.device.seen.values()}
        for cmid, message_id in sender.device.acks.items():
            if message_id not in seen:
                print(
                    f"missing on {receiver.name}: {cmid} -> {message_id}, first sent at "
                    f"{sender.first_sent.get(cmid)}, acknowledged at {sender.device.ack_times.get(cmid)}, "
                    f"receiver's cur_max {receiver.device.cur_max}"
                )
