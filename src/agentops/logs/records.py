"""Log records in the shapes an AutoGen deployment writes them:

- one JSON object per line: the lab's format (`timestamp, level, logger, message, module, function, line,
  agent_id, message_id, trace_id, exception`, plus `process`) and the usual aliases other JSON loggers use;
- journald's `journalctl -o json` export (MESSAGE, PRIORITY, _SYSTEMD_UNIT …), whose MESSAGE may itself be a
  JSON record;
- plain text: Python logging's common layouts, and AutoGen's own bare lines (what the `lastResort` handler
  prints when a process never configured logging): the host's `Agent X not found, failed to deliver message.`
  and the worker's multi-line `Exception in callback …` tracebacks, whose last line names the cause.

Plain-text records may span lines (tracebacks, protobuf dumps of a message); `record_end` and `record_head`
find a record's extent in a byte buffer, so the scanner can start from any line that matched and still
read the whole record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentops.core.logformat import LEVEL_PATTERN, TS_PATTERN, from_logging_format
from agentops.logs.clock import epoch_digits, parse_timestamp
from agentops.logs.stats import InputStats

LEVEL_NO = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_LEVEL_ALIASES = {
    "WARN": "WARNING", "ERR": "ERROR", "FATAL": "CRITICAL", "CRIT": "CRITICAL", "PANIC": "CRITICAL",
    "ALERT": "CRITICAL", "EMERG": "CRITICAL", "EMERGENCY": "CRITICAL", "NOTICE": "INFO", "TRACE": "DEBUG",
    "INFORMATION": "INFO", "SEVERE": "CRITICAL",
}
# journald / syslog priorities 0..7
_PRIORITY = ["CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG"]

# Field aliases, first match wins. The lab's names come first.
_TS_KEYS = ("timestamp", "time", "ts", "@timestamp", "asctime", "datetime", "date")
_LEVEL_KEYS = ("level", "levelname", "severity", "lvl", "log.level", "loglevel")
_MESSAGE_KEYS = ("message", "msg", "event", "MESSAGE")
_LOGGER_KEYS = ("logger", "name", "logger_name", "SYSLOG_IDENTIFIER")
_EXC_KEYS = ("exception", "exc_info", "exc_text", "stack_trace", "stacktrace", "traceback", "error.stack")
_COMPONENT_KEYS = ("component", "process", "service", "app")
MAX_MESSAGE = 4096  # a record keeps this much of its message; a 4 MiB payload dump is not a pattern
MAX_EXCEPTION = 16384


@dataclass(slots=True)
class Record:
    ts: float | None
    level: str  # DEBUG INFO WARNING ERROR CRITICAL, or "" when the line did not say
    message: str
    logger: str = ""
    exception: str = ""
    component: str = ""
    agent_id: str = ""
    message_id: str = ""
    trace_id: str = ""
    request_id: str = ""
    module: str = ""
    function: str = ""
    line: int | None = None
    source: str = ""
    offset: int = 0  # byte offset of the record's first line in its source (a trace counts lines from it)
    salvaged: bool = False  # recovered from a truncated line
    bad_ts: bool = False  # it had a timestamp that is not a time (inf, NaN, out of range): read as untimed

    @property
    def level_no(self) -> int:
        return LEVEL_NO.get(self.level, 0)

    @property
    def agent_type(self) -> str:
        return self.agent_id.split("/", 1)[0] if self.agent_id else ""

    @property
    def cause(self) -> str:
        """The line that names what went wrong: a traceback's exception line, else the message's first line."""
        return exception_line(self.exception) or first_line(self.message)

    @property
    def error_type(self) -> str:
        return error_type_of(self.cause if self.exception else "", self.message)


def error_type_of(cause: str, message: str) -> str:
    """The exception class (short name) a record is about — from its traceback's last line (`cause`, "" when
    it has no traceback), else named in its message — or "" when it names none."""
    m = _EXC_CLASS.match(cause) if cause else None
    if m is None:
        head = first_line(message)
        if _EXC_HINTS.search(head):
            m = _EXC_IN_TEXT.search(head)
    if m is None:
        return ""
    return m.group(1).rsplit(".", 1)[-1]


_EXC_HINTS = re.compile(r"Error|Exception|Exit|Interrupt|Timeout|Refused|Failure|Fault")
_EXC_CLASS = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_EXC_IN_TEXT = re.compile(r"\b((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Timeout|Refused|"
                          r"Failure|Fault))\b")


_FRAME = re.compile(r'^\s+File "')
_NOT_A_CAUSE = ("Traceback (most recent call last):", "During handling of the above exception",
                "The above exception was the direct cause")


def exception_line(traceback: str) -> str:
    """The `Type: message` line of a traceback: the first unindented line after its last frame. Not simply the
    last line: an exception's message may span lines (a gRPC AioRpcError's ends in a lone `>`)."""
    lines = traceback.splitlines()
    last_frame = max((i for i, line in enumerate(lines) if _FRAME.match(line)), default=-1)
    for line in lines[last_frame + 1:]:
        if line.strip() and not line.startswith((" ", "\t")) and not line.startswith(_NOT_A_CAUSE):
            return line.strip()
    for line in reversed(lines):  # no frames: the last line that reads like a cause
        text = line.strip()
        if text and not line.startswith((" ", "\t")) and not text.startswith(_NOT_A_CAUSE) and len(text) > 1:
            return text
    return ""


def first_line(text: str) -> str:
    i = text.find("\n")
    return text if i < 0 else text[:i]


def normalize_level(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        if not -1e6 < value < 1e6:  # NaN, inf and numbers no logger writes as a level (int() of inf raises)
            return ""
        n = int(value)
        if 0 <= n <= 7:  # syslog priority
            return _PRIORITY[n]
        # Python's numeric levels (10..50), pino's (10..60)
        return "CRITICAL" if n >= 50 else "ERROR" if n >= 40 else "WARNING" if n >= 30 else \
            "INFO" if n >= 20 else "DEBUG"
    if not isinstance(value, str):  # a list or an object is no level (and str() of a deep one recurses)
        return ""
    text = value.strip().upper()
    if text in LEVEL_NO:
        return text
    if text.isdigit() and len(text) < 7:
        return normalize_level(int(text))
    return _LEVEL_ALIASES.get(text, "")


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(b, int) for b in value):
        # journald writes non-UTF-8 fields as arrays of bytes
        value = bytes(b & 0xFF for b in value).decode("utf-8", "replace")
    elif not isinstance(value, str):
        try:
            value = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        except (RecursionError, ValueError):  # nested deeper than the encoder recurses; an int over 4300 digits
            value = f"<{type(value).__name__} too deep or too large to show>"
    return value if len(value) <= limit else value[:limit]


def from_mapping(obj: dict[str, Any], component: str = "") -> Record:
    """A record from one decoded JSON object (lab format, common aliases, or a journald entry)."""
    if "__REALTIME_TIMESTAMP" in obj or ("MESSAGE" in obj and "PRIORITY" in obj):
        return _from_journal(obj, component)
    message = _str(obj, _MESSAGE_KEYS, MAX_MESSAGE)
    exception = _first(obj, _EXC_KEYS)
    line = obj.get("line")
    if line is None:
        line = obj.get("lineno")
    level = normalize_level(_first(obj, _LEVEL_KEYS))
    when = _first(obj, _TS_KEYS)
    rec = Record(
        ts=parse_timestamp(when),
        level=level or _bare_level(message),
        message=message,
        logger=_str(obj, _LOGGER_KEYS, 200),
        exception=_text(exception, MAX_EXCEPTION) if exception is not None and exception is not True else "",
        component=_str(obj, _COMPONENT_KEYS, 100) or component,
        agent_id=_str(obj, ("agent_id", "agent"), 300),
        message_id=_str(obj, ("message_id", "msg_id"), 200),
        trace_id=_str(obj, ("trace_id", "traceId", "otelTraceID", "trace"), 200),
        request_id=_str(obj, ("request_id", "requestId", "rpc_id"), 200),
        module=_str(obj, ("module",), 200),
        function=_str(obj, ("function", "funcName"), 200),
        line=line if type(line) is int else None,
    )
    rec.bad_ts = rec.ts is None and when is not None
    _autogen_facts(rec)
    return rec


def _str(obj: dict[str, Any], keys: tuple[str, ...], limit: int) -> str:
    """The first present key's value as text (the common case, a short str, without any conversion)."""
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            if type(value) is str and len(value) <= limit:
                return value
            return _text(value, limit)
    return ""


def _from_journal(obj: dict[str, Any], component: str) -> Record:
    message = _text(obj.get("MESSAGE"), 1 << 20)
    unit = _text(obj.get("_SYSTEMD_UNIT") or obj.get("SYSLOG_IDENTIFIER"), 200)
    unit = unit.removesuffix(".service") or component
    ts_us = obj.get("__REALTIME_TIMESTAMP")
    ts = epoch_digits(ts_us, 1e6) if isinstance(ts_us, str) and ts_us.isascii() and ts_us.isdigit() else None
    if message.startswith("{"):
        # A service that logs JSON to stdout: the inner record is the real one; journald adds time and unit.
        try:
            inner = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
            inner = None
        if isinstance(inner, dict):
            rec = from_mapping(inner, unit)
            rec.ts = rec.ts if rec.ts is not None else ts
            rec.component = rec.component or unit
            return rec
    rec = parse_plain_lines(message.splitlines() or [""], unit)
    priority = obj.get("PRIORITY")
    if not rec.level and priority is not None:
        rec.level = normalize_level(str(priority))
    rec.ts = rec.ts if rec.ts is not None else ts
    rec.logger = rec.logger or _text(obj.get("SYSLOG_IDENTIFIER"), 200)
    return rec


# Known AutoGen facts carried in plain messages: the agent type a host could not route to.
_AGENT_NOT_FOUND = re.compile(r"\bAgent (?:type )?(\S+?)(?: and its client)? not found\b")


def _autogen_facts(rec: Record) -> None:
    if rec.agent_id:
        return
    if "not found" in rec.message:
        m = _AGENT_NOT_FOUND.search(rec.message)
        if m:
            rec.agent_id = m.group(1)


# ---------------------------------------------------------------------------------------------- JSON lines

_TRUNC_FIELD = {
    key: re.compile(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)') for key in ("timestamp", "level", "logger", "message",
                                                                     "agent_id", "message_id", "trace_id",
                                                                     "process", "component")
}


def parse_json_line(line: bytes, stats: InputStats, component: str = "") -> Record:
    """A JSON line, or what can be recovered from it. Never raises: a line that is not JSON at all is read as
    plain text (and counted), a truncated one keeps the fields before the cut (and is counted)."""
    # RecursionError: JSON nested deeper than the parser recurses; such a line is read as text, like a cut one.
    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        stats.bump("invalid_utf8")
        text = line.decode("utf-8", "replace")
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return _not_json(text, stats, component)
    except (ValueError, RecursionError):
        return _not_json(line.decode("utf-8", "replace"), stats, component)
    if not isinstance(obj, dict):
        stats.bump("non_json")
        return parse_plain_lines([_text(obj, MAX_MESSAGE)], component)
    return from_mapping(obj, component)


def _not_json(text: str, stats: InputStats, component: str) -> Record:
    stripped = text.strip()
    if stripped.startswith("{") and '"' in stripped:
        stats.bump("truncated_json")
        return _salvage(stripped, component)
    stats.bump("non_json")
    return parse_plain_lines([text.rstrip("\r\n")], component)


def _salvage(text: str, component: str) -> Record:
    """Fields of a JSON line cut short (a writer killed mid-line, or our own cap on a giant line)."""
    found: dict[str, str] = {}
    for key, rx in _TRUNC_FIELD.items():
        m = rx.search(text)
        if m:
            try:
                found[key] = json.loads(f'"{m.group(1)}"')
            except ValueError:
                found[key] = m.group(1)
    rec = from_mapping(found, component)
    if not rec.message:
        rec.message = text[:200]
    rec.salvaged = True
    return rec


# ---------------------------------------------------------------------------------------------- plain text

_TS = rf"(?P<ts>{TS_PATTERN})"
_LVL = rf"(?P<level>{LEVEL_PATTERN})"
_PLAIN_FORMS = [
    # logging.basicConfig's default: "ERROR:autogen_core:Agent x not found, …"
    re.compile(rf"^{_LVL}:(?P<logger>[^:\s]*):(?P<msg>.*)$", re.DOTALL),
    # the logging cookbook's "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    re.compile(rf"^{_TS}\s+-\s+(?P<logger>[\w.\-]+)\s+-\s+{_LVL}\s+-\s+(?P<msg>.*)$", re.DOTALL),
    # "<time> LEVEL logger: message", "<time> [LEVEL] [logger] message", "<time> | LEVEL | message"
    re.compile(rf"^{_TS}[\s|,]+\[?{_LVL}\]?[\s|:\-]+(?:(?P<logger>[\w.\-]+)(?::\s+|\s+-\s+)|"
               rf"\[(?P<logger2>[\w.\-]+)\]\s+)?(?P<msg>.*)$", re.DOTALL),
    # "<time> message"
    re.compile(rf"^{_TS}\s+(?P<msg>.*)$", re.DOTALL),
]
# Bare lines AutoGen and asyncio write at ERROR when logging was never configured (lastResort prints only
# the message).
_BARE_ERROR = re.compile(r"^(?:Exception in callback |Task exception was never retrieved|"
                         r"Traceback \(most recent call last\)|Error in read loop|Error in background task|"
                         r"Error handling event|Failed to get message|Invalid destination|"
                         r"(?:Agent|Client) .+ not found, failed to |Agent .+ and its client not found|"
                         r"Agent client id not found)")
_BARE_WARNING = re.compile(r"^(?:Received empty message|No message$)")


def _bare_level(message: str) -> str:
    if _BARE_ERROR.match(message):
        return "ERROR"
    if _BARE_WARNING.match(message):
        return "WARNING"
    return ""


# The plain-text layouts a file is checked against when its target declares none (`detect_layout`), most
# specific first: on a tie the earlier wins (a line of the first also matches the last but one).
COMMON_LAYOUTS = (
    "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    "%(asctime)s - %(name)s - %(levelname)s - %(message)s",
    "%(asctime)s [%(levelname)s] %(name)s: %(message)s",
    "%(asctime)s %(levelname)s %(name)s: %(message)s",
    "%(asctime)s:%(levelname)s:%(name)s:%(message)s",
    "[%(asctime)s] %(levelname)s in %(module)s: %(message)s",
    "%(asctime)s %(levelname)s %(message)s",
    "%(levelname)s:%(name)s:%(message)s",
)
_TB_END = re.compile(rb"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Group)(?::|\s*$)")  # a traceback's last line
_COMMON_HEADS = tuple(re.compile(from_logging_format(f, strict_time=True), re.DOTALL) for f in COMMON_LAYOUTS)
_DETECT_LINES = 200


def detect_layout(data: bytes) -> re.Pattern[str] | None:
    """The common layout (COMMON_LAYOUTS) most of a file's record heads are written in, from its first lines;
    None when the file is JSON lines or no layout fits half of them (then each record's form is detected)."""
    heads = []
    for raw in data[:256 * 1024].split(b"\n"):
        if raw.startswith(b"{"):
            return None  # JSON lines: each record is one JSON object, detected as such
        if raw.strip() and not is_continuation(raw) and not _TB_END.match(raw):
            heads.append(raw.decode("utf-8", "replace").rstrip("\r"))
        if len(heads) >= _DETECT_LINES:
            break
    if not heads:
        return None
    counts = [sum(1 for h in heads if rx.match(h)) for rx in _COMMON_HEADS]
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    return _COMMON_HEADS[best] if counts[best] and 2 * counts[best] >= len(heads) else None


@lru_cache(maxsize=64)
def _bytes_head(pattern: str) -> re.Pattern[bytes] | None:
    try:
        return re.compile(pattern.encode("ascii"), re.DOTALL)
    except (UnicodeEncodeError, re.error):
        return None


_BARE_ERROR_B = re.compile(_BARE_ERROR.pattern.encode())


def is_head(line: bytes, layout: re.Pattern[str]) -> bool:
    """Under a known layout, does this line start a record? (Its layout, or a bare line AutoGen and asyncio
    write when logging was never configured.) Anything else continues the record above. Matched on bytes:
    a scan asks it of every line."""
    head = _bytes_head(layout.pattern)
    if head.match(line) if head is not None else layout.match(line.decode("utf-8", "replace")):
        return True
    # A bare traceback header continues the record above it (asyncio's "Exception in callback" head)
    return bool(_BARE_ERROR_B.match(line)) and not is_continuation(line)


_EXTRA_FIELDS = ("agent_id", "request_id", "message_id", "trace_id", "process")


def _head_fields(groups: dict[str, str | None]) -> tuple[str | None, str, str, str]:
    """(timestamp text, level, logger, message) from a head's named groups, whatever the layout calls them."""
    g = groups.get
    level = normalize_level(g("level") or g("levelname") or g("severity") or g("levelno"))
    ts_text = g("ts") or g("asctime") or g("time") or g("timestamp") or g("created") or None
    return ts_text, level, g("logger") or g("name") or g("logger2") or "", g("msg") or g("message") or ""


def parse_plain_lines(lines: list[str], component: str = "", layout: re.Pattern[str] | None = None) -> Record:
    """One plain-text record: its head line and continuation lines (traceback, protobuf dump). `layout`: the
    file's head regex (declared `log_format`, or detected), tried before the common forms."""
    head = lines[0].rstrip("\r") if lines else ""
    rest = [ln.rstrip("\r") for ln in lines[1:]]
    ts = None
    level = logger = ""
    message = head
    bad_ts = False
    extra: dict[str, str] = {}
    for form in (layout, *_PLAIN_FORMS) if layout is not None else _PLAIN_FORMS:
        m = form.match(head)
        if m:
            groups = m.groupdict()
            ts_text, level, logger, message = _head_fields(groups)
            ts = parse_timestamp(ts_text) if ts_text else None  # `created`: epoch seconds as text
            bad_ts = ts is None and bool(ts_text)
            extra = {k: v for k in _EXTRA_FIELDS if (v := groups.get(k))}
            break
    exception = ""
    for i, ln in enumerate(rest):
        if ln.startswith("Traceback (most recent call last)"):
            exception = "\n".join(rest[i:])
            rest = rest[:i]
            break
    if message.startswith("Traceback (most recent call last)") and not exception:
        # A bare traceback: the record is about its last line.
        exception = "\n".join([message, *rest])
        rest = []
    body = "\n".join([message, *rest]) if rest else message
    rec = Record(ts=ts, level=level, message=body[:MAX_MESSAGE], logger=logger,
                 exception=exception[:MAX_EXCEPTION], component=component or extra.get("process", ""), bad_ts=bad_ts,
                 agent_id=extra.get("agent_id", ""), request_id=extra.get("request_id", ""),
                 message_id=extra.get("message_id", ""), trace_id=extra.get("trace_id", ""))
    if not rec.level:
        rec.level = _bare_level(message)
        if rec.level and message.startswith(("Exception in callback", "Task exception")):
            rec.logger = rec.logger or "asyncio"
    _autogen_facts(rec)
    return rec


# Lines that continue the record above them rather than start one. A traceback's frames are indented; its
# header, chaining sentences and asyncio's "handle:" line are not, and neither is the exception line that ends
# it, which is why `record_end` tracks whether it is inside a traceback.
CONT_PREFIXES = (b" ", b"\t", b"Traceback (most recent call last)", b"During handling of the above exception",
                  b"The above exception was the direct cause", b"handle: <", b"}", b"]", b"Stack (most recent")


# The line that closes a traceback: "ValueError: …", "KeyboardInterrupt".
EXC_LINE = re.compile(rb"^[A-Za-z_][\w.]*(?::|\s*$)")


def is_continuation(line: bytes) -> bool:
    return not line.strip() or line.startswith(CONT_PREFIXES)


def record_end(buf: bytes, start: int, end: int) -> tuple[int, bool]:
    """End offset (after the newline) of the record whose head line starts at `start`, and whether the buffer
    ended inside it (it may continue in the next chunk). A JSON head is one line; a plain head takes the
    continuation lines after it."""
    nl = buf.find(b"\n", start, end)
    if nl < 0:
        return end, True
    if buf.startswith(b"{", start):
        return nl + 1, False
    return continuation_end(buf, nl + 1, end, buf[start:nl])


# A run of lines that continue a record whatever came before them (blank, indented, or one of CONT_PREFIXES),
# skipped in one regex match: a log of blank lines must not cost a Python step per line. `\n+` first, as the
# engine runs a repeated single byte as a tight loop (a MiB of newlines in well under a millisecond); possessive
# (`++`), so a run of many lines keeps no backtracking state.
_CONT_RUN = re.compile(rb"(?:\n+|[ \t\r\f\v]+\n|(?:[ \t]|" + b"|".join(re.escape(p) for p in CONT_PREFIXES[2:])
                       + rb")[^\n]*\n)++")
_TB_HEAD = b"Traceback (most recent"


def continuation_end(buf: bytes, pos: int, end: int, context: bytes = b"") -> tuple[int, bool]:
    """From `pos`, skip the lines that continue the record `context` (its text so far); return where the next
    record starts and whether the buffer ended first."""
    in_tb = _TB_HEAD in context
    tail = context.rstrip(b"\n")
    prev_indented = tail[tail.rfind(b"\n") + 1:].startswith((b" ", b"\t")) if tail else False
    while pos < end:
        run = _CONT_RUN.match(buf, pos, end)
        if run:
            stop = run.end()
            in_tb = in_tb or buf.startswith(_TB_HEAD, pos) or buf.find(b"\n" + _TB_HEAD, pos, stop) >= 0
            last = max(buf.rfind(b"\n", pos, stop - 1) + 1, pos)  # the run's last line
            prev_indented = buf.startswith((b" ", b"\t"), last)
            pos = stop
            if pos >= end:
                return end, True
        nl = buf.find(b"\n", pos, end)
        line = buf[pos:min(nl if nl >= 0 else end, pos + 64)]
        if line.startswith(b"{"):
            return pos, False
        if is_continuation(line):
            if line.startswith(_TB_HEAD):
                in_tb = True
            prev_indented = line.startswith((b" ", b"\t"))
        elif in_tb and prev_indented and EXC_LINE.match(line):
            # the exception line that closes a traceback
            in_tb = prev_indented = False
        else:
            return pos, False
        if nl < 0:
            return end, True
        pos = nl + 1
    return end, True


def record_head(buf: bytes, pos: int, floor: int, max_lines: int = 400) -> int:
    """Start of the record that the line at `pos` belongs to: walk back over continuation lines (and the
    exception line closing a traceback) to the plain-text head above them. A JSON line above, or `floor`,
    ends the walk: then the line at `pos` (or the first after the JSON line) is the head."""
    if buf.startswith(b"{", pos) or not looks_continued(buf, pos, floor):
        return pos
    cur = pos
    for _ in range(max_lines):
        if cur <= floor:
            return floor
        prev = buf.rfind(b"\n", floor, cur - 1) + 1
        prev = max(prev, floor)
        line = buf[prev:min(cur - 1, prev + 64)]
        if line.startswith(b"{"):
            return cur
        if not is_continuation(line):
            return prev
        cur = prev
    return cur


def looks_continued(buf: bytes, pos: int, floor: int) -> bool:
    """Whether the line at `pos` continues the record above it (a continuation line, or the exception line
    right after a traceback's indented frames)."""
    nl = buf.find(b"\n", pos, pos + 64)
    line = buf[pos:nl if nl >= 0 else pos + 64]
    if is_continuation(line):
        return True
    # an exception line right after an indented frame line belongs to the traceback above it
    if pos > floor and EXC_LINE.match(line):
        prev = max(buf.rfind(b"\n", floor, pos - 1) + 1, floor)
        return buf.startswith((b" ", b"\t"), prev)
    return False


def parse_record(chunk: bytes, stats: InputStats, component: str = "") -> Record:
    """A record's bytes (one JSON line, or a plain head with its continuation lines) → Record."""
    if chunk.startswith(b"{"):
        nl = chunk.find(b"\n")
        rec = parse_json_line(chunk if nl < 0 else chunk[:nl], stats, component)
    else:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            stats.bump("invalid_utf8")
            text = chunk.decode("utf-8", "replace")
        rec = parse_plain_lines(text.rstrip("\n").split("\n"), component)
    if rec.bad_ts:
        stats.bump("bad_timestamps")
    return rec
