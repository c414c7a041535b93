"""`worker.start`: what a worker's start left behind — did it exit on an error (which, and from where), and how
often has it started lately (a crash loop under a supervisor)?

A worker that is not agentops' child has no exit status agentops can wait for, so this reads what exists:

- its process (`options.process`): running or not; a pid file that names a pid which is gone says the
  process ran and exited;
- its stderr (`options.stderr`: the file a supervisor or shell redirect writes it to) and its log files: the
  traceback the file ends with. An uncaught exception is printed to stderr by the interpreter, never to a
  `logging` file, so without `stderr` a start failure is often invisible. The traceback counts only when it
  is the last thing in the file and fresh (a file last written before the pid file, the current start, holds
  an earlier run's error); in a log file, where a handler's logged exception lands too, only an error that
  stops a start (an import error, an unreachable host, a duplicate registration);
- its supervisor (`options.unit`): systemd's ExecMainCode/ExecMainStatus (exit code or signal) and NRestarts,
  read with `systemctl show` when systemd runs on this machine (said so when it does not);
- start records in its log within the window: AutoGen's GrpcWorkerAgentRuntime.start() logs
  `Connecting to host: …` (logger autogen_core, INFO) every time it starts, so N of them in the window are
  N-1 restarts — counted as crash restarts only up to the exit errors (tracebacks) its stderr holds, written
  within the window: an operator restarting a worker is not a crash loop. Records without a timestamp (the
  `LEVEL:name:message` layout), a log at WARNING, or no `stderr` give no count, and the facts say so.

Metrics (judged by the packs: `autogen.worker.start` in checks/autogen.yaml, `worker.start` and
`cluster.start` in checks/diagnose.yaml): `running`; `exit_error` (1: not running, and its last output is an
error other than a duplicate registration); `duplicate_registration` (1: it exited because its agent type was
already registered by another client — the type may well be served); `restarts`; `exit_status` (systemd only).

In logs/ (not probes/) because it reads log files and classifies their last error with `logs.classify`,
which the probes layer may not import; registered as a probe like any other (core.registry).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from agentops.core.format import utc_stamp
from agentops.core.model import Observation, Reason
from agentops.core.osproc import communicate_within
from agentops.core.probe import Probe, check_params
from agentops.core.target import Target
from agentops.logs.classify import classify_text, fold_rpc_error

if TYPE_CHECKING:
    from agentops.core.cluster import WorkerSpec

TAIL_BYTES = 256 * 1024  # the end of a stderr or log file: where the last run's error is
START_MARK = "Connecting to host: "  # autogen_ext's GrpcWorkerAgentRuntime.start(), logger autogen_core, INFO
DEFAULT_WINDOW_S = 600.0
# How a start failure showed, from the classified error (the failure mode's cases, diagnose/knowledge.py).
CASES = {
    "duplicate-registration": "duplicate-registration",
    **dict.fromkeys(("missing-module", "version-mismatch", "missing-attribute", "missing-system-library",
                     "syntax-error", "circular-import"), "import-error"),
    **dict.fromkeys(("connection-refused", "dns", "timeout", "network"), "host-unreachable"),
}
OTHER_CASE = "error"
# systemd's ExecMainCode: how the main process ended (waitid's si_code).
_CLD = {"1": "exited", "2": "killed", "3": "dumped"}
_TRACEBACK = "Traceback (most recent call last):"
# The indented lines of grpc.aio's AioRpcError repr (logs.classify.fold_rpc_error reads them).
_RPC_REPR = ("status = StatusCode.", "details = ", "debug_error_string = ")


@dataclass
class LastError:
    """The last traceback a worker's output ends with."""

    source: str
    text: str  # the traceback (its last lines)
    written_at: float  # the file's mtime: when its last line was written
    kind: str  # the classification (missing-module, duplicate-registration, …)
    case: str  # CASES' word for it
    line: str  # the exception line, one line
    cause: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "written_at": utc_stamp(self.written_at, timespec="seconds"),
                "kind": self.kind, "case": self.case, "line": self.line, "cause": self.cause, "fix": self.fix,
                "traceback_tail": [t for t in self.text.strip().splitlines() if not _noise(t)][-8:]}


def _noise(line: str) -> bool:
    """A traceback line that says nothing once folded: its head, the caret lines under a quoted source line,
    and gRPC's repr (its status and details are the folded exception line)."""
    text = line.strip()
    return (not text.strip("^~ ") or text in (_TRACEBACK, ">") or text.startswith(_RPC_REPR)
            or "<AioRpcError of RPC" in text)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _ends_file(block: str) -> bool:
    """Is the traceback the last thing the file holds? Its last line must be an exception line (or the end of
    gRPC's error repr); anything else after it (a later log record) means the process went on."""
    from agentops.logs.classify import exception_lines

    lines = [t for t in block.splitlines() if t.strip()]
    last = lines[-1] if lines else ""
    return last.strip() == ">" or last.startswith("\t") or bool(exception_lines(last))


def last_error(path: Path, not_before: float | None = None, *, start_kinds_only: bool = False,
               log_format: str | None = None) -> LastError | None:
    """The traceback the file ends with, if the file was written at or after `not_before` (the current start:
    a file last written before it holds an earlier run's error). `start_kinds_only` (a log file, where a
    handler's logged exception lands too): only an error that stops a start (CASES), read from the file's last
    record in its layout (`log_format`, or detected: a JSON log holds the traceback inside a field)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    if not_before is not None and mtime + 1.0 < not_before:  # mtime granularity and clock steps: 1 s
        return None
    block = _last_record_traceback(path, log_format) if start_kinds_only else _raw_traceback(_tail(path))
    if block is None:
        return None
    folded = fold_rpc_error(block)  # the same fold classify_text makes, kept in the evidence text
    c = classify_text(folded)
    if start_kinds_only and c.kind not in CASES:
        return None
    line = f"{c.exception}: {c.message}" if c.exception else folded.strip().splitlines()[-1]
    return LastError(source=str(path), text=folded, written_at=mtime, kind=c.kind,
                     case=CASES.get(c.kind, OTHER_CASE), line=line[:400], cause=c.cause, fix=c.fix)


def _raw_traceback(text: str) -> str | None:
    """The traceback a raw stream (stderr) ends with, or None when something else was written after it."""
    at = text.rfind(_TRACEBACK)
    if at < 0:
        return None
    block = "\n".join(text[at:].splitlines()[:400])
    return block if _ends_file(block) else None


def _last_record_traceback(path: Path, log_format: str | None) -> str | None:
    """The traceback of a log file's last record (its exception field, or the plain record's own lines)."""
    from agentops.logs.ranges import read_records, size_of

    records, _ = read_records(path, start=max(0, size_of(path) - TAIL_BYTES), log_format=log_format)
    last = records[-1] if records else None
    if last is None:
        return None
    if last.exception:
        return f"{_TRACEBACK}\n{last.exception}" if _TRACEBACK not in last.exception else last.exception
    return _raw_traceback(last.message)


def start_records(paths: list[Path], since: float) -> dict[str, Any]:
    """Start records (AutoGen's `Connecting to host:`) in the logs' tails: how many in the window, and how many
    carried no timestamp (uncountable in a window)."""
    from agentops.logs.records import parse_record
    from agentops.logs.stats import InputStats

    stats = InputStats()
    timed: list[float] = []
    untimed = 0
    for path in paths:
        for raw in _tail(path).encode().splitlines():
            if START_MARK.encode() not in raw:
                continue
            rec = parse_record(raw, stats)
            if START_MARK not in rec.message:
                continue
            if rec.ts is None:
                untimed += 1
            elif rec.ts >= since:
                timed.append(rec.ts)
    out: dict[str, Any] = {"in_window": len(timed), "untimed": untimed}
    if timed:
        out.update(first_at=utc_stamp(min(timed), timespec="seconds"),
                   last_at=utc_stamp(max(timed), timespec="seconds"))
    return out


def exit_errors(paths: list[Path], since: float) -> int:
    """Tracebacks in the tails of the stderr files written within the window (each is a run that ended on an
    error; stderr lines carry no time, so a file last written before the window counts none)."""
    count = 0
    for path in paths:
        try:
            if path.stat().st_mtime < since:
                continue
        except OSError:
            continue
        count += _tail(path).count(_TRACEBACK)
    return count


SYSTEMD_PROPERTIES = ("ActiveState", "SubState", "Result", "ExecMainPID", "ExecMainCode", "ExecMainStatus",
                      "NRestarts")


def parse_systemctl_show(text: str) -> dict[str, str]:
    """`systemctl show -p A,B …` output (KEY=VALUE lines) as a mapping."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in SYSTEMD_PROPERTIES:
            out[key] = value.strip()
    return out


async def systemd_status(unit: str, timeout: float) -> tuple[dict[str, str] | None, str]:
    """(properties, "") or (None, why not read)."""
    if not Path("/run/systemd/system").is_dir() or not shutil.which("systemctl"):
        return None, f"unit {unit} is configured, but systemd is not running on this machine: not read"
    proc = await asyncio.create_subprocess_exec(
        "systemctl", "show", "-p", ",".join(SYSTEMD_PROPERTIES), "--", unit, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    done = await communicate_within(proc, timeout)
    if done is None:
        return None, f"systemctl show {unit} did not answer within {timeout:g}s"
    out, err = done
    if proc.returncode != 0:
        return None, f"systemctl show {unit} failed: {err.decode(errors='replace').strip()[:200]}"
    return parse_systemctl_show(out.decode(errors="replace")), ""


def _supervisor_exit(props: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, float]]:
    facts: dict[str, Any] = {"systemd": dict(props)}
    metrics: dict[str, float] = {}
    how = _CLD.get(props.get("ExecMainCode", ""))
    status = props.get("ExecMainStatus", "")
    if how and status.isdigit():
        facts["exit"] = f"exit status {status}" if how == "exited" else f"killed by signal {status}"
        if how == "exited":
            metrics["exit_status"] = float(status)
    if props.get("NRestarts", "").isdigit():
        metrics["restarts"] = float(props["NRestarts"])
    return facts, metrics


async def measure_start(spec: WorkerSpec, *, since: float, host_address: str | None, timeout: float) -> Observation:
    """The worker's start evidence as one Observation (see the module docstring)."""
    metrics: dict[str, float] = {}
    facts: dict[str, Any] = {"worker": spec.name}
    said: list[str] = []
    running: bool | None = None
    not_before: float | None = None
    if spec.process.configured and spec.runs_here(host_address):
        alive = spec.process.find()
        running = bool(alive)
        metrics["running"] = float(running)
        facts.update(running=running, pids=sorted(p.pid for p in alive))
        pid_file = spec.process.pid_file
        if pid_file is not None:
            from agentops.core.osproc import read_pid_file

            pid = read_pid_file(str(pid_file))
            facts["pid_file"] = str(pid_file)
            if pid is not None:
                facts["pid_file_pid"] = pid
                try:
                    not_before = pid_file.stat().st_mtime
                except OSError:
                    not_before = None
                if not running:
                    said.append(f"its pid file {pid_file} names pid {pid}, which is gone: the process exited")
        said.insert(0, f"running (pid {', '.join(map(str, facts['pids']))})" if running else "not running")
    elif spec.process.configured:
        facts["running"] = None
        said.append("its process runs on another machine: not checked")

    if spec.unit:
        props, why = await systemd_status(spec.unit, timeout)
        if props is None:
            facts["supervisor_note"] = why
        else:
            more, sup = _supervisor_exit(props)
            facts.update(more)
            metrics.update(sup)
            said.append(f"systemd {spec.unit}: {props.get('ActiveState', '?')}/{props.get('SubState', '?')}"
                        + (f", last {more['exit']}" if "exit" in more else "")
                        + (f", restarted {props['NRestarts']} times" if "restarts" in sup else ""))

    if running is False and "exit" not in facts:
        facts["exit_status_note"] = ("its exit status is not known: it is not agentops' child, and no systemd unit "
                                     "(options.unit) read on this machine says it")
    if running is False or (running is None and facts.get("systemd", {}).get("ActiveState") in ("failed",
                                                                                               "activating")):
        sources = [(p, False) for p in spec.stderr_files()] + [(p, True) for p in spec.log_files()]
        err = next((e for p, start_only in sources
                    if (e := last_error(p, not_before, start_kinds_only=start_only,
                                        log_format=spec.log_format)) is not None), None)
        if err is not None:
            facts["last_error"] = err.to_dict()
            dup = err.kind == "duplicate-registration"
            metrics["duplicate_registration"] = float(dup)
            metrics["exit_error"] = float(not dup)
            said.append(f"exited on an error ({err.case}): {err.line} (from {err.source}, written "
                        f"{utc_stamp(err.written_at, timespec='seconds')})")
        else:
            metrics.update(exit_error=0.0, duplicate_registration=0.0)
            where = ", ".join(map(str, spec.stderr_files() + spec.log_files())) or "none configured"
            said.append(f"no error in its stderr or logs ({where}): killed by a signal, or its output goes "
                        f"elsewhere" + ("" if spec.stderr else " (options.stderr names where its stderr goes)"))

    if "restarts" not in metrics and spec.logs:
        starts = start_records(spec.log_files(), since)
        facts["starts"] = {**starts, "window_s": round(time.time() - since)}
        # A start record says it started, not that the run before it crashed (an operator restarts workers
        # too): a restart counts when its stderr, written within the window, holds an exit error for it.
        exits = exit_errors(spec.stderr_files(), since)
        if starts["in_window"] and spec.stderr:
            restarts = min(starts["in_window"] - 1, exits)
            facts["starts"]["exit_errors"] = exits
            metrics["restarts"] = float(restarts)
            facts["restarts_from"] = "start records ('Connecting to host:') in its log, each after an exit error " \
                                     "in its stderr"
            if restarts:
                said.append(f"started {starts['in_window']} times since {starts['first_at']}, {exits} exit errors "
                            f"in its stderr ({restarts} restarts after a crash)")
        elif starts["in_window"] > 1:
            facts["restarts_note"] = (f"{starts['in_window']} starts in the window, not counted as crash restarts: "
                                      f"without options.stderr they cannot be told from deliberate restarts")
        elif starts["untimed"]:
            facts["restarts_note"] = (f"{starts['untimed']} start records without a timestamp: restarts within the "
                                      f"window not counted (add %(asctime)s to the log format)")
    elif "restarts" in metrics:
        facts["restarts_from"] = f"systemd NRestarts of {spec.unit}"

    if not (spec.process.configured or spec.stderr or spec.logs or spec.unit):
        # Not a failure of the check: there is nothing of this worker's start to read, and the message says so.
        said.append("nothing to read its start from (options.process, stderr, logs or unit)")
    return Observation(metrics=metrics, facts=facts, message=f"worker {spec.name}: " + "; ".join(said), explains=True)


class WorkerStartProbe(Probe):
    kind = "worker.start"
    target_kinds = ("worker",)
    description = "AutoGen worker start: running, or exited on which error (stderr, log, systemd); restarts"
    metrics: ClassVar[dict[str, str]] = {
        "running": "1 when its process runs (options.process, on this machine)",
        "exit_error": "1: not running, and its stderr or log ends with an error (other than a duplicate "
                      "registration)",
        "duplicate_registration": "1: it exited because its agent type was already registered by another client",
        "restarts": "restarts: systemd's NRestarts, or start records in its log within the window, less one",
        "exit_status": "the main process's exit status (systemd)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"window_s"})
        window = params.get("window_s", DEFAULT_WINDOW_S)
        if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
            raise ValueError("window_s must be a positive number of seconds")

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.core.cluster import worker_spec
        from agentops.core.yamlsrc import ConfigError

        try:
            spec = worker_spec(target)
        except ConfigError as exc:
            return Observation.failure(Reason.INTERNAL, f"bad target options: {exc}")
        window = float(params.get("window_s", DEFAULT_WINDOW_S))
        return await measure_start(spec, since=time.time() - window, host_address=spec.host, timeout=timeout)
