"""Search bytes first, parse only candidates.

A log is mostly lines nobody asked about. The scanner looks for a few byte strings (a level name, a bare
AutoGen error head, a duration field, an id) with a `Finder` (memchr on a needle's rarest byte where that is
rare in the log, `bytes.find` elsewhere), which runs at or near memory speed, and hands only the
records containing one of them to a consumer (`Sink`), as raw bytes with flags saying which needle group
matched, so the consumer can choose a cheap check or a full parse. Everything else is counted, not read:
records per chunk come from one split of the chunk (which also counts lines that are not JSON in a JSON log),
and a time window is applied per chunk from its first and last timestamps, line by line only where it cuts
through a chunk.

A plain-text record can span lines (a traceback, a protobuf dump of a message) and a chunk boundary; the scanner
walks back from a matching line to its record's head and carries a record left open at the end of a chunk
into the next one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import compress, pairwise, repeat
from typing import Any, Protocol

from agentops.logs.clock import parse_timestamp
from agentops.logs.finder import Finder
from agentops.logs.reader import CHUNK, Chunk, Source, read_chunks
from agentops.logs.records import (
    CONT_PREFIXES,
    EXC_LINE,
    continuation_end,
    is_continuation,
    looks_continued,
    record_end,
    record_head,
)
from agentops.logs.stats import InputStats

MAX_RECORD = 256 << 10  # a plain-text record carried across chunks keeps at most this much


_JSON_LEVEL = re.compile(rb'("(?:level|levelname|severity|lvl|log\.level)"\s*:\s*")([A-Za-z]+)"')
_TEXT = re.compile(rb"\S")
_PLAIN_LEVEL = re.compile(rb"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Dialect:
    """How a chunk writes its records, sniffed from its first line: JSON or plain text; level names in upper
    case (Python logging, the lab) or lower case (structlog, Go and Node loggers); and for JSON the exact bytes
    before a level value (`"level": "`), so a level can be searched as one long string, which `bytes.find`
    skips through several times faster than a short one."""

    json: bool
    lower: bool = False
    level_key: bytes = b""
    journal: bool = False  # journalctl's JSON export: the level is a PRIORITY, the record is in MESSAGE
    blank: bool = False  # the chunk had no line to sniff: the dialect is a default
    mixed: bool = False  # lines of different dialects: searched as plain text in upper and lower case
    starts_json: bool = False  # for a mixed chunk: whether its first line is JSON (what the log is)


def _line_dialect(line: bytes) -> Dialect:
    if line.startswith(b"{"):
        if b'"__REALTIME_TIMESTAMP"' in line or b'"__CURSOR"' in line:
            return Dialect(json=True, journal=True)
        m = _JSON_LEVEL.search(line, 0, 4096)
        if m is None:
            return Dialect(json=True)
        return Dialect(json=True, lower=m.group(2).islower(), level_key=m.group(1))
    m = _PLAIN_LEVEL.search(line, 0, 120)
    return Dialect(json=False, lower=bool(m and m.group(1).islower()))


def sniff(chunk: Chunk) -> Dialect:
    """The dialect of the chunk's first non-blank line, checked against its middle and last lines: where
    they disagree (two loggers' output concatenated), the chunk is searched as plain text in both cases,
    which finds what either writes."""
    buf, start, end = chunk.buf, chunk.start, chunk.end
    stop = min(end, start + 65536)
    # Blank lines skipped at C speed, not one Python step each (isspace is a tight loop; the regex finds where).
    blank = buf[start:start + 1].isspace() and buf[start:stop].isspace()  # the copy only for a blank head
    text = None if blank else _TEXT.search(buf, start, stop)
    if text is None:
        return Dialect(json=True, blank=True)
    pos = max(buf.rfind(b"\n", start, text.start()) + 1, start)
    nl = buf.find(b"\n", pos, stop)
    first = _line_dialect(buf[pos:nl if nl >= 0 else stop])
    for at in ((start + end) // 2, end - 2):
        head = max(buf.rfind(b"\n", start, at) + 1 if at > start else start, start)
        if head == pos:  # the first line again (a chunk of one line: the line carried across a read)
            continue
        tail = buf.find(b"\n", head, end)
        line = buf[head:tail if tail >= 0 else end]
        if line.strip() and not is_continuation(line[:64]) and _line_dialect(line) != first:
            return Dialect(json=False, mixed=True, starts_json=first.json)
    return first


@dataclass(frozen=True)
class Window:
    since: float | None = None
    until: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, ts: float | None) -> bool:
        """Records without a time pass: they cannot be placed, and dropping them would hide them."""
        if ts is None:
            return True
        return (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)


@dataclass
class NeedleGroup:
    flag: int
    needles: tuple[bytes, ...]
    # Called as check(buf, hit, line_end) for each hit (line_end: the offset of the line's newline, -1 at the
    # end of the buffer); False drops it. Lets a consumer decide from the bytes at the hit (a duration's value)
    # without the record being assembled and handed over.
    check: Callable[[bytes, int, int], bool] | None = None
    # One finder per needle, kept with the group so what it learns about the log lasts across chunks.
    finders: tuple[Finder, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.finders = tuple(Finder(n) for n in self.needles)


Needles = Callable[[Dialect], list[NeedleGroup]]


@dataclass
class ScanPlan:
    # What to search for, by dialect; None: ask the sink (`Sink.needles`), whose checks count into it — a
    # worker's fresh sink must receive its own hits.
    needles: Needles | None = None
    count_records: bool = True  # count every record in the window (the denominator of an error rate)
    window: Window = field(default_factory=Window)
    # Check every line for bad input (invalid UTF-8, lines that are not JSON or cut short), not only the
    # candidates: exact accounting for one split of each chunk.
    account_lines: bool = True


class Sink(Protocol):
    """A scan's consumer. `fresh` and `merge` let a file be scanned in parallel: each worker fills a fresh
    sink with its share, and the parent merges them in file order."""

    def total(self, records: int, source: Source) -> None: ...

    def times(self, first: float | None, last: float | None) -> None: ...

    def record(self, raw: bytes, flags: int, source: Source, offset: int) -> None: ...

    def needles(self, dialect: Dialect) -> list[NeedleGroup]: ...

    def fresh(self) -> Sink: ...

    def merge(self, other: Sink) -> None: ...


# A file smaller than this is not worth the fork (with --jobs given explicitly, jobs x 1 MiB).
PARALLEL_MIN = 64 << 20
# The most processes a scan picks for itself (default_jobs); more only contend for memory bandwidth.
MAX_JOBS = 4


def default_jobs() -> int:
    """Processes to scan a large file with when the user did not say: the CPUs this process may run on that
    are free now — their number less the 1-minute load average, rounded — at least 1, at most MAX_JOBS. On a
    busy machine a forked worker only queues behind the other work and adds the fork and the merge (measured
    on 2 cores under load: `--jobs 2` slower than `--jobs 1`), so the core count alone is the wrong answer."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume the CPUs are free
        load = 0.0
    return max(1, min(MAX_JOBS, cpus, round(cpus - load)))


def scan(sources: list[Source], stats: InputStats, plan_for: ScanPlanFor, sink: Sink,
         journal_args: list[str] | None = None, jobs: int = 1, parallel_min: int = PARALLEL_MIN,
         chunk_size: int = CHUNK) -> None:
    for source in sources:
        plan = plan_for(source)
        ranges = _ranges(source, jobs, parallel_min) if jobs > 1 and source.kind == "file" else None
        if ranges:
            _scan_parallel(source, plan, ranges, stats, sink, chunk_size)
        else:
            _scan_source(source, plan, stats, sink, chunk_size, journal_args)


def _scan_source(source: Source, plan: ScanPlan, stats: InputStats, sink: Sink, chunk_size: int = CHUNK,
                 journal_args: list[str] | None = None, byte_range: tuple[int, int] | None = None,
                 json_log: bool | None = None) -> None:
    """`json_log`: whether the source is a JSON log (then its plain-text lines are bad input); decided by its
    first chunk unless given (a worker's range does not start at the file's beginning)."""
    state = _OpenRecord()
    groups: dict[Dialect, list[NeedleGroup]] = {}
    indented = False  # whether the previous chunk ended in an indented line (a traceback frame)
    for chunk in read_chunks(source, stats, journal_args, chunk_size=chunk_size,
                             byte_range=byte_range):
        place = INSIDE
        if chunk.cut and not plan.account_lines:
            stats.bump("oversized_lines" if chunk.cut == "oversized" else "unterminated_lines")
        if plan.window.active or plan.count_records:
            first, last = chunk_times(chunk)
            place = _place(first, last, plan.window) if plan.window.active else INSIDE
            if place == OUTSIDE:
                state.clear()
                continue
            if plan.count_records:
                sink.times(first, last)
        dialect = sniff(chunk)
        if json_log is None and not dialect.blank:
            json_log = dialect.starts_json if dialect.mixed else dialect.json
        if plan.account_lines:
            window = plan.window if place == ACROSS else None
            records, mixed, indented = _account(chunk, stats, window, indented, bool(json_log))
            if plan.count_records:
                sink.total(records, source)
            if mixed and dialect.json:
                # Plain-text lines among JSON ones: search with the plain needles, which find both.
                dialect = Dialect(json=False, mixed=True, starts_json=True)
        needles = groups.get(dialect)
        if needles is None:
            needles = groups[dialect] = (plan.needles or sink.needles)(dialect)
        for raw, flags, offset in _records(chunk, needles, state):
            sink.record(raw, flags, source, offset)
    if state.flags:
        sink.record(state.text, state.flags, source, state.offset)


def _ranges(source: Source, jobs: int, min_size: int) -> list[tuple[int, int]] | None:
    """Byte ranges of a large regular (uncompressed) file, one per worker, each starting at a record head."""
    try:
        size = os.stat(source.path).st_size
        if size < max(min_size, jobs) or not os.path.isfile(source.path):
            return None
        with open(source.path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return None
            bounds = [0]
            for k in range(1, jobs):
                fh.seek(k * size // jobs)
                window = fh.read(1 << 20)
                pos = _next_head(window)
                if pos is not None and k * size // jobs + pos > bounds[-1]:
                    bounds.append(k * size // jobs + pos)
    except OSError:
        return None  # the serial read will report what is wrong with the file
    bounds.append(size)
    return list(pairwise(bounds)) if len(bounds) > 2 else None


def _next_head(window: bytes) -> int | None:
    """Offset of the first line in `window` that starts a record (after the partial line it starts in). A
    plain line is taken only with a whole line above it, since whether it continues a traceback depends on
    the line above."""
    first = pos = window.find(b"\n") + 1
    while 0 < pos < len(window):
        if window.startswith(b"{", pos) or (pos > first and not looks_continued(window, pos, first)):
            return pos
        pos = window.find(b"\n", pos) + 1
    return None


def _scan_parallel(source: Source, plan: ScanPlan, ranges: list[tuple[int, int]], stats: InputStats,
                   sink: Sink, chunk_size: int) -> None:
    """One forked worker per range but the first, which this process scans itself; the workers send back
    their filled sinks and input stats, merged here in file order. A worker that dies is replaced by scanning
    its range here, so the result never misses a part of the file."""
    import multiprocessing

    with open(source.path, "rb") as fh:
        head = fh.read(65536)
    first = sniff(Chunk(head, 0, len(head), 0))
    json_log = first.starts_json if first.mixed else first.json
    ctx = multiprocessing.get_context("fork")
    workers = []
    for byte_range in ranges[1:]:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(source, plan, byte_range, sink.fresh(), send, chunk_size,
                                                 json_log), daemon=True)
        proc.start()
        send.close()
        workers.append((proc, recv, byte_range))
    _scan_source(source, plan, stats, sink, chunk_size, byte_range=ranges[0], json_log=json_log)
    info = stats.sources[-1]
    for proc, recv, byte_range in workers:
        try:
            part, part_stats = recv.recv()
        except (EOFError, OSError):
            part, part_stats = sink.fresh(), InputStats()
            _scan_source(source, plan, part_stats, part, chunk_size, byte_range=byte_range, json_log=json_log)
        finally:
            recv.close()
            proc.join(timeout=5)
        sink.merge(part)
        stats.merge(part_stats)
        for other in part_stats.sources:
            info.bytes += other.bytes
            info.has_text = info.has_text or other.has_text
            if other.status != "read" and info.status == "read":
                info.status, info.reason = other.status, other.reason


def _worker(source: Source, plan: ScanPlan, byte_range: tuple[int, int], sink: Sink, conn: Any,
            chunk_size: int, json_log: bool) -> None:
    stats = InputStats()
    _scan_source(source, plan, stats, sink, chunk_size, byte_range=byte_range, json_log=json_log)
    conn.send((sink, stats))
    conn.close()


class ScanPlanFor(Protocol):
    def __call__(self, source: Source) -> ScanPlan: ...


# ------------------------------------------------------------------------------------------ candidates

def candidates(buf: bytes, start: int, end: int, groups: list[NeedleGroup]) -> dict[int, int]:
    """Line start → OR of the flags of the needle groups found on that line."""
    found: dict[int, int] = {}
    find, rfind = buf.find, buf.rfind
    for group in groups:
        flag, check = group.flag, group.check
        for finder in group.finders:
            needle = finder.needle
            finder.start_chunk(start, end)
            # A needle that starts with a newline means "at a line start": the line begins after it.
            at_line_start = needle.startswith(b"\n")
            if at_line_start and buf.startswith(needle[1:], start) and \
                    (check is None or check(buf, start, find(b"\n", start, end))):
                found[start] = found.get(start, 0) | flag
            i = finder.find(buf, start, end)
            while i >= 0:
                e = find(b"\n", i + at_line_start, end)
                # The check first: most hits it rejects need no line start.
                if check is None or check(buf, i, e):
                    if at_line_start:
                        s = i + 1
                    else:
                        r = rfind(b"\n", start, i)
                        s = r + 1 if r >= 0 else start
                    found[s] = found.get(s, 0) | flag
                if e < 0:
                    break
                i = finder.find(buf, e if at_line_start else e + 1, end)
    return found


@dataclass
class _OpenRecord:
    """The last plain-text record of the previous chunk, which the next chunk may continue."""

    text: bytes = b""
    flags: int = 0
    offset: int = 0
    active: bool = False

    def clear(self) -> None:
        self.text, self.flags, self.offset, self.active = b"", 0, 0, False


def _records(chunk: Chunk, groups: list[NeedleGroup], state: _OpenRecord) -> Iterator[tuple[bytes, int, int]]:
    """(record bytes, flags, source offset) for every record of the chunk that contains a needle."""
    buf, start, end = chunk.buf, chunk.start, chunk.end
    base = chunk.offset - start  # source offset of buf[0]
    found = candidates(buf, start, end, groups)
    starts = sorted(found)
    i, n = 0, len(starts)
    covered = start
    if state.active:
        lead_end, still_open = continuation_end(buf, start, end, state.text[-4096:])
        flags = state.flags
        while i < n and starts[i] < lead_end:
            flags |= found[starts[i]]
            i += 1
        if still_open:
            if len(state.text) < MAX_RECORD:
                state.text += buf[start:min(lead_end, start + MAX_RECORD - len(state.text))]
            state.flags = flags
            return
        if flags:
            yield state.text + buf[start:lead_end], flags, state.offset
        covered = lead_end
    state.clear()
    while i < n:
        s = starts[i]
        head = record_head(buf, s, covered)
        rec_end, still_open = record_end(buf, head, end)
        flags = 0
        while i < n and starts[i] < rec_end:
            flags |= found[starts[i]]
            i += 1
        if still_open:
            state.text, state.flags, state.offset, state.active = buf[head:end], flags, base + head, True
            return
        yield buf[head:rec_end], flags, base + head
        covered = rec_end
    # No needle in the last record, but the next chunk may continue it with one: remember it (plain only).
    if covered < end:
        last = max(buf.rfind(b"\n", covered, end - 1) + 1, covered)
        if not buf.startswith(b"{", last):
            head = record_head(buf, last, covered)
            if end - head <= MAX_RECORD:
                state.text, state.offset, state.active = buf[head:end], base + head, True


# ------------------------------------------------------------------------------------------ counting records

_LINE_TS_JSON = re.compile(rb'"(?:timestamp|time|ts|@timestamp|asctime)"\s*:\s*"?([^",}]+)')
_LINE_TS_PLAIN = re.compile(rb"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
_JOURNAL_TS = re.compile(rb'"__REALTIME_TIMESTAMP"\s*:\s*"(\d+)"')


def line_ts(line: bytes) -> float | None:
    """A line's timestamp without parsing the line."""
    if line.startswith(b"{"):
        m = _JOURNAL_TS.search(line)
        if m:
            return int(m.group(1)) / 1e6
        m = _LINE_TS_JSON.search(line, 0, 2048)
    else:
        m = _LINE_TS_PLAIN.match(line)
    if not m:
        return None
    return parse_timestamp(m.group(1).decode("ascii", "replace"))


INSIDE, OUTSIDE, ACROSS = "inside", "outside", "across"


def chunk_times(chunk: Chunk) -> tuple[float | None, float | None]:
    """The first and last timestamps of a chunk (looking at most 50 lines in from either end)."""
    buf, start, end = chunk.buf, chunk.start, chunk.end
    first = last = None
    pos = start
    for _ in range(50):
        if pos >= end:
            break
        nl = buf.find(b"\n", pos, end)
        first = line_ts(buf[pos:nl if nl >= 0 else end])
        if first is not None or nl < 0:
            break
        pos = nl + 1
    stop = end - 1
    for _ in range(50):
        if stop <= start:
            break
        b = max(buf.rfind(b"\n", start, stop) + 1, start)
        last = line_ts(buf[b:stop])
        if last is not None:
            break
        stop = b - 1
    return first, last


def _place(first: float | None, last: float | None, window: Window) -> str:
    """Where a chunk lies against the window, from its first and last timestamps. Assumes a chunk is in time
    order, as a log file is; a chunk whose times are out of order is treated as cut by the window."""
    if first is None or last is None or first > last:
        return ACROSS
    if window.contains(first) and window.contains(last):
        return INSIDE
    if (window.until is not None and first >= window.until) or (window.since is not None and last < window.since):
        return OUTSIDE
    return ACROSS


def _account(chunk: Chunk, stats: InputStats, window: Window | None, indented: bool,
             json_log: bool) -> tuple[int, bool, bool]:
    """Records in the chunk (inside `window` when given, checking each line's time), from one split; and
    bad input line by line: invalid UTF-8, and in a JSON log, lines that are not JSON or are cut short.
    Also whether JSON and plain-text lines are mixed, and whether the last line is indented (`indented`: the
    previous chunk's), so a traceback's closing line is known across chunks."""
    buf = chunk.buf
    # One split of the chunk is the cheapest way to count its lines in Python (measured, issue 16): a JSON log's
    # lines are long (~500 bytes, ~2,200 per MiB), so the split makes few objects and runs at ~1 ms per MiB,
    # while each bytes.count over the same MiB costs as much (CPython's count is not vectorised) and the four
    # counts that would replace it took four times as long.
    # Split the whole buffer rather than copy the chunk out of it: drop the lines before `start` (the end of a
    # line carried from the previous read) and after `end` (the start of the next).
    lines = buf.split(b"\n")
    before = buf.count(b"\n", 0, chunk.start)  # both counts cover a line at most, in the usual chunk
    after = buf.count(b"\n", chunk.end)
    lines = lines[before:len(lines) - 1 - after]
    n = len(lines)
    if not n:
        return 0, False, indented
    starts_json = list(map(bytes.startswith, lines, repeat(b"{")))
    json_lines = sum(starts_json)
    blank = lines.count(b"")
    others = n - json_lines - blank
    heads = json_lines
    if others:
        # Plain text: continuation lines (traceback frames, dumps) are part of the record above them, and so
        # is the exception line that closes a traceback, the first unindented line after its frames.
        heads += others - sum(map(bytes.startswith, lines, repeat(CONT_PREFIXES)))
        follows_indent = compress(range(1, n + 1), map(bytes.startswith, lines, repeat((b" ", b"\t"))))
        closing = [i for i in follows_indent if i < n]
        if indented:
            closing.append(0)
        heads -= sum(1 for i in closing if lines[i].strip() and not lines[i].startswith((b" ", b"\t", b"{"))
                     and EXC_LINE.match(lines[i]))
        if json_log:
            stats.bump("non_json", others)
    if chunk.cut:
        stats.bump("oversized_lines" if chunk.cut == "oversized" else "unterminated_lines")
    elif json_lines:
        # among the JSON lines only: a protobuf dump's closing "}" in a plain line closes nothing
        json_only = lines if json_lines == n else compress(lines, starts_json)
        closed = sum(map(bytes.endswith, json_only, repeat((b"}", b"}\r"))))
        if closed < json_lines:
            stats.bump("truncated_json", json_lines - closed)
    _check_utf8(buf, lines, stats)
    last_indented = lines[-1].startswith((b" ", b"\t"))
    mixed = bool(json_lines) and others > 0
    if window is None:
        return heads, mixed, last_indented
    inside = 0
    for line in filter(None, lines):  # blank lines dropped at C speed
        if line.startswith(b"{") or not line.startswith(CONT_PREFIXES):
            inside += window.contains(line_ts(line))
    return inside, mixed, last_indented


def _check_utf8(buf: bytes, lines: list[bytes], stats: InputStats) -> None:
    if buf.isascii():  # no allocation, memory speed: the common case
        return
    stats.bump("invalid_utf8", sum(1 for line in lines if not line.isascii() and not _valid_utf8(line)))


def _valid_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
