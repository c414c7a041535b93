"""What a command asks of the logs: the record filters (`--since/--until`, `--level`, `--component`,
`--agent`) and the byte strings the scanner searches for each dialect of log, so that every record that can
pass the filters is among the candidates and few others are.

Dialects are sniffed per chunk from its first line: JSON with upper-case levels (Python logging, the lab),
JSON with lower-case levels (structlog, Go and Node loggers), and plain text. Searching a JSON log for the
quoted level ("ERROR") or a plain log for a bare AutoGen error head would find nothing the other way round.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from agentops.logs.reader import Source
from agentops.logs.records import LEVEL_NO, Record
from agentops.logs.scan import Dialect, NeedleGroup, ScanPlan, Window

# Needle group flags: which kind of needle found a record, so a consumer can pick a cheap check.
LEVEL, DURATION, UNIVERSE, ID, WARNING_KEYED = 1, 2, 4, 8, 16

# Lines AutoGen and asyncio print without a level when logging was never configured. The leading newline
# anchors them at a line start, which also keeps them from matching inside a JSON string (where a newline is
# written as the two characters \n).
_BARE_HEADS = (b"\nException in callback", b"\nTask exception was never", b"\nTraceback (most recent",
               b"not found, failed to")
_LEVEL_NAMES = {50: (b"CRITICAL", b"FATAL"), 40: (b"ERROR",), 30: (b"WARN",), 20: (b"INFO",), 10: (b"DEBUG",)}

def level_needles(min_level: int, dialect: Dialect, lines_checked: bool = False) -> tuple[bytes, ...]:
    """What every record at `min_level` or above contains, in this dialect. In JSON, the level value with its
    key (`"level": "ERROR"`) or at least quoted (`"ERROR"`), so "ERROR" inside a message does not match; WARN
    also finds WARNING. `lines_checked`: the scan has seen every line of a JSON chunk is JSON (else it searches
    with the plain dialect), so there is no bare traceback to look for."""
    names = [n for no, group in _LEVEL_NAMES.items() if no >= min_level for n in group]
    errors = min_level <= LEVEL_NO["ERROR"]
    case = bytes.lower if dialect.lower else bytes
    if dialect.journal:
        # The record is a MESSAGE string: a level inside it (plain, or escaped JSON) and AutoGen's bare heads,
        # which start the string rather than a line.
        return tuple(names) + (tuple(h.lstrip(b"\n") for h in _BARE_HEADS) if errors else ())
    if dialect.mixed:
        return tuple(names) + tuple(n.lower() for n in names) + (_BARE_HEADS if errors else ())
    if dialect.json:
        prefix = dialect.level_key or b'"'
        found = tuple(prefix + case(n) + (b"" if n == b"WARN" else b'"') for n in names
                      if dialect.lower or n != b"FATAL")  # Python logging has no FATAL level name
        # A crashed process's traceback printed among JSON lines is the one bare record a JSON log has; its whole
        # header line is the longest string to search for, and a longer string is found faster.
        return found + ((b"\nTraceback (most recent call last):\n",) if errors and not lines_checked else ())
    return tuple(case(n) for n in names) + (_BARE_HEADS if errors else ())


# journald priorities: 0-2 CRITICAL, 3 ERROR, 4 WARNING, 5-6 INFO, 7 DEBUG — the highest priority number that
# is at or above a level.
_MAX_PRIORITY = {50: 2, 40: 3, 30: 4, 20: 6, 10: 7}


def level_groups(min_level: int, dialect: Dialect, lines_checked: bool = False) -> list[NeedleGroup]:
    """The needle groups that find every record at `min_level` or above. A journal entry's PRIORITY field is
    on every line, so its hits are checked in place and kept only when the priority is high enough."""
    flag = LEVEL
    groups = [NeedleGroup(flag, level_needles(min_level, dialect, lines_checked))]
    if dialect.journal:
        limit = _MAX_PRIORITY[min_level]

        def priority_ok(buf: bytes, hit: int, line_end: int) -> bool:
            quote = buf.find(b'"', hit + 10, hit + 20)  # "PRIORITY" : "3"
            return quote > 0 and 0x30 <= buf[quote + 1] <= 0x30 + limit

        groups.append(NeedleGroup(flag, (b'"PRIORITY"',), check=priority_ok))
    return groups


def warning_needles(dialect: Dialect) -> tuple[bytes, bool]:
    """WARNING records, and whether a hit is certainly one: in JSON with a known level key it is, since the
    key is part of the needle; elsewhere "WARN" may be a word in a message."""
    case = bytes.lower if dialect.lower else bytes
    if dialect.json and dialect.level_key and not dialect.journal:
        return dialect.level_key + case(b"WARN"), True
    return (b'"' if dialect.json else b"") + case(b"WARN"), False


def duration_needles(dialect: Dialect, fields: tuple[str, ...]) -> tuple[bytes, ...]:
    """Duration fields: keys in JSON (the leading quote makes the search faster), words in plain text."""
    names = tuple(f.encode() for f in fields)
    return tuple(b'"' + n for n in names) if dialect.json and not dialect.journal else names


@dataclass
class Filters:
    level: str = "ERROR"
    window: Window = field(default_factory=Window)
    components: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    @property
    def level_no(self) -> int:
        return LEVEL_NO[self.level]

    def match(self, rec: Record) -> bool:
        """Window, component and agent (not level: a command decides what the level selects)."""
        if not self.window.contains(rec.ts):
            return False
        if self.components and not any(fnmatch.fnmatchcase(rec.component, c) for c in self.components):
            return False
        if self.agents:
            names = (rec.agent_type, rec.agent_id)
            if not any(fnmatch.fnmatchcase(n, a) for a in self.agents for n in names if n):
                return False
        return True

    def component_matches(self, source: Source) -> bool:
        return not self.components or any(fnmatch.fnmatchcase(source.component, c) for c in self.components)

    def universe(self, source: Source) -> tuple[bytes, ...] | None:
        """When only some records of a source can pass the filters, the byte strings every such record
        contains: an agent type, or a component named inside the record (the file's own name says otherwise).
        None when any record of the source can pass."""
        if self.agents:
            return tuple(_literal(a) for a in self.agents)
        if not self.component_matches(source):
            return tuple(_literal(c) for c in self.components)
        return None


def _literal(pattern: str) -> bytes:
    """The longest literal run of a glob: what every match of it must contain."""
    runs = re.split(r"[*?\[\]]", pattern)
    return max(runs, key=len).encode("utf-8") or b"\n"


def plan(filters: Filters, source: Source, *, count_records: bool, account_lines: bool) -> ScanPlan:
    """The scan of one source: the consumer's needles, or — when filters narrow the source to the records
    naming an agent or component — those names, with every such record read in full (and counted by the
    consumer, since counting lines would count the others too)."""
    narrow = filters.universe(source)
    if narrow is not None:
        universe = [NeedleGroup(UNIVERSE, narrow)]
        return ScanPlan(needles=lambda _dialect: universe, count_records=False, window=filters.window,
                        account_lines=account_lines)
    return ScanPlan(count_records=count_records, window=filters.window, account_lines=account_lines)
