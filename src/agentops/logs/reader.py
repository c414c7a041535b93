"""Streaming input: files, directories, globs, gzip-rotated files, stdin and journald, read in binary chunks
that end on a line boundary, in constant memory.

Why binary chunks: the scanner searches bytes first (`bytes.find`/`count` run at memory speed) and parses only
the lines that can matter, so the reader must not split into lines or decode. Chunks are small (1 MiB) because
reading into a fresh buffer of that size stays in the CPU cache; a 32 MiB buffer is several times slower.

Bad input never stops a run: a line longer than MAX_LINE keeps only its head; a file that cannot be opened,
is not a regular file, or looks binary is skipped (a FIFO is never opened, so never waited on); NUL bytes at
the start of an input (a copytruncate rotation's hole) are skipped and counted, and the records after them
read; a file truncated while being read stops there; a file rotated away while being read is read to its end
(the open descriptor still holds it). All of it is counted in `InputStats` and named per source.
"""

from __future__ import annotations

import errno
import functools
import glob
import gzip
import os
import re
import shutil
import stat
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentops.core import format as fmt
from agentops.logs.stats import InputStats, SourceInfo

CHUNK = 1 << 20
MAX_LINE = 1 << 20  # longer lines keep only their first HEAD_KEEP bytes
HEAD_KEEP = 64 << 10
_GZIP_MAGIC = b"\x1f\x8b"
_ROTATION_SUFFIX = re.compile(r"(\.(\d+|gz|log|json|jsonl|txt|out|err|old|\d{8}(-\d+)?))+$")


class InputError(Exception):
    """A usage-level problem with the inputs as a whole (nothing matched, journald missing): exit 3."""


@dataclass(frozen=True)
class Source:
    name: str  # what the user sees: the path, "-" (stdin) or "journal:<unit>"
    kind: str  # file | stdin | journal
    path: str = ""
    unit: str = ""
    journal_dir: str = ""

    @functools.cached_property
    def component(self) -> str:
        """The component a record belongs to when it does not say: the unit, or the file's base name without
        rotation and format suffixes (logs/w1.log.2.gz → w1)."""
        if self.kind == "journal":
            return self.unit.removesuffix(".service")
        if self.kind == "stdin":
            return "stdin"
        base = os.path.basename(self.path)
        stem = _ROTATION_SUFFIX.sub("", base)
        return stem or base


@dataclass
class Chunk:
    """Complete lines: buf[start:end] ends with a newline (or is the unterminated last line of the input).
    `offset` is the source offset of buf[start]."""

    buf: bytes
    start: int
    end: int
    offset: int
    cut: str = ""  # "oversized" (the head of a line over the cap) or "unterminated" (the input ended mid-line)


def resolve(paths: list[str], stats: InputStats, journal: str | None = None,
            journal_dir: str | None = None) -> list[Source]:
    """Expand paths, directories (recursively, sorted) and globs into sources, in a stable order. Paths that
    do not exist are counted as unreadable; if nothing at all matched, InputError (a usage error)."""
    sources: list[Source] = []
    missing: list[str] = []
    for arg in paths:
        if arg == "-":
            sources.append(Source(name="-", kind="stdin"))
            continue
        if os.path.isdir(arg):
            # Symlinks too, even dangling ones (a "current" link to a deleted file): they are reported.
            found = sorted(str(p) for p in Path(arg).rglob("*")
                           if (p.is_file() or p.is_symlink()) and not p.name.startswith("."))
            sources.extend(Source(name=p, kind="file", path=p) for p in found)
            continue
        if os.path.lexists(arg):
            sources.append(Source(name=arg, kind="file", path=arg))
            continue
        if any(ch in arg for ch in "*?["):
            matched = sorted(p for p in glob.glob(arg, recursive=True) if not os.path.isdir(p))
            if matched:
                sources.extend(Source(name=p, kind="file", path=p) for p in matched)
                continue
        missing.append(arg)
    if journal:
        sources.append(Source(name=f"journal:{journal}", kind="journal", unit=journal,
                              journal_dir=journal_dir or ""))
    for arg in missing:
        stats.sources.append(SourceInfo(name=arg, component="", status="unreadable",
                                        reason="no such file or directory"))
        stats.bump("unreadable_inputs")
    if not sources:
        if missing:
            raise InputError(f"no such file or directory: {missing[0]}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        raise InputError("no input: give log files, directories, globs, - for stdin, or --journal UNIT")
    return _dedupe(sources)


def _dedupe(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    out = []
    for s in sources:
        key = os.path.realpath(s.path) if s.kind == "file" else s.name
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def read_chunks(source: Source, stats: InputStats, journal_args: list[str] | None = None,
                chunk_size: int = CHUNK, byte_range: tuple[int, int] | None = None) -> Iterator[Chunk]:
    """The source's content as chunks of complete lines. Problems are recorded in `stats`, never raised.
    `byte_range` (a regular file only) reads [start, end), both at line starts: one worker's share."""
    assert chunk_size <= MAX_LINE, "a read must not hold a whole line longer than the cap"
    info = SourceInfo(name=source.name, component=source.component, kind=source.kind)
    stats.sources.append(info)
    if source.kind == "stdin":
        yield from _stream(_stdin_reader(info, stats), info, stats, chunk_size)
    elif source.kind == "journal":
        yield from _journal(source, info, stats, journal_args or [], chunk_size)
    else:
        yield from _file(source, info, stats, chunk_size, byte_range)


def _fail(info: SourceInfo, stats: InputStats, status: str, reason: str, counter: str) -> None:
    info.status, info.reason = status, reason
    stats.bump(counter)


def _file(source: Source, info: SourceInfo, stats: InputStats, chunk_size: int,
          byte_range: tuple[int, int] | None = None) -> Iterator[Chunk]:
    path = source.path
    try:
        st = os.stat(path)
    except OSError as exc:
        _fail(info, stats, "unreadable", _why(exc), "unreadable_inputs")
        return
    if not stat.S_ISREG(st.st_mode):
        # A FIFO would block open() until a writer appears; a device could be endless.
        _fail(info, stats, "skipped", "not a regular file", "skipped_inputs")
        return
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open must still not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        _fail(info, stats, "unreadable", _why(exc), "unreadable_inputs")
        return
    try:
        opened = os.fstat(fd)
        head = os.pread(fd, 2, 0)
        if head == _GZIP_MAGIC:
            info.kind = "gzip"
            raw = os.fdopen(fd, "rb", closefd=False)
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            yield from _stream(_gzip_reader(gz, info, stats), info, stats, chunk_size)
            return
        start, end = byte_range or (0, None)
        reader = _fd_reader(fd, path, opened, info, stats, start, end)
        yield from _stream(reader, info, stats, chunk_size, offset=start, check_binary=start == 0)
    except OSError as exc:
        _fail(info, stats, "unreadable", _why(exc), "unreadable_inputs")
    finally:
        os.close(fd)


def _fd_reader(fd: int, path: str, opened: os.stat_result, info: SourceInfo, stats: InputStats,
               start: int = 0, end: int | None = None) -> Callable[[int], bytes]:
    """pread with checks for a file truncated under us (copytruncate rotation) and, at the end of the file,
    for the path now naming another file (rename rotation)."""
    state = {"pos": start, "done": False}

    def read(n: int) -> bytes:
        if state["done"]:
            return b""
        if end is not None:
            n = min(n, end - state["pos"])
        data = os.pread(fd, n, state["pos"]) if n > 0 else b""
        state["pos"] += len(data)
        if os.fstat(fd).st_size < state["pos"]:
            # The file shrank below what we have read (or what we were about to): this read may hold the new
            # content or nothing at all; stop at what was surely the old file.
            _fail(info, stats, "truncated", "truncated while being read", "truncated_inputs")
            state["done"] = True
            return b""
        if data:
            return data
        state["done"] = True
        if end is not None and end < opened.st_size:
            return b""  # a worker's share ends before the file does
        try:
            now = os.stat(path)
            rotated = (now.st_ino, now.st_dev) != (opened.st_ino, opened.st_dev)
        except OSError:
            rotated = True
        if rotated and info.status == "read":
            _fail(info, stats, "rotated", "rotated while being read (read the old file to its end)",
                  "rotated_inputs")
        return b""

    return read


def _gzip_reader(gz: gzip.GzipFile, info: SourceInfo, stats: InputStats) -> Callable[[int], bytes]:
    state = {"done": False}

    def read(n: int) -> bytes:
        # read1 piece by piece: GzipFile.read(n) raises at the damage and drops everything it decompressed
        # for that call, which for a file smaller than one read is all of it.
        if state["done"]:
            return b""
        parts, got = [], 0
        while got < n:
            try:
                piece = gz.read1(n - got)
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                state["done"] = True
                _fail(info, stats, "corrupt", f"gzip data damaged or cut short ({exc})", "corrupt_gzip")
                break
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    return read


def _stdin_reader(info: SourceInfo, stats: InputStats) -> Callable[[int], bytes]:
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    # gz: the decompressor of the current gzip member (None: plain input, or between members); pending: input
    # read but not yet decompressed. A read returns at most n bytes, as from a file: one read of a highly
    # compressed stream must not expand to many MiB at once.
    state: dict[str, Any] = {"gzip": False, "gz": None, "pending": b"", "first": True, "done": False}

    def fail(why: str) -> bytes:
        state["done"] = True
        _fail(info, stats, "corrupt", why, "corrupt_gzip")
        return b""

    def inflate(n: int) -> bytes:
        """Up to n decompressed bytes; `cat a.gz b.gz |` is several gzip members, one after the other. At damage,
        what decompressed before it is kept."""
        while True:
            if not state["pending"]:
                state["pending"] = os.read(fd, n)
                if not state["pending"]:
                    state["done"] = True
                    if state["gz"] is not None:
                        return fail("gzip data cut short (the stream ended before its end marker)")
                    return b""
            gz = state["gz"]
            if gz is None:
                gz = state["gz"] = zlib.decompressobj(wbits=31)
            try:
                out = gz.decompress(state["pending"], n)
            except zlib.error as exc:
                return fail(f"gzip data damaged ({exc})")
            if gz.eof:
                state["pending"], state["gz"] = gz.unused_data, None
            else:
                state["pending"] = gz.unconsumed_tail
            if out:
                return out

    def read(n: int) -> bytes:
        if fd < 0 or state["done"]:
            return b""
        if state["first"]:
            state["first"] = False
            data = os.read(fd, n)
            if not data.startswith(_GZIP_MAGIC):
                return data
            # gzip on stdin (zcat-less pipelines): decompress as a stream.
            state["gzip"], state["pending"] = True, data
        if state["gzip"]:
            return inflate(n)
        return os.read(fd, n)

    return read


JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")


def journald_available(journal_dir: str | None = None) -> str | None:
    """None when there is a journal to read, else why not. journalctl itself cannot tell: without a journal it
    prints nothing and exits 0, exactly as for a unit that logged nothing."""
    if shutil.which("journalctl") is None:
        return "journald is not available on this machine (no journalctl)"
    if journal_dir:
        if not any(Path(journal_dir).rglob("*.journal")):
            return f"no journal files in {journal_dir}"
        return None
    if os.path.exists("/run/systemd/journal") or any(
            any(Path(d).rglob("*.journal")) for d in JOURNAL_DIRS if os.path.isdir(d)):
        return None
    return ("journald is not running on this machine (no /run/systemd/journal, no journal files): read the "
            "service's log files instead")


def _journal(source: Source, info: SourceInfo, stats: InputStats, extra: list[str],
             chunk_size: int) -> Iterator[Chunk]:
    cmd = ["journalctl", "-o", "json", "--no-pager", "-u", source.unit, *extra]
    if source.journal_dir:
        cmd += ["--directory", source.journal_dir]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise InputError(f"cannot run journalctl: {_why(exc)}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out_fd = proc.stdout.fileno()
    try:
        yield from _stream(lambda n: os.read(out_fd, n), info, stats, chunk_size)
    finally:
        proc.stdout.close()
        err = proc.stderr.read(4096).decode("utf-8", "replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if info.bytes == 0 and (code != 0 or "No journal files were found" in err):
        raise InputError(f"journald has nothing to read here: {err.splitlines()[0] if err else f'exit {code}'}")


def _why(exc: OSError) -> str:
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    return exc.strerror or str(exc)


def _stream(read: Callable[[int], bytes], info: SourceInfo, stats: InputStats, chunk_size: int,
            offset: int = 0, check_binary: bool = True) -> Iterator[Chunk]:
    """Cut a byte stream into chunks of complete lines. The carried partial line is bounded: a line longer
    than MAX_LINE is yielded as its first HEAD_KEEP bytes (plus a newline) and the rest skipped."""
    carry = bytearray()  # the start of a line that continues in the next read (at most MAX_LINE)
    skipping = False  # inside an oversized line, dropping bytes until its newline
    # `offset`: source offset of the first byte not yet yielded or skipped
    first = check_binary
    leading = check_binary  # at the input's start: NULs there are a hole left by a copytruncate rotation
    nuls = 0
    while True:
        data = read(chunk_size)
        if not data:
            break
        if leading and data.startswith(b"\0"):
            rest = data.lstrip(b"\0")  # C speed: a hole can be gigabytes
            nuls += len(data) - len(rest)
            info.bytes += len(data) - len(rest)
            offset += len(data) - len(rest)
            if not rest:
                continue
            data = rest
        if leading:
            leading = False
            _skipped_nuls(info, stats, nuls)
        if first:
            first = False
            if b"\0" in data[:8192]:
                _fail(info, stats, "skipped", "binary file", "skipped_inputs")
                return
        if not info.has_text and not data.isspace():  # C speed, stops at the first byte of text
            info.has_text = True
        info.bytes += len(data)
        pos = 0
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                offset += len(data)
                continue
            skipping = False
            pos = nl + 1
            offset += pos
        if carry:
            nl = data.find(b"\n", pos)
            carry += data[pos:] if nl < 0 else data[pos:nl + 1]
            pos = len(data) if nl < 0 else nl + 1
            if nl >= 0:
                line = bytes(carry)
                carry.clear()
                yield _oversized(line, offset) if len(line) > MAX_LINE else Chunk(line, 0, len(line), offset)
                offset += len(line)
        if pos < len(data):
            last = data.rfind(b"\n", pos)
            if last >= 0:
                yield from _lines_capped(data, pos, last + 1, offset)
                offset += last + 1 - pos
                pos = last + 1
            carry += data[pos:]
        if len(carry) > MAX_LINE:
            yield _oversized(carry, offset)
            offset += len(carry)
            carry.clear()
            skipping = True
    if leading:
        _skipped_nuls(info, stats, nuls)
    if carry and not skipping:
        line = bytes(carry) + b"\n"
        yield Chunk(line, 0, len(line), offset, cut="unterminated")


def _skipped_nuls(info: SourceInfo, stats: InputStats, n: int) -> None:
    if n:
        stats.bump("nul_bytes", n)
        info.reason = f"skipped {fmt.size(n)} of NUL bytes before the records (a copytruncate rotation's hole)"


def _lines_capped(data: bytes, start: int, end: int, offset: int) -> Iterator[Chunk]:
    """data[start:end] as one chunk. A body longer than MAX_LINE (a read that returned more than asked; none
    here does) is cut into pieces of whole lines, each its own buffer, since a chunk's work is proportional to
    its buffer; a line longer than the cap is cut like any other."""
    if end - start <= MAX_LINE:
        yield Chunk(data, start, end, offset)
        return
    pos = start
    while pos < end:
        stop = data.rfind(b"\n", pos, min(end, pos + MAX_LINE)) + 1
        if stop > pos:
            yield Chunk(data[pos:stop], 0, stop - pos, offset + pos - start)
        else:
            stop = data.find(b"\n", pos, end) + 1
            yield _oversized(data[pos:stop], offset + pos - start)
        pos = stop


def _oversized(line: bytes | bytearray, offset: int) -> Chunk:
    head = bytes(line[:HEAD_KEEP]).rstrip(b"\n") + b"\n"
    return Chunk(head, 0, len(head), offset, cut="oversized")
