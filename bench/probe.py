"""`python -m bench.probe --rate 250 --seconds 20`: one steady 1:1 step against the running stack,
with the CPU each kind of process of the stack used during it.

The tool for profiling between full bench runs: it prints the step's figures as a ladder step of
`make bench` reports them, with its hop samples and the stack's CPU per stored message by process
kind (`bench.meter`), and the share of one core each kind used while the step ran.
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from rich.console import Console
from rich.progress import Progress

from bench import procs, stack
from bench.client import Api, ChatConnection
from bench.measure import Recorder
from bench.meter import StepMeter
from bench.scenarios.traffic import Runner, Target, close_all, pair_senders


async def _probe(rate: float, seconds: float, pairs: int, console: Console) -> None:
    population = await asyncio.to_thread(
        stack.bench_setup, pairs=pairs, groups=0, group_size=0, sync_partners=0
    )
    api = Api(stack.api_base_url())
    recorder = Recorder()
    target = Target(name="pipeline")
    conns: dict[int, ChatConnection] = {}
    gate = asyncio.Semaphore(32)

    async def one(user: stack.BenchUser) -> None:
        async with gate:
            url, ticket = await target.assign(api, user)
            conn = ChatConnection(
                user_id=user.user_id, on_frame=recorder.on_frame, on_resend=recorder.on_resend
            )
            await conn.open(url, ticket)
            conns[user.user_id] = conn

    await asyncio.gather(*(one(u) for u in population.users))
    meter = StepMeter.of_stack(stack.var_dir())
    with Progress(console=console, transient=True) as progress:
        runner = Runner(recorder, progress, 10, meter=meter)
        step, _ = await runner.drive(
            name="probe", senders=pair_senders(conns, population.pairs), rate=rate, duration=seconds
        )
    await close_all(conns)
    api.close()
    cpu = step.pop("cpu")
    console.print(step)
    console.print(f"CPU during the step ({cpu['wall_s']:.1f} s wall, share of one core):")
    for kind, used in cpu["by_kind"].items():
        share = 100 * used["cpu_s"] / cpu["wall_s"]
        console.print(
            f"  {kind:14} {used['cpu_s']:7.1f} s  {share:5.0f} %  {used['ms_per_stored']} ms per stored "
            f"message  ({used['processes']} processes)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=250.0, help="messages per second offered")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=250)
    args = parser.parse_args()
    procs.raise_fd_limit()
    stack.django_setup()
    uvloop.run(_probe(args.rate, args.seconds, args.pairs, Console()))


if __name__ == "__main__":
    main()
