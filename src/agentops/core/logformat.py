"""A target's `log_format`: how its log files are laid out, validated when the config is loaded.

    log_format: json                                   # one JSON object per line
    log_format: text                                   # plain text, each record's layout detected
    log_format: "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"   # the logging.Formatter string
    log_format: '^(?P<ts>\\S+ \\S+) \\[(?P<level>\\w+)\\] (?P<message>.*)$'    # a regex with named groups

A Python logging format string is turned into a regex over a record's first line; a regex is taken as is and
must name a `message` (or `msg`) group. Groups the log reader understands: ts (asctime, time, timestamp,
created), level (levelname, levelno), logger (name), message (msg), agent_id, request_id, message_id,
trace_id, process; any other group is matched and ignored. In core because the config validates it
(`core.cluster`); `logs.records` parses with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

NAMED_FORMATS = ("json", "text")

# A timestamp as logging's default asctime writes it ("2026-12-03 13:56:27,123"), ISO-8601 too; a datefmt of
# the user's own is matched lazily up to the next literal of the format.
TS_PATTERN = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
LEVEL_PATTERN = r"DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|debug|info|warning|warn|error|critical|fatal"
_NUMBER = r"\d+(?:\.\d+)?"

# LogRecord attribute -> (group name, pattern).
_FIELDS: dict[str, tuple[str, str]] = {
    "asctime": ("ts", rf"(?:{TS_PATTERN}|.+?)"),
    "created": ("created", _NUMBER),
    "msecs": ("msecs", _NUMBER),
    "relativeCreated": ("relative", _NUMBER),
    "levelname": ("level", f"(?:{LEVEL_PATTERN})"),
    "levelno": ("levelno", r"\d+"),
    "name": ("logger", r"\S+?"),
    "message": ("message", r".*"),
    "process": ("process", r"\d+"),
    "thread": ("thread", r"\d+"),
    "lineno": ("lineno", r"\d+"),
    "processName": ("process_name", r".+?"),
    "threadName": ("thread_name", r".+?"),
    "taskName": ("task_name", r".+?"),
    "module": ("module", r"\S+?"),
    "funcName": ("function", r"\S+?"),
    "filename": ("filename", r"\S+?"),
    "pathname": ("pathname", r"\S+?"),
}
_PLACEHOLDER = re.compile(r"%\((?P<name>\w+)\)(?P<flags>[-#0 +]*)(?P<width>\d*)(?:\.\d+)?(?P<conv>[a-zA-Z%])|%%")
_GROUP = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class LogLayout:
    """A parsed `log_format`: `json`, `text`, or a `layout` whose `head` regex matches a record's first line."""

    source: str
    kind: str  # json | text | layout
    head: re.Pattern[str] | None = None


def from_logging_format(fmt: str, *, strict_time: bool = False) -> str:
    """The regex of a logging.Formatter %-style format string (raises ValueError naming what is wrong).
    `strict_time`: asctime only as logging's default or ISO-8601 writes it (for guessing a file's layout, where
    a lazy match would let one layout swallow another's lines)."""
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _PLACEHOLDER.finditer(fmt):
        parts.append(_literal(fmt[pos:m.start()]))
        pos = m.end()
        if m.group(0) == "%%":
            parts.append("%")
            continue
        name = m["name"]
        group, pattern = _FIELDS.get(name, (name, r".*?"))  # an `extra` field of the user's own
        if strict_time and name == "asctime":
            pattern = TS_PATTERN
        padded = bool(m["width"])
        if group in seen:
            parts.append(f"(?:{pattern})")
        else:
            seen.add(group)
            parts.append(f"(?P<{group}>{pattern})")
        if padded:  # %(levelname)-8s pads with spaces: on either side, by the flag
            parts[-1] = rf"\s*{parts[-1]}\s*"
    parts.append(_literal(fmt[pos:]))
    if "message" not in seen:
        raise ValueError(f"the logging format {fmt!r} has no %(message)s")
    return "^" + "".join(parts) + "$"


def _literal(text: str) -> str:
    """Literal text of a format: escaped, a run of spaces as one or more blanks (padding varies)."""
    return r"\s+".join(re.escape(chunk) for chunk in re.split(r"\s+", text)) if text else ""


@lru_cache(maxsize=64)
def compile_log_format(value: str) -> LogLayout:
    """`json`, `text`, a logging format string (has `%(`), or a regex with a `message` group. ValueError: one
    line saying why not."""
    if value in NAMED_FORMATS:
        return LogLayout(value, value)
    if "%(" in value:
        pattern = from_logging_format(value)
        what = "logging format"
    else:
        pattern, what = value, "regex"
    try:
        head = re.compile(pattern, re.DOTALL)
    except re.error as exc:
        raise ValueError(f"not json, text, a logging format string or a valid regex: {exc}") from None
    if what == "regex" and not {"message", "msg"} & set(head.groupindex):
        raise ValueError(f"expected one of json, text, a logging format string (%(message)s …) or a regex with a "
                         f"named group 'message', got {value!r}")
    return LogLayout(value, "layout", head)
