"""Python stack sampling with py-spy (the optional [stacks] extra): `py-spy record --format raw` over the
profiling window, aggregated into the frames a process spends its samples in.

py-spy reads the target's memory with ptrace/process_vm_readv: it needs root, the same user with
`kernel.yama.ptrace_scope` 0, or CAP_SYS_PTRACE. When it is missing or not permitted the profile says so
plainly and goes on without stacks.

Samples include idle threads (`--idle`) because a handler that blocks the event loop in `time.sleep` or a
synchronous socket read is "idle" to py-spy yet is exactly what an operator is looking for. Two views follow:

- hot frames: the leaf frame of each sample that is not a known wait point (a selector, a lock or condition
  wait), i.e. where the process spends its working time;
- the event loop: for each thread running asyncio, the share of its samples spent *inside a callback*
  (`Handle._run`) rather than waiting in the selector. A loop that is busy most of the time cannot take new
  messages; with low CPU that is a blocking call in a handler, with high CPU a CPU-bound handler.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Leaf frames that mean "this thread is waiting", by function name (py-spy: "func (file:line)").
# "Thread.run" as a leaf means the thread's target is C code with no Python frame under it (gRPC's completion
# queue poller, a native server loop): it waits or works in C, not in Python the operator can change.
WAIT_FUNCTIONS = {
    "Thread.run", "_PollLikeSelector.select", "EpollSelector.select", "PollSelector.select",
    "SelectSelector.select", "KqueueSelector.select", "DevpollSelector.select", "BaseSelector.select",
    "Condition.wait", "Event.wait", "Thread.join", "Thread._wait_for_tstate_lock", "Queue.get",
    "SimpleQueue.get", "Semaphore.acquire", "_worker", "socket.accept",
}
LOOP_MARK = "BaseEventLoop._run_once"
CALLBACK_MARK = "Handle._run"

_LINE_RE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_THREAD_RE = re.compile(r"^thread \((?P<tid>\w+)\): (?P<name>[^;]*)$")


@dataclass
class FrameCount:
    frame: str
    samples: int
    share: float  # of the samples it is counted among

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "samples": self.samples, "share": round(self.share, 4)}


@dataclass
class LoopActivity:
    thread: str
    samples: int
    busy_samples: int
    top_frames: list[FrameCount] = field(default_factory=list)  # leaves of the busy samples

    @property
    def busy_share(self) -> float:
        return self.busy_samples / self.samples if self.samples else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"thread": self.thread, "samples": self.samples, "busy_samples": self.busy_samples,
                "busy_share": round(self.busy_share, 4), "top_frames": [f.to_dict() for f in self.top_frames]}


@dataclass
class StackProfile:
    pid: int
    available: bool
    reason: str = ""  # why there are no stacks, in words
    samples: int = 0
    active_samples: int = 0
    hot_frames: list[FrameCount] = field(default_factory=list)
    loops: list[LoopActivity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "available": self.available, "reason": self.reason, "samples": self.samples,
                "active_samples": self.active_samples, "hot_frames": [f.to_dict() for f in self.hot_frames],
                "loops": [lp.to_dict() for lp in self.loops]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StackProfile:
        """Stacks another machine recorded (to_dict's shape: serve --node); a wrong shape is a ValueError."""
        try:
            def frames(items: list[dict[str, Any]]) -> list[FrameCount]:
                return [FrameCount(str(f["frame"]), int(f["samples"]), float(f["share"])) for f in items]

            return cls(pid=int(doc["pid"]), available=bool(doc["available"]), reason=str(doc.get("reason", "")),
                       samples=int(doc.get("samples", 0)), active_samples=int(doc.get("active_samples", 0)),
                       hot_frames=frames(doc.get("hot_frames", [])),
                       loops=[LoopActivity(str(lp["thread"]), int(lp["samples"]), int(lp["busy_samples"]),
                                           frames(lp.get("top_frames", []))) for lp in doc.get("loops", [])])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a stack profile ({exc})") from None

    @property
    def busiest_loop(self) -> LoopActivity | None:
        loops = [lp for lp in self.loops if lp.samples]
        return max(loops, key=lambda lp: lp.busy_share) if loops else None


def find_py_spy() -> str | None:
    """py-spy on PATH, or beside this Python (a venv's bin/ is often not on PATH)."""
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def function_of(frame: str) -> str:
    """"Handle._run (asyncio/events.py:80)" -> "Handle._run"."""
    return frame.split(" (", 1)[0].strip()


def parse_raw(text: str, top: int = 10) -> tuple[int, int, list[FrameCount], list[LoopActivity]]:
    """py-spy's raw (collapsed) format with --threads: "thread (tid): name;frame;…;leaf COUNT" per line.
    Returns (samples, active samples, hot frames, event loops)."""
    total = active = 0
    hot: Counter[str] = Counter()
    loops: dict[str, LoopActivity] = {}
    loop_leaves: dict[str, Counter[str]] = {}
    for line in text.splitlines():
        m = _LINE_RE.match(line.strip())
        if not m:
            continue
        count = int(m.group("count"))
        frames = m.group("stack").split(";")
        thread = frames[0]
        tm = _THREAD_RE.match(thread)
        if tm:
            thread = f"{tm.group('name') or 'thread'} ({tm.group('tid')})"
            frames = frames[1:]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        if function_of(leaf) not in WAIT_FUNCTIONS:
            active += count
            hot[leaf] += count
        functions = [function_of(f) for f in frames]
        if LOOP_MARK in functions:
            activity = loops.setdefault(thread, LoopActivity(thread, 0, 0))
            activity.samples += count
            after = functions[functions.index(LOOP_MARK) + 1:]
            if CALLBACK_MARK in after:
                activity.busy_samples += count
                loop_leaves.setdefault(thread, Counter())[leaf] += count
    for thread, activity in loops.items():
        leaves = loop_leaves.get(thread, Counter())
        activity.top_frames = [FrameCount(f, n, n / activity.busy_samples) for f, n in leaves.most_common(top)]
    hot_frames = [FrameCount(f, n, n / active) for f, n in hot.most_common(top)] if active else []
    return total, active, hot_frames, sorted(loops.values(), key=lambda lp: -lp.samples)


def _explain_failure(stderr: str, code: int | None) -> str:
    text = stderr.strip()
    lower = text.lower()
    if "permission" in lower or "not permitted" in lower or "eperm" in lower:
        return ("py-spy is not permitted to read this process (ptrace): run as root or as the process's user "
                "with kernel.yama.ptrace_scope=0, or grant CAP_SYS_PTRACE (in a container: --cap-add SYS_PTRACE)")
    if "check that the process is running" in lower or "no such process" in lower:
        return "the process exited before py-spy could attach"
    if "failed to find python version" in lower:
        return "not a Python process (py-spy found no interpreter in it)"
    # py-spy prints "Error: <what>" and then a Rust backtrace: the first line is the one that says something.
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "no message")
    return f"py-spy failed (exit {code}): {first.removeprefix('Error: ')}"


async def record(pid: int, duration_s: float, *, rate: int = 50, top: int = 10,
                 py_spy: str | None = None) -> StackProfile:
    """Sample `pid`'s Python stacks for `duration_s` (whole seconds, at least 1) without pausing it
    (--nonblocking). Never raises for an expected failure: the profile says what went wrong."""
    exe = py_spy or find_py_spy()
    if exe is None:
        return StackProfile(pid, False, "py-spy is not installed (the [stacks] extra: pip install py-spy)")
    seconds = max(1, math.ceil(duration_s))
    with tempfile.TemporaryDirectory(prefix="agentops-stacks-") as tmp:
        out = Path(tmp) / "stacks.txt"
        cmd = [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate), "--format",
               "raw", "--output", str(out), "--nonblocking", "--idle", "--threads"]
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            return StackProfile(pid, False, f"cannot run py-spy ({exe}): {exc.strerror or exc}")
        try:
            # py-spy stops itself after --duration; the margin covers attaching and writing the file.
            _, err = await asyncio.wait_for(proc.communicate(), seconds + 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return StackProfile(pid, False, f"py-spy did not finish within {seconds + 15}s and was stopped")
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        stderr = err.decode("utf-8", "replace")
        if proc.returncode != 0 or not out.is_file():
            return StackProfile(pid, False, _explain_failure(stderr, proc.returncode))
        text = out.read_text(encoding="utf-8", errors="replace")
    samples, active, hot, loops = parse_raw(text, top)
    if not samples:
        return StackProfile(pid, False, "py-spy collected no samples (the process may have exited)")
    return StackProfile(pid, True, "", samples, active, hot, loops)
