"""The bench's set-up pieces: idle connections are real device logins within the per-user socket
limit (bench/stack.py); the client's outbox sends shed messages again; the hop figures, the
stack's process trees and the recovery time are computed as `make bench` reports them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import override_settings
from websockets.asyncio.server import ServerConnection, serve

from accounts.models import DeviceToken
from accounts.selectors import device_login_alive
from bench import procs
from bench.client import ChatConnection
from bench.hops import HopCollector, hops_summary
from bench.measure import Recorder, Traffic, sustained
from bench.processes import StackProcesses, cpu_used, program_kind
from bench.scenarios.overload import per_second, recovery_s
from bench.scenarios.slow_consumer import not_reading, read_again
from bench.stack import idle_tickets_issue
from chat.store.redis.tickets import ticket_redeem


@pytest.mark.django_db
def test_idle_tickets_are_device_logins_spread_over_users() -> None:
    """25 idle tickets at 10 sockets per user: three users, each ticket a live device login."""
    with override_settings(CHAT_SOCKETS_PER_USER=10):
        tickets = idle_tickets_issue(0, 25)
    claims = [asyncio.run(ticket_redeem(ticket)) for ticket in tickets]
    assert sorted(Counter(c.user_id for c in claims).values()) == [5, 10, 10]
    assert len({c.device_id for c in claims}) == 25
    assert all(device_login_alive(user_id=c.user_id, device_id=c.device_id) for c in claims)
    with override_settings(CHAT_SOCKETS_PER_USER=10):
        again = idle_tickets_issue(0, 5)  # the next run: the earlier run's logins are gone
    assert not any(device_login_alive(user_id=c.user_id, device_id=c.device_id) for c in claims)
    assert DeviceToken.objects.filter(user__username__startswith="bench_idle_").count() == len(again)


async def _outbox_round(codes: list[str]) -> tuple[list[str], Traffic]:
    """A server that answers the first sends with `codes` (retry_after_ms 20) and then acks;
    returns the client_msg_ids it saw and the client's traffic."""
    seen: list[str] = []

    async def handle(ws: ServerConnection) -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            seen.append(frame["client_msg_id"])
            if len(seen) <= len(codes):
                answer: dict[str, Any] = {
                    "type": "error",
                    "code": codes[len(seen) - 1],
                    "ref": frame["client_msg_id"],
                    "retry_after_ms": 20,
                }
            else:
                answer = {"type": "message.ack", "client_msg_id": frame["client_msg_id"], "message_id": "7"}
            await ws.send(orjson.dumps(answer).decode())

    recorder = Recorder()
    traffic = Traffic(name="outbox")
    async with serve(handle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = ChatConnection(user_id=1, on_frame=recorder.on_frame, on_resend=recorder.on_resend)
        await conn.open(f"ws://127.0.0.1:{port}/", "t")
        recorder.register(traffic, "m-1", time.perf_counter(), 0)
        await conn.send_message({"type": "message.send", "conversation_id": 1, "client_msg_id": "m-1"})
        for _ in range(200):
            if traffic.acked:
                break
            await asyncio.sleep(0.01)
        await conn.close()
    return seen, traffic


def test_outbox_sends_shed_and_rate_limited_messages_again() -> None:
    """`overloaded` and `rate_limited` answers are resent with the same client_msg_id after
    retry_after_ms, counted as refused and resent, not as errors."""
    seen, traffic = asyncio.run(_outbox_round(["overloaded", "rate_limited"]))
    assert seen == ["m-1", "m-1", "m-1"]
    assert traffic.acked == {"m-1"}
    assert traffic.message_ids == {7}
    summary = traffic.summary()
    assert (summary["shed"], summary["rate_limited"], summary["resends"]) == (1, 1, 2)
    assert summary["errors"] == {}
    assert summary["refused_messages"] == 1


def test_hops_summary_counts_intervals_with_both_ends() -> None:
    """An interval counts only samples that carry both its hops; no samples gives empty figures."""
    full: dict[str, float] = {"received": 0.0, "queued": 0.001, "task_start": 0.003, "stored": 0.006}
    full |= {"published": 0.007, "delivered": 0.010}
    partial: dict[str, float] = {"received": 0.0, "delivered": 0.020}
    summary = hops_summary([{"id": 1, "hops": full}, {"id": 2, "hops": partial}])
    assert summary["samples"] == 2
    assert summary["intervals"]["received→queued"] == {"count": 1, "p50_ms": 1.0, "p99_ms": 1.0}
    assert summary["intervals"]["received→delivered"]["count"] == 2
    assert summary["intervals"]["received→delivered"]["p99_ms"] == 20.0
    empty = hops_summary([])
    assert empty["samples"] == 0
    assert all(i["count"] == 0 for i in empty["intervals"].values())


def test_hop_collector_hands_each_step_its_own_samples() -> None:
    """Samples of another step's messages wait for it; samples naming no message go to the step
    during which they were taken."""
    batches: list[list[dict[str, Any]]] = [[{"id": 1, "hops": {}}, {"id": "2", "hops": {}}, {"hops": {}}]]

    def take() -> list[dict[str, Any]]:
        return batches.pop(0) if batches else []

    collector = HopCollector(take=take)
    assert [s.get("id") for s in collector.collect({1})] == [1, None]
    assert [s.get("id") for s in collector.collect({2})] == ["2"]


def test_stack_processes_are_found_with_their_children(tmp_path: Path) -> None:
    """A service found by its pid file counts with every process below it; CPU per message."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run(['sleep', '30'])"],
        env={**os.environ, "BENCH_TEST_SETTING": "42"},
    )
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "redis.pid").write_text(f"{parent.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sample = StackProcesses(tmp_path).sample()
            if len(sample.cpu) == 2:
                break
            time.sleep(0.05)
        assert {kind for kind, _ in sample.cpu.values()} == {"redis"}
        assert parent.pid in sample.cpu
        assert len(sample.cpu) == 2
        assert procs.environ(parent.pid)["BENCH_TEST_SETTING"] == "42"
        used = cpu_used(sample, sample, stored=10)
        assert used["by_kind"]["redis"]["processes"] == 2
        assert used["ms_per_stored"] == 0.0
    finally:
        for pid in procs.descendants([parent.pid], {p: pp for p, (pp, _) in procs.table().items()}):
            os.kill(pid, 9)
        parent.wait()
    assert program_kind("worker-sync:worker-sync-0") == "worker-sync"
    assert program_kind("chat-2") == "chat"


def test_recovery_is_the_first_second_from_which_every_second_is_good() -> None:
    """Per second of due time: p99 under 100 ms and nothing missing from there to the end."""
    traffic = Traffic(name="after overload", first_due=100.0)
    latencies = {0: 0.5, 1: 0.2, 2: 0.01, 3: 0.3, 4: 0.01, 5: 0.01}  # second → latency of its messages
    for i in range(60):  # 10 a second for 6 s
        traffic.sent.append(f"m-{i}")
        if i == 55:
            continue  # never received: second 5 is missing one
        traffic.receive_due.append(100.0 + i / 10)
        traffic.receive_latency.append(latencies[i // 10])
    seconds = per_second(traffic, rate=10)
    assert [s["missing"] for s in seconds] == [0, 0, 0, 0, 0, 1]
    assert recovery_s(seconds) is None
    assert recovery_s(seconds[:5]) == 4


def test_a_step_with_a_message_stored_twice_is_not_sustained() -> None:
    """The sustained rule: p99 under 100 ms, nothing missing, lost or duplicated."""
    step: dict[str, Any] = {"receive_p99_ms": 12.0, "missing_receipts": 0, "duplicate_receipts": 0}
    step |= {"acked": 10, "sent": 10, "errors": {}}
    assert sustained(step)
    assert not sustained(step | {"stored_duplicated": 1})
    assert not sustained(step | {"receive_p99_ms": 100.0})


async def _slow_socket_round(close_code: int | None) -> dict[str, Any]:
    """A server writes 300 frames of 2 KB to a socket that does not read, then (`close_code`)
    closes it behind them; the socket is read again a moment later."""

    async def handle(ws: ServerConnection) -> None:
        for i in range(300):
            await ws.send(orjson.dumps({"type": "message.new", "n": i, "body": "x" * 2000}).decode())
        if close_code is not None:
            await ws.close(close_code, "too slow")
        await ws.wait_closed()

    async with serve(handle, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await not_reading(f"ws://127.0.0.1:{port}/ws/chat", "t")
        await asyncio.sleep(0.3)
        return await read_again(ws)


def test_a_slow_socket_read_again_gives_its_waiting_frames_and_close_code() -> None:
    """The bench's non-reading socket, read again, counts the frames the server had sent it and
    reports the server's close code; one the server kept open is closed by the bench."""
    closed = asyncio.run(_slow_socket_round(4008))
    assert closed == {"closed_by_server": True, "close_code": 4008, "frames_waiting": 300}
    kept = asyncio.run(_slow_socket_round(None))
    assert kept == {"closed_by_server": False, "close_code": None, "frames_waiting": 300}
