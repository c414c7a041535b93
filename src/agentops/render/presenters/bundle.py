"""What `agentops bundle` shows: SUMMARY.md, the first file of the archive (the verdict and its evidence,
then what each collector did), and the table views of the command's listing documents (`bundle`: the
archive written; `bundle.plan`: what --dry-run would collect). All of it read from the manifest."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agentops.core import format as fmt
from agentops.render.registry import presenter


def summary_text(manifest: dict[str, Any]) -> str:
    """SUMMARY.md: plain text (Markdown) an expert reads first; values from logs or payloads are data, so the
    text is never interpreted as a template."""
    lines = ["# agentops support bundle", "",
             f"made by agentops {manifest['tool']['version']} on {manifest['tool']['host']} at "
             f"{manifest['started_at']} in {fmt.duration(manifest['duration_s'])} "
             f"(deadline {fmt.duration(manifest['deadline_s'])})", ""]
    verdict = manifest.get("verdict")
    if verdict:
        lines += [f"## Verdict: {verdict['status']} {verdict['id']} ({verdict['agent_type']})", "",
                  verdict["title"], "", f"cause: {verdict['cause']}", f"fix: {verdict['fix']}", "", "evidence:"]
        lines += [f"- {e}" for e in verdict["evidence"]] + ["", f"(the whole diagnosis: {verdict['file']})", ""]
        others = manifest["verdicts"][1:]
        if others:
            lines += ["## Other diagnosed types", ""]
            lines += [f"- {v['agent_type']}: {v['status']} {v['id']}: {v['title']} ({v['file']})" for v in others]
            lines.append("")
    else:
        lines += ["## Verdict: no diagnosis (no AgentRpc host configured, or no type diagnosed)", ""]
    health = manifest.get("health")
    if health:
        set_by = ", ".join(health["set_by"]) or "nothing"
        lines += [f"## Health: {health['status']} (set by: {set_by}; {health['file']})", ""]
    lines += ["## Collectors", "", "| collector | outcome | took | files | error |", "| --- | --- | --- | --- | --- |"]
    for c in manifest["collectors"]:
        lines.append(f"| {c['name']} | {c['outcome']} | {fmt.duration(c['duration_s'])} | {len(c['files'])} | "
                     f"{(c['error'] or '').replace('|', '/')} |")
    cut = [f for f in manifest["files"] if f["cut_bytes"]]
    limits = manifest["caps"]
    lines += ["", f"{len(manifest['files'])} files; {len(cut)} cut to the size caps (per file "
              f"{fmt.size(limits['max_file_bytes'])}, in total {fmt.size(limits['max_total_bytes'])}; "
              "head and tail kept, a marker line where the middle was cut)."]
    red = manifest["redaction"]
    lines += [f"{red['masked']} secrets masked ({red['report']} says by which rule, in which file)"
              + ("; same secret, same REDACTED-nnnn token in every file (the map is kept outside the archive)."
                 if red["stable_tokens"] else "."), "",
              "Read back: `agentops k8s audit --from-bundle <dir>/k8s/<source>`, `agentops logs analyze <dir>/logs`.",
              ""]
    return "\n".join(lines)


@presenter("bundle")
def render_bundle(doc: dict[str, Any], console: Console) -> None:
    manifest = doc["manifest"]
    verdict = manifest.get("verdict")
    head = (f"verdict: {verdict['status']} {verdict['id']} ({verdict['agent_type']}): {verdict['title']}"
            if verdict else "verdict: no diagnosis")
    console.print(f"bundle written: {doc['archive']} ({fmt.size(doc['archive_bytes'])})", markup=False)
    console.print(head, markup=False)
    table = Table(title="collectors", title_justify="left")
    for col in ("COLLECTOR", "OUTCOME", "TOOK", "FILES", "ERROR"):
        table.add_column(col, overflow="fold")
    for c in manifest["collectors"]:
        table.add_row(c["name"], c["outcome"], fmt.duration(c["duration_s"]), str(len(c["files"])), c["error"] or "")
    console.print(table)
    if doc.get("token_map"):
        console.print(f"token map (keep it private, outside the archive): {doc['token_map']}", markup=False)


@presenter("bundle.plan")
def render_bundle_plan(doc: dict[str, Any], console: Console) -> None:
    table = Table(title=f"would write {doc['archive']} (dry run: nothing collected, nothing written)",
                  title_justify="left")
    for col in ("COLLECTOR", "COLLECTS", "FILES", "TIMEOUT"):
        table.add_column(col, overflow="fold")
    for c in doc["collectors"]:
        table.add_row(c["name"], c["what"], "\n".join(c["files"]), fmt.duration(c["timeout_s"]))
    console.print(table)
