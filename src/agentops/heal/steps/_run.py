"""Running a restart program for a heal step: an argv (never a shell), its output to a file rather than a
pipe (a command that starts a daemon leaves it holding a pipe open, and reading to EOF would wait for the
daemon's end), waited for by its exit under a deadline, its redacted tail kept."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile

from agentops.core.model import Reason
from agentops.core.redact import argv_secrets, redact, register_secret
from agentops.maintain.step import StepOutcome

TAIL_BYTES = 2000


def shown(argv: list[str]) -> str:
    for secret in argv_secrets(argv):
        register_secret(secret)
    return redact(" ".join(argv))


async def run_argv(argv: list[str], timeout: float) -> tuple[int, str] | StepOutcome:
    """(exit code, output tail), or a failed outcome (cannot start, killed at the deadline)."""
    text = shown(argv)
    with tempfile.TemporaryFile() as out:
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return StepOutcome.failure(Reason.ASSERTION, f"cannot run {argv[0]}: {exc.strerror or exc}")
        try:
            code = await asyncio.wait_for(proc.wait(), max(0.1, timeout))
        except (TimeoutError, asyncio.CancelledError) as exc:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return StepOutcome.failure(Reason.TIMEOUT, f"{text}: killed after {timeout:g}s")
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - TAIL_BYTES))
        tail = redact(out.read().decode(errors="replace"))
    return code, tail


def command_outcome(argv: list[str], result: tuple[int, str] | StepOutcome) -> StepOutcome | tuple[str, str]:
    """A failed outcome for a non-zero exit, else (shown command, output tail)."""
    if isinstance(result, StepOutcome):
        return result
    code, tail = result
    text = shown(argv)
    if code != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        return StepOutcome.failure(Reason.ASSERTION, f"{text}: exit code {code}" + (f": {last}" if last else ""),
                                   argv=text, exit_code=code, output_tail=tail)
    return text, tail
