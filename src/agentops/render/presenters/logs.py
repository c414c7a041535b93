"""The human view of `agentops logs …` reports (registered for the report kind "logs"): it presents the
finished, redacted document and computes nothing but layout — sparklines from the per-minute counts the
analysis already holds."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.core.format import clock_time, count_sparkline, duration, size
from agentops.render.blocks import render_findings, render_results, render_summary
from agentops.render.registry import presenter


@presenter("logs")
def render_logs(doc: dict[str, Any], console: Console) -> None:
    kind = doc["kind"]
    if kind == "logs.analyze":
        _analyze(doc, console)
    elif kind == "logs.trace":
        _trace(doc, console)
    else:
        _count(doc, console)
    console.print()
    render_results(doc, console)
    render_findings(doc, console)
    console.print()
    render_summary(doc, console)


def _names(d: dict[str, int], limit: int = 3) -> str:
    names = list(d)
    more = f" +{len(names) - limit}" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _analyze(doc: dict[str, Any], console: Console) -> None:
    data = doc["data"]
    counts, span, inputs = data["counts"], data["span"], data["inputs"]
    multi_day = bool(span["start"] and span["end"] and span["start"][:10] != span["end"][:10])
    by_level = ", ".join(f"{n} {lvl}" for lvl, n in counts["by_level"].items() if n)
    head = Text.assemble(
        ("Log analysis", "bold"),
        f"  {len(inputs['sources'])} input(s), {size(inputs['bytes'])}, {counts['records']:,} records, "
        f"{span['start'] or '?'} → {span['end'] or '?'}\n",
        (f"{counts['errors']:,} at {data['filters']['level']} or above", "bold"),
        f" ({counts['error_rate_percent']:.3g}% of records, {_per_minute(counts['errors_per_minute'])})"
        + (f"; {by_level}" if by_level else ""),
    )
    console.print(head)
    patterns = data["patterns"]
    if patterns:
        table = Table(title="Error patterns", title_justify="left", expand=False)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("COUNT", justify="right", no_wrap=True)
        table.add_column("TYPE", no_wrap=True)
        table.add_column("PATTERN", overflow="fold", max_width=60)
        table.add_column("FIRST", no_wrap=True)
        table.add_column("LAST", no_wrap=True)
        table.add_column("PER MINUTE", no_wrap=True)
        table.add_column("AGENTS / COMPONENTS", overflow="fold", max_width=28)
        table.add_column("WITH", no_wrap=True)
        index = {p["pattern"]: i + 1 for i, p in enumerate(patterns)}
        for i, p in enumerate(patterns, 1):
            with_ = " ".join(f"#{index[c['pattern']]}" for c in p["correlated"] if c["pattern"] in index)
            who = "; ".join(filter(None, [_names(p["agents"]), _names(p["components"])]))
            table.add_row(str(i), f"{p['count']:,}", p["error_type"] or "-", p["pattern"],
                          clock_time(p["first_seen"], with_date=multi_day),
                          clock_time(p["last_seen"], with_date=multi_day),
                          count_sparkline(p["per_minute"]["counts"]), who, with_)
        console.print(table)
        _actions(patterns, console)
    else:
        console.print("no error pattern seen at least "
                      f"{data['filters']['min_count']} times", markup=False)
    hidden = data["hidden_patterns"]
    if hidden["patterns"]:
        console.print(f"{hidden['patterns']} more pattern(s), {hidden['records']} record(s), not shown: "
                      f"{hidden['reason']} (--min-count 1, --top N)", markup=False)
    _security(data["security"], console, multi_day)
    _performance(data["performance"], console, multi_day)


def _actions(patterns: list[dict[str, Any]], console: Console) -> None:
    seen: dict[str, list[int]] = {}
    fixes: dict[str, dict[str, str]] = {}
    for i, p in enumerate(patterns, 1):
        action = p.get("action")
        if action:
            seen.setdefault(action["kind"], []).append(i)
            fixes[action["kind"]] = action
    if not seen:
        return
    console.print()
    console.print(Text("Recommended actions", style="bold"))
    for kind, rows in seen.items():
        refs = " ".join(f"#{i}" for i in rows)
        console.print(Text.assemble((f"  {refs} {kind}: ", "bold"), fixes[kind]["fix"]))
        console.print(f"      cause: {fixes[kind]['cause']}", markup=False, style="dim")


def _security(events: list[dict[str, Any]], console: Console, multi_day: bool) -> None:
    console.print()
    if not events:
        console.print("Security events: none (no authentication or permission failures)", markup=False)
        return
    table = Table(title="Security events", title_justify="left", expand=False)
    for col in ("COUNT", "KIND", "PATTERN", "FIRST", "LAST", "COMPONENTS"):
        table.add_column(col, no_wrap=col != "PATTERN", overflow="fold")
    for e in events:
        table.add_row(f"{e['count']:,}", e["kind"], e["pattern"], clock_time(e["first_seen"], with_date=multi_day),
                      clock_time(e["last_seen"], with_date=multi_day), _names(e["components"]))
    console.print(table)


def _performance(perf: dict[str, Any], console: Console, multi_day: bool) -> None:
    console.print()
    ops = perf["operations"]
    head = (f"Slow operations (duration ≥ {perf['slow_s']:g}s): {perf['slow_records']:,} of "
            f"{perf['timed_records']:,} timed records")
    if not ops:
        console.print(head, markup=False)
        return
    table = Table(title=head, title_justify="left", expand=False)
    for col in ("COUNT", "OPERATION", "MAX", "P95", "MEAN", "FIRST", "LAST", "PER MINUTE"):
        table.add_column(col, no_wrap=col != "OPERATION", overflow="fold")
    for op in ops:
        d = op.get("duration_s", {})
        table.add_row(f"{op['count']:,}", op["pattern"], duration(d.get("max")), duration(d.get("p95")),
                      duration(d.get("mean")), clock_time(op["first_seen"], with_date=multi_day),
                      clock_time(op["last_seen"], with_date=multi_day),
                      count_sparkline(op["per_minute"]["counts"]))
    console.print(table)


def _trace(doc: dict[str, Any], console: Console) -> None:
    data = doc["data"]
    hops = data["hops"]
    console.print(Text.assemble(("Trace ", "bold"), (data["id"], "bold"),
                                f"  {len(hops)} record(s), {len(data['components'])} component(s), "
                                f"{duration(data['elapsed_ms'] / 1000)}"))
    if not hops:
        return
    table = Table(expand=False)
    for col in ("#", "AT", "+MS", "COMPONENT", "LEVEL", "AGENT", "MESSAGE", "WHERE"):
        table.add_column(col, no_wrap=col not in ("MESSAGE", "WHERE"), overflow="fold")
    for i, h in enumerate(hops, 1):
        gap = "" if h["since_previous_ms"] is None else f"+{h['since_previous_ms']:.1f}"
        message = h["message"] + (f"\n{h['cause']}" if h.get("cause") else "")
        table.add_row(str(i), clock_time(h["at"], millis=True), gap, h["component"] or "-", h["level"] or "-",
                      h["agent_id"] or h.get("target") or "-", message, _where(h))
    console.print(table)
    stop = data["stops_at"]
    console.print(Text.assemble(("The trail stops at ", "bold"), (stop["component"] or stop["source"] or "?", "bold"),
                                f" ({stop['at'] or 'no time'}): {stop['why']}"))
    if len(data["trace_ids"]) > 1:
        console.print(f"{data['id']} appears in {len(data['trace_ids'])} traces (AutoGen request ids are "
                      f"per-process counters); trace one: " + ", ".join(data["trace_ids"]), markup=False)


def _where(hop: dict[str, Any]) -> str:
    """file:line as editors and grep -n read it; a source that could not be read again (stdin, the journal)
    has no line number, and its byte offset is called one."""
    if hop.get("line") is not None:
        return f"{hop['source']}:{hop['line']}"
    return f"{hop['source']}, byte {hop['byte_offset']}"


def _count(doc: dict[str, Any], console: Console) -> None:
    data = doc["data"]
    levels = ", ".join(f"{lvl} {n:,}" for lvl, n in data["counts"]["by_level"].items())
    console.print(Text.assemble((f"{data['counts']['errors']:,}", "bold"),
                                f" records at {data['filters']['level']} or above ({levels}) in "
                                f"{len(data['inputs']['sources'])} input(s), {size(data['inputs']['bytes'])}"))


def _per_minute(rate: float | None) -> str:
    return "n/a per minute: no timestamps" if rate is None else f"{rate:.3g}/min"
