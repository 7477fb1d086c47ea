"""`python -m bench [--quick] [--own-stack] [--feed-only]`: run every scenario against the pipeline
and the baseline relay (`--feed-only`: the change feed's scenario alone, into var/bench/feed.json).

Expects the stack of `make run` to be up (`bench/run.sh`, behind `make bench`, starts it when it is
not, and then passes --own-stack: the per-user send limits were raised for this run). Sends
traffic only to 127.0.0.1, bounded in count and time.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from rich.console import Console

from bench import procs, report, results, stack, tables
from bench.client import Api
from bench.config import FULL, QUICK, Config
from bench.meter import StepMeter
from bench.session import Bench, feed_scenario


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short run (make bench QUICK=1)")
    parser.add_argument(
        "--own-stack", action="store_true", help="bench/run.sh started the stack, limits raised"
    )
    parser.add_argument(
        "--feed-only", action="store_true", help="only the change feed's scenario (var/bench/feed.json)"
    )
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    console = Console(width=None if sys.stdout.isatty() else 130)
    started = time.perf_counter()
    procs.raise_fd_limit()
    stack.django_setup()
    out_dir = stack.output_dir()
    deadline = time.monotonic() + 60  # a stack started just now registers its chat servers first
    while len(servers := stack.chat_servers()) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    if len(servers) < 2:
        console.print(f"[red]bench: {len(servers)} chat server(s) registered; start the stack (make run)")
        sys.exit(1)
    meter = StepMeter.of_stack(stack.var_dir())
    send_settings = stack.send_settings(meter.stack, raised=args.own_stack)
    console.print(f"bench ({config.mode}): setting up users and conversations")
    feed_population = stack.feed_setup(group_size=config.group_size, partners=config.feed_partners)
    if args.feed_only:
        _feed_only(config, feed_population, console, out_dir)
        return
    population = stack.bench_setup(
        pairs=config.pairs,
        groups=config.groups,
        group_size=config.group_size,
        sync_partners=config.sync_partners,
        fast_pairs=config.fast_pairs,
        slow_senders=config.slow_senders,
        slow_readers=config.slow_readers,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    members_file = out_dir / "relay-members.json"
    report.write_json({str(k): list(v) for k, v in population.conversations().items()}, members_file)
    port = _free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.relay", "--port", str(port), "--members", str(members_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        relay.stdout.readline()  # "relay listening ..."
        bench = Bench(config, population, f"ws://127.0.0.1:{port}/ws/chat", meter, feed_population)
        uvloop.run(bench.run(console))
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    console.print("bench: counting the run's messages in Cassandra")
    assert bench.pipeline_runner is not None
    lost, duplicated = results.storage_check(bench.pipeline_runner.traffics, population)
    result = bench.result
    pipeline_head = results.headline(result["pipeline"])
    baseline_head = results.headline(result["baseline"])
    result["pipeline"].update(pipeline_head)
    result["baseline"].update(baseline_head)
    hs = result["pipeline"].pop("history_sync")
    feed_result = result["pipeline"].pop("feed")
    slow = {side: result[side].pop("slow_consumer") for side in ("pipeline", "baseline")}
    result.update(
        {
            "mode": config.mode,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round(time.perf_counter() - started, 1),
            "phase_s": bench.phase_s,
            "machine": report.machine(),
            "config": {k: v for k, v in config.__dict__.items() if k != "extra"},
            "send_settings": send_settings,
            "headline": {"pipeline": pipeline_head, "baseline": baseline_head},
            "ratios": {k: results.ratio(pipeline_head[k], baseline_head[k]) for k in pipeline_head},
            "history": hs["history"],
            "sync": hs["sync"],
            "load_during_history_sync": hs["load"],
            "overload": result["pipeline"]["overload"],
            "feed": feed_result,
            "slow_consumer": slow,
            "connections": result["pipeline"]["connections"],
            "baseline_connections": result["baseline"]["connections"],
            "lost": lost,
            "duplicated": duplicated,
        }
    )
    report.print_tables(result, console)
    report.write_json(result, out_dir / "latest.json")
    report.write_chart(result, out_dir / "latest.png")
    console.print(
        f"bench: wrote {out_dir / 'latest.json'} and {out_dir / 'latest.png'} in {result['duration_s']} s"
    )


def _feed_only(config: Config, population: stack.FeedPopulation, console: Console, out_dir: Path) -> None:
    """`--feed-only`: the change feed's scenario against the running stack, nothing else."""
    started = time.perf_counter()
    api = Api(stack.api_base_url())
    try:
        feed = uvloop.run(feed_scenario(api, config, population))
    finally:
        api.close()
    result = {
        "mode": config.mode,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": report.machine(),
        "feed": feed,
    }
    tables.print_feed_tables(result, console)
    out_dir.mkdir(parents=True, exist_ok=True)
    report.write_json(result, out_dir / "feed.json")
    console.print(f"bench: wrote {out_dir / 'feed.json'} in {result['duration_s']} s")


if __name__ == "__main__":
    main()
