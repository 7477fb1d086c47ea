"""A slow consumer: a member whose socket stops reading, and what it costs the others (issue 15,
item 7: the other members' delivery delayed by at most 200 ms at p99, the socket caught up or
closed with a documented code, the chat server's memory bounded).

One group of users of its own (`bench_slow_00`…): the senders, on one chat server, write RATE
messages/s of BODY_CHARS characters in all (~90 KB/s to every member); the readers and one more
member sit on the other chat server. That member's socket never reads: a 4 KB receive buffer set
before connecting, and the client library stops taking frames once one waits (max_queue=1).
Rounds alternate a phase without it and a phase with a freshly opened one (without first in odd
rounds, last in even ones), so load that drifts over the run, and the pause after each phase with
it, fall on both conditions alike: the phases without are the baseline of the same run.
Reported per condition, pooled over the rounds: the readers' p50/p99 delivery delay (from the time
a message was due, as every latency of the bench), deliveries and missing ones; the difference of
the p99s is the figure of the 200 ms bound. Per round: the slow socket's close code and the frames
it still had waiting when read again, and the RSS of the readers' server before the slow socket
opened, at the peak while it was open and after its close.

On the pipeline a chat server closes a socket that stays past CHAT_SEND_BACKLOG_MAX unsent with
4008. bench/run.sh starts its own stack with the fault stack's bound (256 KiB, a kernel send
buffer of 64 KiB) so that the close comes within a phase; at the defaults (4 MiB, the kernel's
buffer autotuned up to 4 MB) this stream would take about 90 s to reach it, and a phase then
reports the socket as not closed. The baseline relay (one process: senders, readers and the slow
socket on it alike) has no such bound: websockets' `broadcast` keeps what a socket does not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import procs
from bench.client import ChatConnection, FrameHandler
from bench.measure import Recorder, Traffic, ms, percentile
from bench.scenarios.traffic import Runner, close_all
from bench.stack import BenchUser, SlowGroup

RATE = 40.0  # messages per second, all senders together
BODY_CHARS = 2000  # ~2.2 KB a frame (the fault test's size: a sync page of them stays under 1 MiB)
BODY = ("bench slow consumer: " + "lorem ipsum dolor sit amet " * 80)[:BODY_CHARS]
RECEIVE_BUFFER = 4096  # the slow socket's SO_RCVBUF, set before connecting: its window stays small
CHECKS_S = 2.5  # after a phase, before the slow socket is read: two of the chat server's checks
READ_IDLE_S = 2.0  # reading the slow socket again: drained, and not closed, once this brings nothing
RSS_EVERY_S = 0.25
P99_ADDED_LIMIT_MS = 200.0  # issue 15, item 7

TicketOf = Callable[[BenchUser], Awaitable[str]]


@dataclass(frozen=True)
class Place:
    """Where the scenario's sockets go: the senders' server, the readers' (and the slow socket's)
    server, and how a user gets a connect ticket."""

    senders_url: str
    readers_url: str
    ticket: TicketOf


def _acks_only(recorder: Recorder) -> FrameHandler:
    """The senders' frames without their copies of each other's messages: the delay measured is
    the readers', on the slow socket's server."""

    def on_frame(conn: ChatConnection, frame: dict[str, Any], now: float) -> None:
        if frame.get("type") != "message.new":
            recorder.on_frame(conn, frame, now)

    return on_frame


async def _connect(
    users: list[BenchUser], url: str, place: Place, recorder: Recorder, on_frame: FrameHandler
) -> dict[int, ChatConnection]:
    conns: dict[int, ChatConnection] = {}
    for user in users:
        conn = ChatConnection(user_id=user.user_id, on_frame=on_frame, on_resend=recorder.on_resend)
        await conn.open(url, await place.ticket(user))
        conns[user.user_id] = conn
    return conns


async def not_reading(url: str, ticket: str) -> ClientConnection:
    """A socket to `url` that is never read: a small receive buffer, and the client library stops
    reading from it once one frame waits (max_queue=1)."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setblocking(False)
    async with asyncio.timeout(30):
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port or 80))
        return await connect(
            f"{url}?ticket={ticket}",
            sock=sock,
            max_queue=1,
            max_size=2**22,
            compression=None,
            ping_interval=None,
            open_timeout=30,
        )


async def read_again(ws: ClientConnection) -> dict[str, Any]:
    """Read the slow socket again until it closes, or until READ_IDLE_S brings nothing (the server
    kept it open: then it is closed here): its close code (None: none received) and the frames it
    still had waiting."""
    frames = 0
    try:
        while True:
            await asyncio.wait_for(ws.recv(), READ_IDLE_S)
            frames += 1
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return {"closed_by_server": True, "close_code": code, "frames_waiting": frames}
    except TimeoutError:
        await ws.close()
        return {"closed_by_server": False, "close_code": None, "frames_waiting": frames}


async def _rss_peak(pid: int, stop: asyncio.Event) -> int:
    peak = procs.rss_bytes(pid)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)
        peak = max(peak, procs.rss_bytes(pid))
    return peak


def _mib(value: int) -> float:
    return round(value / 2**20, 1)


def condition(traffics: list[Traffic]) -> dict[str, Any]:
    """The readers' figures of one condition, pooled over its phases."""
    latency = [x for t in traffics for x in t.receive_latency]
    expected = sum(t.expected_receipts for t in traffics)
    deliveries = sum(len(t.receipts) for t in traffics)
    return {
        "phases": len(traffics),
        "sent": sum(len(t.sent) for t in traffics),
        "acked": sum(len(t.acked) for t in traffics),
        "deliveries": deliveries,
        "missing": expected - deliveries,
        "duplicates": sum(t.duplicate_receipts for t in traffics),
        "p50_ms": ms(percentile(latency, 50)),
        "p99_ms": ms(percentile(latency, 99)),
        "max_ms": ms(max(latency, default=None)),
    }


async def slow_consumer(
    *, name: str, runner: Runner, group: SlowGroup, place: Place, rounds: int, phase_s: float
) -> dict[str, Any]:
    """The rounds of phases without and with the slow socket (module docstring)."""
    pid = procs.pid_listening_on(urlsplit(place.readers_url).port or 80)
    if pid is None:
        raise RuntimeError(f"{name}: no process listens at {place.readers_url}")
    recorder = runner.recorder
    senders: dict[int, ChatConnection] = {}
    readers: dict[int, ChatConnection] = {}

    async def phase(label: str, duration: float = phase_s) -> Traffic:
        sending = [(conn, group.conversation.id, len(readers)) for conn in senders.values()]
        _, traffic = await runner.drive(
            name=f"{name} slow consumer: {label}",
            senders=sending,
            rate=RATE,
            duration=duration,
            measured=False,
            body=BODY,
        )
        return traffic

    without: list[Traffic] = []
    with_slow: list[Traffic] = []
    per_round: list[dict[str, Any]] = []
    # the bench client's recorder holds every message of the run: a full garbage collection
    # through it would pause the client, and show as delay, in whichever phase it fell
    gc.collect()
    gc.freeze()
    try:
        senders |= await _connect(group.senders, place.senders_url, place, recorder, _acks_only(recorder))
        readers |= await _connect(group.readers, place.readers_url, place, recorder, recorder.on_frame)
        # not reported: the group's first sends fill caches, and what the scenario before left
        # (closing hundreds of sockets) is over before the first round
        await phase("warm-up")
        for n in range(1, rounds + 1):
            # odd rounds run the phase without first, even ones last: the phase that follows the
            # pause to read the slow socket again (traffic stopped for seconds: the next messages
            # find the pipeline idle) falls on either condition alike
            if n % 2:
                without.append(await phase(f"round {n}, without"))
            rss_before = procs.rss_bytes(pid)
            ws = await not_reading(place.readers_url, await place.ticket(group.slow))
            opened = time.perf_counter()
            stop = asyncio.Event()
            peak = asyncio.create_task(_rss_peak(pid, stop))
            try:
                with_slow.append(await phase(f"round {n}, with the slow socket"))
                await asyncio.sleep(max(0.0, opened + phase_s + CHECKS_S - time.perf_counter()))
                read_at = time.perf_counter() - opened
                slow = await read_again(ws)
            finally:
                stop.set()
            if not n % 2:
                without.append(await phase(f"round {n}, without"))
            per_round.append(
                {
                    "round": n,
                    "p99_ms_without": condition(without[-1:])["p99_ms"],
                    "p99_ms_with": condition(with_slow[-1:])["p99_ms"],
                    **slow,
                    "read_again_at_s": round(read_at, 1),  # after it was opened
                    "rss_mb": {
                        "before": _mib(rss_before),
                        "peak": _mib(await peak),
                        "after": _mib(procs.rss_bytes(pid)),
                    },
                }
            )
    finally:
        gc.unfreeze()
        await close_all({**senders, **readers})
    return summary(
        without=condition(without), with_slow=condition(with_slow), rounds=per_round, phase_s=phase_s
    )


def summary(
    *, without: dict[str, Any], with_slow: dict[str, Any], rounds: list[dict[str, Any]], phase_s: float
) -> dict[str, Any]:
    """Both conditions, the p99 the slow socket added (the figure of the 200 ms bound), its close
    codes and the readers' server's memory over the rounds."""
    added = (
        None
        if without["p99_ms"] is None or with_slow["p99_ms"] is None
        else round(with_slow["p99_ms"] - without["p99_ms"], 2)
    )
    return {
        "rate_per_s": RATE,
        "body_chars": BODY_CHARS,
        "phase_s": phase_s,
        "without": without,
        "with_slow": with_slow,
        "p99_added_ms": added,
        "p99_added_limit_ms": P99_ADDED_LIMIT_MS,
        "within_limit": added is not None and added <= P99_ADDED_LIMIT_MS,
        "close_codes": [r["close_code"] for r in rounds],
        "rss_growth_peak_mb": max(
            (round(r["rss_mb"]["peak"] - r["rss_mb"]["before"], 1) for r in rounds), default=None
        ),
        "rounds": rounds,
    }
