"""The bench's output: the terminal table, `var/bench/latest.json` and `var/bench/latest.png`."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.tables import fmt, print_step_tables


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "fd_hard_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[1],
    }


HEADLINES = [
    ("1:1 max sustained msg/s (p99<100ms, 0 lost)", "max_sustained_msgs_per_s", "higher is better"),
    ("1:1 send→receive p99 at 500 msg/s (ms)", "p99_ms_at_500", "lower is better"),
    ("1:1 send→receive p50 at 500 msg/s (ms)", "p50_ms_at_500", "lower is better"),
    ("1:1 send→ack p99 at 500 msg/s (ms)", "ack_p99_ms_at_500", "lower is better"),
    (
        "20 pairs max sustained msg/s (p99<100ms, 0 lost, 0 dup)",
        "fast_max_sustained_msgs_per_s",
        "higher is better",
    ),
    ("20 pairs send→receive p99 at 500 msg/s (ms)", "fast_p99_ms_at_500", "lower is better"),
    ("20 pairs send→receive p50 at 20 msg/s (ms)", "fast_p50_ms_at_20", "lower is better"),
    ("CPU ms per stored message, all processes, 1:1 at 500/s", "cpu_ms_per_stored_at_500", "lower is better"),
    (
        "CPU ms per stored message, all processes, 20 pairs at 500/s",
        "fast_cpu_ms_per_stored_at_500",
        "lower is better",
    ),
    ("group fan-out max sustained deliveries/s", "fanout_max_deliveries_per_s", "higher is better"),
    ("group fan-out p99 at top sustained step (ms)", "fanout_p99_ms", "lower is better"),
    ("idle connections held per server", "connections_per_server", "higher is better"),
    ("memory per idle connection (bytes)", "bytes_per_connection", "lower is better"),
    ("heartbeat CPU per server at top step (%)", "heartbeat_cpu_pct", "lower is better"),
]


def _send_settings_line(result: dict[str, Any]) -> str:
    """The per-user send limit the run had, and whether the bench raised it."""
    ss = result["send_settings"]
    limit = f"per-user send limit {ss['rate_limit_messages']:,} per {ss['rate_limit_window_s']:g} s"
    if ss["limits_raised_by_bench"]:
        return f"{limit}: raised for this run (bench/run.sh started the stack)"
    refused = sum(s.get("rate_limited", 0) for s in result["pipeline"]["fast"])
    return (
        f"{limit}: the running stack's own, not raised by the bench "
        f"(rate_limited answers in the 20 pairs' steps, each sent again: {refused:,})"
    )


def print_tables(result: dict[str, Any], console: Console) -> None:
    table = Table(title="make bench: pipeline vs bare websockets relay (same run)")
    table.add_column("figure")
    table.add_column("pipeline", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("ratio", justify="right")
    for label, key, _ in HEADLINES:
        p = result["headline"]["pipeline"].get(key)
        b = result["headline"]["baseline"].get(key)
        table.add_row(label, fmt(p), fmt(b), fmt(result["ratios"].get(key)))
    table.add_row("history page (50) p50 / p99 under 1:1 load (ms)", _fmt_pair(result["history"]), "—", "—")
    table.add_row("sync of 1,000 missed p50 / p99 under load (ms)", _fmt_pair(result["sync"]), "—", "—")
    o = result["overload"]
    table.add_row(
        "overload: accepted msg/s, recovery s (≤ 10?)",
        f"{fmt(o['overload']['accepted_per_s'])}, {fmt(o['recovery_s'])} ({fmt(o['recovered'])})",
        "—",
        "—",
    )
    slow = result["slow_consumer"]
    table.add_row(
        "slow consumer: the readers' p99 added (ms, ≤ 200?), close codes",
        *(
            f"{fmt(slow[side]['p99_added_ms'])} ({fmt(slow[side]['within_limit'])}), "
            + (" ".join(str(c or "—") for c in slow[side]["close_codes"]))
            for side in ("pipeline", "baseline")
        ),
        "—",
    )
    table.add_row(
        "stored exactly once: lost / duplicated", f"{result['lost']} / {result['duplicated']}", "—", "—"
    )
    console.print(table)
    console.print(_send_settings_line(result))
    print_step_tables(result, console)


def _fmt_pair(d: dict[str, Any]) -> str:
    return f"{fmt(d.get('p50_ms'))} / {fmt(d.get('p99_ms'))}"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Latency percentiles against offered rate, pipeline and baseline (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"pipeline": "tab:red", "baseline": "tab:blue"}
    for name, color in styles.items():
        steps = [s for s in result[name]["ladder"] if "skipped" not in s]
        rates = [s["offered_per_s"] for s in steps]
        for key, dash in (("receive_p50_ms", ":"), ("receive_p95_ms", "--"), ("receive_p99_ms", "-")):
            values = [s[key] if s[key] is not None else float("nan") for s in steps]
            ax.plot(rates, values, dash, marker="o", color=color, label=f"{name} {key.split('_')[1]}")
        ax2.plot(rates, [s["delivered_per_s"] for s in steps], marker="o", color=color, label=name)
        fast = [s for s in result[name]["fast"] if "skipped" not in s]
        fast_p99 = [s["receive_p99_ms"] if s["receive_p99_ms"] is not None else float("nan") for s in fast]
        ax.plot(
            [s["offered_per_s"] for s in fast],
            fast_p99,
            "-.",
            marker="s",
            color=color,
            label=f"{name} p99, 20 pairs",
        )
    ax.axhline(100, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered messages/s (1:1 many users; squares: 20 pairs)")
    ax.set_ylabel("send → receive latency (ms)")
    ax.set_title("latency percentiles vs offered rate")
    ax.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("offered messages/s")
    ax2.set_ylabel("delivered messages/s")
    ax2.set_title("delivered vs offered")
    ax2.legend(fontsize=8)
    m = result["machine"]
    fig.suptitle(
        f"make bench {result['mode']} — {m['cpus']} CPU {m['cpu_model']}, {result['finished_at']}", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
