"""`maintain schedule`: the crontab line, or the systemd timer and service units, that run a playbook.

Nothing is installed unless asked (`--install DIR` writes the files into DIR; enabling them stays with the
operator: `systemctl daemon-reload && systemctl enable --now agentops-maintain-daily.timer`).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from dataclasses import dataclass

MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
          "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
DOW_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
          "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_ITEM_RE = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(\d+))?$")


class ScheduleError(ValueError):
    pass


@dataclass
class CronSpec:
    text: str
    fields: list[list[tuple[str, int | None]]]  # per field: (range text with numbers, step)


def parse_cron(expr: str) -> CronSpec:
    """Validate a 5-field cron expression (or @daily & co.); ScheduleError names the bad field."""
    text = " ".join(expr.split())
    text = MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise ScheduleError(f"cron expression {expr!r} needs 5 fields (minute hour day-of-month month day-of-week)"
                            f", got {len(parts)}")
    fields = []
    for part, (name, lo, hi) in zip(parts, FIELDS, strict=True):
        items = []
        for item in part.lower().split(","):
            m = _ITEM_RE.match(item)
            if not m:
                raise ScheduleError(f"cron {name} field {part!r} is not valid")
            rng, step = m.group(1), m.group(2)
            if rng != "*":
                bounds = [_value(b, name, lo, hi) for b in rng.split("-")]
                if len(bounds) == 2 and bounds[0] > bounds[1]:
                    raise ScheduleError(f"cron {name} range {rng!r} runs backwards")
                rng = "-".join(str(b) for b in bounds)
            if step is not None and int(step) == 0:
                raise ScheduleError(f"cron {name} step must not be 0")
            items.append((rng, int(step) if step else None))
        fields.append(items)
    return CronSpec(text, fields)


def _value(token: str, name: str, lo: int, hi: int) -> int:
    value = _NAMES.get(token[:3]) if not token.isdigit() else int(token)
    if value is None or not lo <= value <= hi:
        raise ScheduleError(f"cron {name} value {token!r} is out of range {lo}-{hi}")
    return value


def on_calendar(spec: CronSpec) -> str:
    """systemd OnCalendar= for the cron schedule. Cron runs when day-of-month OR day-of-week matches if
    both are restricted; systemd needs both, so that combination is refused rather than silently changed."""
    minute, hour, dom, month, dow = spec.fields
    if dom != [("*", None)] and dow != [("*", None)]:
        raise ScheduleError("cron with both day-of-month and day-of-week restricted means 'either' and has no "
                            "systemd equivalent; use --format cron or split it into two timers")

    def calendar(items: list[tuple[str, int | None]], width: int, lo: int) -> str:
        out = []
        for rng, step in items:
            if rng == "*":
                out.append(f"{lo:0{width}d}/{step}" if step else "*")
                continue
            a, _, b = rng.partition("-")
            first = f"{int(a):0{width}d}"
            if step:
                out.append(f"{first}..{int(b):0{width}d}/{step}" if b else f"{first}/{step}")
            else:
                out.append(f"{first}..{int(b):0{width}d}" if b else first)
        return ",".join(out)

    days = ""
    if dow != [("*", None)]:
        names = []
        for rng, step in dow:
            if step:
                raise ScheduleError("a step in the day-of-week field has no systemd equivalent")
            a, _, b = rng.partition("-")
            names.append(f"{DOW_NAMES[int(a)]}..{DOW_NAMES[int(b)]}" if b else DOW_NAMES[int(a)])
        days = ",".join(names) + " "
    return (f"{days}*-{calendar(month, 2, 1)}-{calendar(dom, 2, 1)} "
            f"{calendar(hour, 2, 0)}:{calendar(minute, 2, 0)}:00")


def agentops_argv() -> list[str]:
    found = shutil.which("agentops")
    return [found] if found else [sys.executable, "-m", "agentops"]


def run_argv(playbook: str, *, config: str | None, state_dir: str | None, assume_yes: bool,
             variables: list[str]) -> list[str]:
    argv = [*agentops_argv(), "maintain", "run", playbook, "--output", "json"]
    if config:
        argv += ["--config", config]
    if state_dir:
        argv += ["--state-dir", state_dir]
    for v in variables:
        argv += ["--var", v]
    if assume_yes:
        argv.append("--yes")
    return argv


def unit_name(playbook: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", playbook.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml"))
    return f"agentops-maintain-{safe}"


def crontab_line(spec: CronSpec, argv: list[str], *, user: str | None = None) -> str:
    """A user crontab line, or with `user` an /etc/cron.d line. cron treats '%' as a newline: escaped."""
    command = " ".join(shlex.quote(a) for a in argv).replace("%", r"\%")
    who = f" {user}" if user else ""
    return f"{spec.text}{who} {command} >/dev/null 2>&1\n"


def systemd_units(playbook: str, spec: CronSpec, argv: list[str], *, user: str | None = None) -> dict[str, str]:
    name = unit_name(playbook)
    exec_start = " ".join(_systemd_quote(a) for a in argv)
    service = (
        "[Unit]\n"
        f"Description=agentops maintenance playbook {playbook}\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        + (f"User={user}\n" if user else "")
        + "Nice=10\n"
        "IOSchedulingClass=idle\n"
        # Exit code 1 (WARNING) is a finished run with something to look at, and 4 means the previous run
        # still holds the lock: neither is a failed unit.
        "SuccessExitStatus=1 4\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=Run agentops maintenance playbook {playbook} ({spec.text})\n\n"
        "[Timer]\n"
        f"OnCalendar={on_calendar(spec)}\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def _systemd_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg) and "%" not in arg:
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
