"""The per-step tables of `make bench`: the ladders (1:1 and the 20 pairs), where the time goes hop
by hop, the stack's CPU per stored message, overload with its recovery, the change feed's cost
(rows per message, catch-up) and the slow consumer."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bench.hops import interval_name, intervals

# the stack's process kinds in the CPU table, in this order; any other kind is summed under "other"
CPU_KINDS = ("chat", "worker-sync", "cassandra", "redis", "postgres", "api", "nginx")


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _stored(step: dict[str, Any]) -> str:
    if "stored_lost" not in step:
        return "—"
    return f"{step['stored_lost']} / {step['stored_duplicated']}"


def _refused(step: dict[str, Any]) -> str:
    """Shed (overloaded) / rate-limited answers; each was sent again by the outbox."""
    return f"{step.get('shed', 0)} / {step.get('rate_limited', 0)}"


def ladder_table(result: dict[str, Any], key: str, title: str) -> Table:
    """One scenario's ladder, pipeline and baseline."""
    table = Table(title=title)
    columns = ("target", "offered/s", "delivered/s", "p50", "p95", "p99", "ack p99", "missing")
    for col in (*columns, "shed / rate-ltd", "lost / dup", "ok"):
        table.add_column(col, justify="right")
    for name in ("pipeline", "baseline"):
        for s in result[name][key]:
            if "skipped" in s:
                table.add_row(name, fmt(s["offered_per_s"]), "not run: a lower rate saturated", *[""] * 8)
                continue
            table.add_row(
                name,
                fmt(s["offered_per_s"]),
                fmt(s["delivered_per_s"]),
                fmt(s["receive_p50_ms"]),
                fmt(s["receive_p95_ms"]),
                fmt(s["receive_p99_ms"]),
                fmt(s["ack_p99_ms"]),
                fmt(s["missing_receipts"]),
                _refused(s),
                _stored(s),
                fmt(s["sustained"]),
            )
    return table


def _metered_steps(pipeline: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, step) of every metered pipeline step, in the order they ran."""
    out = [(f"1:1 {fmt(s['offered_per_s'])}/s", s) for s in pipeline["ladder"] if "hops" in s]
    out += [(f"groups {fmt(s['offered_per_s'])}/s", s) for s in pipeline["fanout"] if "hops" in s]
    out += [(f"20 pairs {fmt(s['offered_per_s'])}/s", s) for s in pipeline["fast"] if "hops" in s]
    overload = pipeline.get("overload", {})
    if "hops" in overload:
        out.append(("overload + after", overload))
    return out


def hops_table(result: dict[str, Any]) -> Table:
    sample = result.get("send_settings", {}).get("hop_sample")
    table = Table(
        title=f"where the time goes: p50 / p99 ms between hops of sampled messages (share {fmt(sample)})"
    )
    table.add_column("pipeline step")
    table.add_column("samples", justify="right")
    names = [interval_name(a, b) for a, b in intervals()]
    for name in names:
        table.add_column(name.replace("→", "→\n"), justify="right")
    for label, step in _metered_steps(result["pipeline"]):
        hops = step["hops"]
        if not hops["samples"]:
            table.add_row(label, "0", "no samples", *[""] * (len(names) - 1))
            continue
        cells = []
        for name in names:
            interval = hops["intervals"][name]
            cells.append(
                f"{fmt(interval['p50_ms'])} / {fmt(interval['p99_ms'])}" if interval["count"] else "—"
            )
        table.add_row(label, fmt(hops["samples"]), *cells)
    return table


def cpu_table(result: dict[str, Any]) -> Table:
    table = Table(title="CPU of the stack's processes: ms per stored message (and cores used)")
    for col in ("pipeline step", "stored", "cores", "all", *CPU_KINDS, "other"):
        table.add_column(col, justify="right")
    idle = result["pipeline"].get("idle_cpu")
    if idle:
        kinds = ", ".join(
            f"{k} {v['cpu_s'] / idle['wall_s']:.2f}" for k, v in idle["by_kind"].items() if v["cpu_s"]
        )
        table.caption = f"the stack idle (users connected, no traffic): {fmt(idle['cores'])} cores ({kinds})"
    for label, step in _metered_steps(result["pipeline"]):
        cpu = step["cpu"]
        by_kind = cpu["by_kind"]
        stored = cpu["stored"]
        other = sum(k["cpu_s"] for name, k in by_kind.items() if name not in CPU_KINDS)
        table.add_row(
            label,
            fmt(stored),
            fmt(cpu["cores"]),
            fmt(cpu["ms_per_stored"]),
            *[fmt(by_kind[k]["ms_per_stored"]) if k in by_kind else "—" for k in CPU_KINDS],
            fmt(round(1000 * other / stored, 3) if stored else None),
        )
    return table


def overload_table(result: dict[str, Any]) -> Table:
    o = result["overload"]
    hot, calm = o["overload"], o["normal"]
    table = Table(title="overload, then a normal step at once (20 pairs, pipeline)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("overload: offered msg/s for s", f"{fmt(hot['offered_per_s'])} for {fmt(hot['duration_s'])}"),
        ("the client's lag: s behind the schedule when the last was sent", fmt(hot["client_lag_s"])),
        ("accepted during the overload, msg/s", fmt(hot["accepted_per_s"])),
        (
            "overload step: shed answers / messages shed at least once",
            f"{fmt(hot['shed'])} / {fmt(hot['refused_messages'])}",
        ),
        ("both steps: rate_limited answers", fmt(hot["rate_limited"] + calm["rate_limited"])),
        ("both steps: resends by the outboxes", fmt(hot["resends"] + calm["resends"])),
        ("p99 of accepted messages (from the accepted send), ms", fmt(hot["accepted_p99_ms"])),
        ("p99 from the first send (with the waits to resend), ms", fmt(hot["receive_p99_ms"])),
        ("overload: lost / duplicated in the store", _stored(hot)),
        (
            "normal step: msg/s for s, p99 ms",
            f"{fmt(calm['offered_per_s'])} for {fmt(calm['duration_s'])}, {fmt(calm['receive_p99_ms'])}",
        ),
        ("normal step: lost / duplicated in the store", _stored(calm)),
        ("per-second p99 of the normal step, ms", " ".join(fmt(s["p99_ms"]) for s in o["normal_per_second"])),
        ("recovery: s after the overload until p99 < 100 ms", fmt(o["recovery_s"])),
        (f"recovered within {fmt(o['recovered_within_s'])} s", fmt(o["recovered"])),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _slow_bound(result: dict[str, Any]) -> str:
    """The chat servers' bound of a slow socket, as they ran."""
    ss = result.get("send_settings", {})
    if "send_backlog_max" not in ss:
        return ""
    kernel = f"{ss['socket_send_buffer'] // 1024:,} KiB" if ss["socket_send_buffer"] else "autotuned"
    return (
        f"pipeline: a socket past {ss['send_backlog_max'] // 1024:,} KiB unsent at two checks a second "
        f"apart is closed (4008), the kernel's send buffer {kernel}, close grace "
        f"{fmt(ss['slow_close_grace_s'])} s; the relay has no bound"
    )


def slow_consumer_table(result: dict[str, Any]) -> Table:
    """The readers' delay without and with a socket that stops reading, pooled over the rounds."""
    pipeline = result["slow_consumer"]["pipeline"]
    table = Table(
        title=f"slow consumer: one member's socket stops reading ({pipeline['rate_per_s']:g} msg/s of "
        f"{fmt(pipeline['body_chars'])} characters; the readers on its server; rounds of "
        f"{pipeline['phase_s']:g} s without, then with it; latency ms)"
    )
    table.caption = _slow_bound(result)
    columns = ("target", "slow socket", "phases", "deliveries", "missing", "p50", "p99", "max")
    for col in (*columns, "p99 added (≤ 200?)"):
        table.add_column(col, justify="right")
    for name in ("pipeline", "baseline"):
        side = result["slow_consumer"][name]
        for key, label in (("without", "without"), ("with_slow", "with")):
            c = side[key]
            added = f"{fmt(side['p99_added_ms'])} ({fmt(side['within_limit'])})" if key == "with_slow" else ""
            table.add_row(
                name,
                label,
                fmt(c["phases"]),
                fmt(c["deliveries"]),
                fmt(c["missing"]),
                fmt(c["p50_ms"]),
                fmt(c["p99_ms"]),
                fmt(c["max_ms"]),
                added,
            )
    return table


def slow_rounds_table(result: dict[str, Any]) -> Table:
    """Each round: the readers' p99 in its two phases, the slow socket's end, the server's memory."""
    table = Table(title="slow consumer by round: the slow socket read again, the readers' server's RSS")
    columns = ("target", "round", "p99 without", "p99 with", "closed by server (code)", "frames waiting")
    for col in (*columns, "read again at s"):
        table.add_column(col, justify="right")
    table.add_column("RSS MiB before / peak / after", justify="right", no_wrap=True)
    for name in ("pipeline", "baseline"):
        for r in result["slow_consumer"][name]["rounds"]:
            rss = r["rss_mb"]
            table.add_row(
                name,
                fmt(r["round"]),
                fmt(r["p99_ms_without"]),
                fmt(r["p99_ms_with"]),
                f"yes ({r['close_code'] or 'no code'})" if r["closed_by_server"] else "no",
                fmt(r["frames_waiting"]),
                fmt(r["read_again_at_s"]),
                f"{rss['before']:.1f} / {rss['peak']:.1f} / {rss['after']:.1f}",
            )
    return table


def print_step_tables(result: dict[str, Any], console: Console) -> None:
    console.print(ladder_table(result, "ladder", "1:1 ladder, many users (open loop; latency ms)"))
    console.print(ladder_table(result, "fast", "20 pairs sending fast (open loop; latency ms)"))
    console.print(hops_table(result))
    console.print(cpu_table(result))
    console.print(overload_table(result))
    print_feed_tables(result, console)
    if "slow_consumer" in result:
        console.print(slow_consumer_table(result))
        console.print(slow_rounds_table(result))


def feed_rows_table(result: dict[str, Any]) -> Table:
    """Cassandra rows per message of the feed's scenario: every table, change rows by kind."""
    table = Table(title="change feed: Cassandra rows per message (pipeline only; the relay has no feed)")
    columns = ("conversation", "receipts", "messages", "total", "by conversation", "inbox", "mentions")
    for col in (*columns, "changes: delivered", "read", "other", "settled s", "complete"):
        table.add_column(col, justify="right")
    table.caption = (
        "rows per message; settled: s from the last send until every device had it and (receipts) "
        "the sender had every receipt entry. Each change row is written with an upsert of its "
        "change_buckets index row (feed_store.changes_write), not counted here"
    )
    for case in result["feed"]["rows"]:
        per = case["per_message"]
        changes = per["changes_by_user"]
        table.add_row(
            case["conversation"],
            "delivered + read" if case["receipts"] else "none",
            fmt(case["messages"]),
            fmt(per["total"]),
            fmt(per["messages_by_conversation"]),
            fmt(per["messages_by_user"]),
            fmt(per["mentions_by_user"]),
            fmt(changes["delivered"]),
            fmt(changes["read"]),
            fmt(changes["other"]),
            fmt(case["settle_s"]),
            fmt(case["complete"]),
        )
    return table


def feed_catch_up_table(result: dict[str, Any]) -> Table:
    c = result["feed"]["catch_up"]
    table = Table(
        title=f"change feed: catch-up of {fmt(c['changes_missed'])} missed changes "
        f"({fmt(c['messages_sent'])} new messages, each edited once)"
    )
    for col in (
        "over",
        "samples",
        "p50 ms",
        "p99 ms",
        "frames / pages",
        "entries (unique)",
        "after position",
    ):
        table.add_column(col, justify="right")
    for label, key, unit in (("WebSocket sync", "ws", "sync_frames"), ("GET sync", "rest", "pages")):
        side = c[key]
        entries = side["entries"]
        table.add_row(
            label,
            fmt(side["samples"]),
            fmt(side["p50_ms"]),
            fmt(side["p99_ms"]),
            fmt(side[unit]),
            f"{fmt(entries['received'])} ({fmt(entries['unique'])})",
            ", ".join(f"{fmt(n)} {t}" for t, n in sorted(entries["by_type"].items())),
        )
    return table


def print_feed_tables(result: dict[str, Any], console: Console) -> None:
    if "feed" in result:
        console.print(feed_rows_table(result))
        console.print(feed_catch_up_table(result))
