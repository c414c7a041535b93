"""Building the archive: collect, redact every file (one redactor), cap each file and the total, then write
one tar.gz whose first members are SUMMARY.md and manifest.json, under one top directory. The archive is
written to a temporary file beside its path and renamed into place, so a failed or interrupted run never
leaves half an archive under the name; the stable-token map, when asked for, is written beside it, never in it.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops import __version__
from agentops.bundle import caps
from agentops.bundle.collect import Collector, Member, Outcome, run_collectors
from agentops.bundle.redaction import BundleRedactor
from agentops.bundle.verdict import health_line, verdicts
from agentops.core.format import utc_stamp

MANIFEST_SCHEMA = "agentops.bundle/v1"
# Room in the total cap kept for SUMMARY.md, manifest.json and redaction-report.json, written last.
METADATA_RESERVE = 64 * 1024
MIN_TOTAL_BYTES = 2 * METADATA_RESERVE


class BundleError(Exception):
    """A bundle that cannot be made as asked (an unwritable path): one line, exit 3."""


@dataclass
class BundleSpec:
    archive: Path
    deadline_s: float
    max_file_bytes: int
    max_total_bytes: int
    token_map: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)  # as given, for the manifest


def check_writable(path: Path, what: str = "archive") -> None:
    """Refuse an output path that cannot be written, before anything is collected."""
    if path.is_dir():
        raise BundleError(f"{what} {path}: is a directory (give a file name, e.g. {path}/bundle.tar.gz)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BundleError(f"{what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BundleError(f"{what} {path}: directory {parent} is not writable")


def top_dir(archive: Path) -> str:
    name = archive.name
    for suffix in (".tar.gz", ".tgz"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or "agentops-bundle"
    return name or "agentops-bundle"


async def make_bundle(collectors: list[Collector], spec: BundleSpec) -> dict[str, Any]:
    """Collect, redact, cap, write; the manifest (also inside the archive)."""
    check_writable(spec.archive)
    if spec.token_map is not None:
        check_writable(spec.token_map, "--token-map")
    # Opened before collecting: a path that only fails at creation (read-only mount, a quota) fails now.
    tmp = spec.archive.with_name(f".{spec.archive.name}.{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BundleError(f"archive {spec.archive}: cannot create {tmp}: {exc.strerror or exc}") from None
    try:
        started, t0 = utc_stamp(), time.monotonic()
        ran = await run_collectors(collectors, spec.deadline_s)
        redactor = BundleRedactor(stable_tokens=spec.token_map is not None)
        members, files = _prepared(ran, redactor, spec)
        manifest = _manifest(ran, members, files, redactor, spec, started, time.monotonic() - t0)
        from agentops.render.presenters.bundle import summary_text

        head = [Member("SUMMARY.md", summary_text(manifest).encode()),
                Member("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())]
        head = [Member(m.path, redactor.redact_file(m.path, m.data)) for m in head]
        report = Member("redaction-report.json", (json.dumps(redactor.report(), indent=1) + "\n").encode())
        with os.fdopen(fd, "wb") as fh:
            _write_tar(fh, top_dir(spec.archive), [*head, report, *members])
        os.replace(tmp, spec.archive)
        if spec.token_map is not None:
            from agentops.core.files import write_file

            write_file(spec.token_map, json.dumps(redactor.token_map(), indent=1) + "\n", mode=0o600)
            if spec.token_map.is_file():  # write_file keeps an existing file's mode: the map is the secrets
                os.chmod(spec.token_map, 0o600)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return manifest


def _prepared(ran: list[tuple[Outcome, list[Member]]], redactor: BundleRedactor,
              spec: BundleSpec) -> tuple[list[Member], list[dict[str, Any]]]:
    """Every collected file redacted (whole, before any cut, so no half of a secret survives a cut), then cut
    to the per-file cap, then to its share of the total."""
    members: list[Member] = []
    rows: list[dict[str, Any]] = []
    for outcome, got in ran:
        for m in got:
            data = redactor.redact_file(m.path, m.data)
            original = len(data)
            data, cut = caps.keep_head_and_tail(data, spec.max_file_bytes,
                                                f"per-file cap {spec.max_file_bytes} bytes")
            members.append(Member(m.path, data))
            rows.append({"path": m.path, "collector": outcome.name, "original_bytes": original, "cut_bytes": cut})
    budget = max(0, spec.max_total_bytes - METADATA_RESERVE)
    share = caps.shared_limit([len(m.data) for m in members], budget)
    for m, row in zip(members, rows, strict=True):
        if share is not None and len(m.data) > share:
            m.data, cut = caps.keep_head_and_tail(m.data, share, f"total cap {spec.max_total_bytes} bytes")
            row["cut_bytes"] += cut
        row["bytes"] = len(m.data)
    return members, rows


def _manifest(ran: list[tuple[Outcome, list[Member]]], members: list[Member], files: list[dict[str, Any]],
              redactor: BundleRedactor, spec: BundleSpec, started: str, duration_s: float) -> dict[str, Any]:
    found = verdicts(members)
    return {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": "agentops", "version": __version__, "host": platform.node()},
        "started_at": started,
        "duration_s": round(duration_s, 3),
        "deadline_s": spec.deadline_s,
        "options": spec.options,
        "verdict": found[0] if found else None,
        "verdicts": found,
        "health": health_line(members),
        "collectors": [o.to_dict() for o, _ in ran],
        "files": files,
        "caps": {"max_file_bytes": spec.max_file_bytes, "max_total_bytes": spec.max_total_bytes},
        "redaction": {"report": "redaction-report.json", "masked": redactor.report()["masked"],
                      "stable_tokens": redactor.stable_tokens},
    }


def _write_tar(fh: Any, top: str, members: list[Member]) -> None:
    now = time.time()
    with tarfile.open(fileobj=fh, mode="w:gz") as tar:
        for m in members:
            info = tarfile.TarInfo(f"{top}/{m.path}")
            info.size, info.mtime, info.mode = len(m.data), now, 0o644
            info.uname = info.gname = "agentops"
            tar.addfile(info, io.BytesIO(m.data))
