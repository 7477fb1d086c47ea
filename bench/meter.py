"""The meter of a pipeline step: the hop samples of its messages (`bench.hops`) and the CPU every
process of the stack used while it ran (`bench.processes`), per stored message."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.hops import HopCollector, hops_summary
from bench.measure import Traffic
from bench.processes import Sample, StackProcesses, cpu_used


class StepMeter:
    def __init__(self, stack: StackProcesses, hops: HopCollector) -> None:
        self.stack = stack
        self.hops = hops

    @classmethod
    def of_stack(cls, var_dir: Path) -> StepMeter:
        return cls(StackProcesses(var_dir), HopCollector())

    async def begin(self, *, fresh: bool = True) -> Sample:
        """Before a step: the CPU so far; `fresh` forgets the hop samples of earlier traffic."""
        if fresh:
            await asyncio.to_thread(self.hops.reset)
        return await asyncio.to_thread(self.stack.sample)

    async def end(self, before: Sample, traffics: list[Traffic]) -> dict[str, Any]:
        """After the step's drain: its hop figures and the CPU per message it stored."""
        after = await asyncio.to_thread(self.stack.sample)
        ids: set[int] = set().union(*(t.message_ids for t in traffics))
        samples = await asyncio.to_thread(self.hops.collect, ids)
        return {
            "hops": hops_summary(samples),
            "cpu": cpu_used(before, after, stored=sum(len(t.acked) for t in traffics)),
        }

    async def idle(self, seconds: float) -> dict[str, Any]:
        """The stack's CPU over `seconds` with no traffic: the fixed cost under every step's figure."""
        before = await self.begin()
        await asyncio.sleep(seconds)
        return cpu_used(before, await asyncio.to_thread(self.stack.sample), stored=0)
