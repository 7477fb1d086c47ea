"""The bench's output: the terminal table, `var/bench/latest.json` and `var/bench/latest.png`."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table


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


def max_sustained(steps: list[dict[str, Any]], key: str = "offered_per_s") -> float:
    """The highest step that was sustained (p99 under 100 ms, nothing lost), 0 if none."""
    return max((float(s[key]) for s in steps if s.get("sustained")), default=0.0)


def at_rate(steps: list[dict[str, Any]], rate: float, key: str) -> float | None:
    for step in steps:
        if step.get("offered_per_s") == rate and key in step:
            value = step[key]
            return None if value is None else float(value)
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


HEADLINES = [
    ("1:1 max sustained msg/s (p99<100ms, 0 lost)", "max_sustained_msgs_per_s", "higher is better"),
    ("1:1 send→receive p99 at 500 msg/s (ms)", "p99_ms_at_500", "lower is better"),
    ("1:1 send→receive p50 at 500 msg/s (ms)", "p50_ms_at_500", "lower is better"),
    ("1:1 send→ack p99 at 500 msg/s (ms)", "ack_p99_ms_at_500", "lower is better"),
    ("group fan-out max sustained deliveries/s", "fanout_max_deliveries_per_s", "higher is better"),
    ("group fan-out p99 at top sustained step (ms)", "fanout_p99_ms", "lower is better"),
    ("idle connections held per server", "connections_per_server", "higher is better"),
    ("memory per idle connection (bytes)", "bytes_per_connection", "lower is better"),
    ("heartbeat CPU per server at top step (%)", "heartbeat_cpu_pct", "lower is better"),
]


def print_tables(result: dict[str, Any], console: Console) -> None:
    table = Table(title="make bench: pipeline vs bare websockets relay (same run)")
    table.add_column("figure")
    table.add_column("pipeline", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("ratio", justify="right")
    for label, key, _ in HEADLINES:
        p = result["headline"]["pipeline"].get(key)
        b = result["headline"]["baseline"].get(key)
        table.add_row(label, _fmt(p), _fmt(b), _fmt(result["ratios"].get(key)))
    table.add_row("history page (50) p50 / p99 under 1:1 load (ms)", _fmt_pair(result["history"]), "—", "—")
    table.add_row("sync of 1,000 missed p50 / p99 under load (ms)", _fmt_pair(result["sync"]), "—", "—")
    table.add_row(
        "stored exactly once: lost / duplicated", f"{result['lost']} / {result['duplicated']}", "—", "—"
    )
    console.print(table)

    steps = Table(title="1:1 ladder (open loop)")
    for col in (
        "target",
        "offered/s",
        "delivered/s",
        "p50",
        "p95",
        "p99",
        "ack p50",
        "ack p99",
        "missing",
        "ok",
    ):
        steps.add_column(col, justify="right")
    for name in ("pipeline", "baseline"):
        for s in result[name]["ladder"]:
            if "skipped" in s:
                steps.add_row(name, _fmt(s["offered_per_s"]), "not run: a lower rate saturated", *[""] * 7)
                continue
            steps.add_row(
                name,
                _fmt(s["offered_per_s"]),
                _fmt(s["delivered_per_s"]),
                _fmt(s["receive_p50_ms"]),
                _fmt(s["receive_p95_ms"]),
                _fmt(s["receive_p99_ms"]),
                _fmt(s["ack_p50_ms"]),
                _fmt(s["ack_p99_ms"]),
                _fmt(s["missing_receipts"]),
                "yes" if s["sustained"] else "no",
            )
    console.print(steps)


def _fmt_pair(d: dict[str, Any]) -> str:
    return f"{_fmt(d.get('p50_ms'))} / {_fmt(d.get('p99_ms'))}"


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
    ax.axhline(100, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered messages/s (1:1)")
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
