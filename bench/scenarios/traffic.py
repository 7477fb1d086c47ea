"""What every traffic scenario shares: where clients connect, who sends to whom, and the runner of
open-loop steps (offer at a rate, drain, summarise; on the pipeline also the hop samples and the
stack's CPU of each step, `bench.meter`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from bench.client import Api, ChatConnection
from bench.config import WarmUp
from bench.measure import Recorder, Traffic, sustained
from bench.meter import StepMeter
from bench.stack import BenchUser

BODY = "bench message: " + "lorem ipsum dolor sit amet " * 3  # about 100 bytes
ALWAYS_RUN_UP_TO = 500  # ladder steps up to this rate run even past saturation (p99 at 500 is a headline)


@dataclass(frozen=True)
class Target:
    """Where clients connect: the pipeline through discovery, or the bare relay."""

    name: str
    relay_url: str | None = None  # baseline: the relay; the ticket is the user id

    async def assign(self, api: Api, user: BenchUser) -> tuple[str, str]:
        if self.relay_url is not None:
            return self.relay_url, str(user.user_id)
        return await api.chat_server(token=user.token)


async def close_all(conns: dict[int, ChatConnection]) -> None:
    gate = asyncio.Semaphore(100)

    async def one(conn: ChatConnection) -> None:
        async with gate:
            await conn.close()

    await asyncio.gather(*(one(c) for c in conns.values()), return_exceptions=True)


def spread(conns: dict[int, ChatConnection]) -> dict[str, int]:
    out: dict[str, int] = {}
    for conn in conns.values():
        out[conn.server_url] = out.get(conn.server_url, 0) + 1
    return out


Sender = tuple[ChatConnection, int, int]  # connection, conversation, receipts expected per message


@dataclass
class Runner:
    """What every traffic step of one side shares: the frame recorder, the progress bars, the
    traffic sent so far (for the final storage count), how long a step waits for its last
    receipts, and on the pipeline the meter of hop samples and CPU."""

    recorder: Recorder
    progress: Progress
    drain_s: float
    meter: StepMeter | None = None
    traffics: list[Traffic] = field(default_factory=list)

    async def offer(
        self, *, name: str, senders: list[Sender], rate: float, duration: float, body: str = BODY
    ) -> Traffic:
        """Send open loop at `rate` for `duration` s, round robin over `senders` (no waiting for
        what comes back)."""
        traffic = Traffic(name=name)
        self.traffics.append(traffic)
        total = int(rate * duration)
        task = self.progress.add_task(f"{name}: {rate:g}/s", total=total)
        tag = uuid.uuid4().hex[:8]
        start = time.perf_counter()
        traffic.first_due = start
        traffic.last_due = start + total / rate
        i = 0
        while i < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while i < due:
                conn, conversation_id, receivers = senders[i % len(senders)]
                cmid = f"{tag}-{i}"
                self.recorder.register(traffic, cmid, start + i / rate, receivers)
                frame = {"type": "message.send", "conversation_id": conversation_id, "client_msg_id": cmid}
                try:
                    await conn.send_message({**frame, "body": body})
                except Exception:
                    traffic.errors["send_failed"] += 1
                i += 1
            self.progress.update(task, completed=i)
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        traffic.offered_until = time.perf_counter()
        self.progress.remove_task(task)
        return traffic

    async def drain(self, traffics: list[Traffic], *, within: float) -> None:
        """Wait up to `within` s for the last acknowledgements and receipts of `traffics`."""
        deadline = time.perf_counter() + within
        # receipts are counted by frame callbacks: polling them is simpler than an event per step
        while not all(t.complete() for t in traffics) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    @staticmethod
    def report(traffic: Traffic, *, rate: float, duration: float) -> dict[str, Any]:
        """The step's figures (kept on the traffic: the storage count adds to them)."""
        traffic.result = {"offered_per_s": rate, "duration_s": duration, **traffic.summary()}
        traffic.result["sustained"] = sustained(traffic.result)
        return traffic.result

    async def drive(
        self,
        *,
        name: str,
        senders: list[Sender],
        rate: float,
        duration: float,
        drain: float | None = None,
        measured: bool = True,
        body: str = BODY,
    ) -> tuple[dict[str, Any], Traffic]:
        """One step: offer, drain, report; measured steps of the pipeline add their hop samples
        and the stack's CPU."""
        before = await self.meter.begin() if self.meter is not None and measured else None
        traffic = await self.offer(name=name, senders=senders, rate=rate, duration=duration, body=body)
        await self.drain([traffic], within=self.drain_s if drain is None else drain)
        result = self.report(traffic, rate=rate, duration=duration)
        if self.meter is not None and before is not None:
            result.update(await self.meter.end(before, [traffic]))
        return result, traffic

    async def steps(
        self, *, name: str, senders: list[Sender], rates: list[float], duration: float
    ) -> list[dict[str, Any]]:
        """One step per rate; stops after a step that saturated past ALWAYS_RUN_UP_TO (the rest
        are reported as not run)."""
        out: list[dict[str, Any]] = []
        for rate in rates:
            step, _ = await self.drive(name=name, senders=senders, rate=rate, duration=duration)
            out.append(step)
            if saturated(step) and rate >= ALWAYS_RUN_UP_TO:
                out += [{"offered_per_s": r, "skipped": "a lower rate saturated"} for r in rates[len(out) :]]
                break
        return out


def saturated(step: dict[str, Any]) -> bool:
    """A step so far past capacity that higher rates would only pile up a backlog: receipts
    missing, a p99 over a second, or deliveries falling 5 % or more behind the offered rate."""
    p99 = step["receive_p99_ms"]
    expected_per_s = step["offered_per_s"] * step["expected_receipts"] / max(1, step["sent"])
    return bool(
        step["missing_receipts"] > 0.01 * max(1, step["expected_receipts"])
        or p99 is None
        or p99 > 1000
        or step["delivered_per_s"] < 0.95 * expected_per_s
    )


def pair_senders(
    conns: dict[int, ChatConnection], pairs: list[tuple[BenchUser, BenchUser, int]]
) -> list[Sender]:
    """1:1: the first user of each pair sends to the second."""
    return [(conns[a.user_id], cid, 1) for a, _b, cid in pairs]


def group_senders(
    conns: dict[int, ChatConnection], groups: list[tuple[int, tuple[int, ...]]]
) -> list[Sender]:
    """Groups: every member sends in turn (the groups interleaved); all the others receive."""
    by_group = [[(conns[uid], cid, len(members) - 1) for uid in members] for cid, members in groups]
    return [sender for round_ in zip(*by_group, strict=False) for sender in round_]


async def settle(traffics: list[Traffic], *, within: float) -> int:
    """Wait until every message sent so far is acknowledged (stored); returns how many are not."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        missing = sum(len(t.sent) - len(t.acked) for t in traffics)
        if missing == 0:
            return 0
        await asyncio.sleep(0.2)
    return sum(len(t.sent) - len(t.acked) for t in traffics)


async def ladder(
    runner: Runner,
    *,
    name: str,
    senders: list[Sender],
    rates: list[float],
    duration: float,
    warmup: WarmUp,
) -> list[dict[str, Any]]:
    """A warm-up, not reported (the first send of each conversation fills caches, prepared
    statements and pools on either side), then one step per rate."""
    await runner.drive(
        name=f"{name} warm-up",
        senders=senders,
        rate=warmup.rate,
        duration=max(warmup.at_least_s, len(senders) / warmup.rate),
        measured=False,
    )
    return await runner.steps(name=name, senders=senders, rates=rates, duration=duration)
