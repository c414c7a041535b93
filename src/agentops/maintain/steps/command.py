"""command: run an argv list (never through a shell) with a timeout; the exit code decides ok or failed.

It counts as destructive (it can do anything) and, in check mode, is not run unless the playbook marks it
`run_in_check_mode: true` (a read-only command). A command that ran is `changed` unless it says
`changes: false`. Its output's tail is kept, redacted, in the outcome; values of secret flags
(`--password X`, `--token=X`), of secret-named `env` variables (PGPASSWORD, API_TOKEN, APP_SECRET...) and the
password inside a DSN or URL `env` value are masked wherever the argv is shown or audited, and in that tail.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from typing import Any

from agentops.core.model import Reason
from agentops.core.redact import argv_secrets, redact, register_credentials_in, register_secret, secret_env_name
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome

TAIL_BYTES = 2000


class CommandStep(Step):
    kind = "command"
    description = "run a program (argv list, no shell) with a timeout; exit code -> ok/failed"
    destructive = True
    default_timeout = 600.0
    params_doc = {
        "argv": "the program and its arguments, a list (no shell: no pipes, globs or $VARS)",
        "cwd": "working directory (default /)",
        "env": "extra environment variables (mapping)",
        "ok_codes": "exit codes that mean success (default [0])",
        "changes": "whether a successful run counts as a change (default true)",
        "run_in_check_mode": "run it in check mode too, for read-only commands (default false)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        argv = params.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int | float) for a in argv):
            raise ValueError("argv: expected a non-empty list of strings, e.g. [systemctl, reload, nginx]")
        codes = params.get("ok_codes", [0])
        if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
            raise ValueError("ok_codes: expected a list of integers")
        env = params.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str | int | float) for v in env.values()):
            raise ValueError("env: expected a mapping of names to strings")
        for key in ("changes", "run_in_check_mode"):
            if not isinstance(params.get(key, False), bool):
                raise ValueError(f"{key}: expected true or false")

    async def run(self, ctx: StepContext) -> StepOutcome:
        argv = [str(a) for a in ctx.params["argv"]]
        for secret in argv_secrets(argv):  # masked in what is shown and audited, and in the program's output
            register_secret(secret)
        extra_env = {str(k): str(v) for k, v in (ctx.params.get("env") or {}).items()}
        for name, value in extra_env.items():  # the program may print its environment (or a failing DSN)
            if secret_env_name(name):
                register_secret(value)
            register_credentials_in(value)
        shown = " ".join(argv)
        if ctx.check and not ctx.params.get("run_in_check_mode", False):
            out = StepOutcome(Outcome.CHANGED, f"would run: {shown}")
            ctx.record_change(out, f"run {shown}")
            return out
        env = {**os.environ, **extra_env}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=ctx.params.get("cwd", "/"), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return StepOutcome.failure(Reason.ASSERTION, f"cannot run {argv[0]}: {exc.strerror or exc}")
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), max(0.1, ctx.remaining()))
        except (TimeoutError, asyncio.CancelledError) as exc:
            _kill_group(proc.pid)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return StepOutcome.failure(Reason.TIMEOUT, f"{shown}: killed after {ctx.timeout:g}s")
        tail = redact(output[-TAIL_BYTES:].decode(errors="replace"))
        code = proc.returncode
        facts = {"argv": argv, "exit_code": code, "output_tail": tail}
        if code not in ctx.params.get("ok_codes", [0]):
            last = tail.strip().splitlines()[-1] if tail.strip() else ""
            return StepOutcome.failure(Reason.ASSERTION, f"{shown}: exit code {code}" + (f": {last}" if last else ""),
                                       **facts)
        changes = ctx.params.get("changes", True)
        out = StepOutcome(Outcome.CHANGED if changes else Outcome.OK, f"{shown}: exit code {code}", facts=facts)
        if changes:
            ctx.record_change(out, f"ran {shown}")
        return out


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
