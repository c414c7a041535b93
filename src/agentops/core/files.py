"""Reading and writing the files a user names, whatever they turn out to be.

A path in a config or on the command line may be a symlink to /dev/zero, a FIFO nobody writes to, a
terminal, a socket or a directory. Reads are capped by the bytes actually read (st_size is 0 for devices
and /proc files, so it proves nothing), refuse non-regular files where a regular one is meant and stop at a
deadline; they open with O_NONBLOCK and fstat before reading, so a FIFO can never block the open.

Writes replace a regular file atomically (temp file in the same directory, fsync, rename), so a reader such
as node_exporter's textfile collector never sees half a document; they write through to a FIFO, a device or
a terminal (which cannot be replaced, only written to), follow a symlink to the file it names (the link
stays), and refuse what can be neither written to nor replaced (a directory, a socket).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import time
from pathlib import Path

from agentops.core.format import exact_size

# How long a FIFO's write end waits for a reader (`cat out.fifo &` started just after agentops).
FIFO_READER_WAIT_S = 10.0
# How long writing to a FIFO, a device or a terminal may take in all (a reader that stopped reading).
WRITE_THROUGH_DEADLINE_S = 30.0
READ_DEADLINE_S = 10.0
_CHUNK = 64 * 1024


class FileProblem(Exception):
    """A file cannot be read or written as asked; the text is the reason, without the path (callers add it
    in their own error format: file:line: field: why). `missing` tells "no such file" from the rest."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def read_file(path: str | Path, *, limit: int, regular_only: bool = True,
              deadline_s: float = READ_DEADLINE_S) -> bytes:
    """The file's bytes, at most `limit` of them (more is an error, not a truncation: a cut config or PEM
    would be misread). Symlinks are followed; with `regular_only`, anything but a regular file is refused
    before a byte is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileProblem("file not found", missing=True) from None
    except OSError as exc:
        raise FileProblem(_os_reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileProblem("is a directory, not a file")
        if regular_only and not stat.S_ISREG(mode):
            raise FileProblem(f"not a regular file ({kind_of(mode)})")
        return _read_fd(fd, limit, deadline_s, regular=stat.S_ISREG(mode))
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int, deadline_s: float, *, regular: bool) -> bytes:
    deadline = time.monotonic() + deadline_s
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FileProblem(f"not read within {deadline_s:g}s")
        if not regular:
            # A pipe or device may have nothing yet: wait for data (or its end) no longer than the deadline.
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
        try:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
        except BlockingIOError:
            continue
        except OSError as exc:
            raise FileProblem(_os_reason(exc)) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise FileProblem(f"larger than {exact_size(limit)} (not read)")


def read_text(path: str | Path, *, limit: int, regular_only: bool = True,
              deadline_s: float = READ_DEADLINE_S) -> str:
    """read_file, decoded as UTF-8 (a decoding error is a FileProblem naming the byte offset)."""
    raw = read_file(path, limit=limit, regular_only=regular_only, deadline_s=deadline_s)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"not UTF-8 text (byte {exc.start})") from None


def current_umask() -> int:
    # The only portable way to read the umask is to set it; set it straight back (single-threaded CLI).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file(path: str | Path, data: str | bytes, *, mode: int = 0o666) -> None:
    """Write `data` to `path` as described in the module docstring. A new regular file gets `mode` less the
    umask; a replaced one keeps its mode (and, for root, its owner). Raises FileProblem."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    target = Path(os.path.realpath(path))  # a symlink names the file to replace; the link itself stays
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise FileProblem(_os_reason(exc)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            _write_through(target, payload, fifo=stat.S_ISFIFO(st.st_mode))
            return
        raise FileProblem(f"is {kind_of(st.st_mode)}; it cannot be written to or replaced")
    _replace(target, payload, st, mode)


def _replace(target: Path, payload: bytes, st: os.stat_result | None, mode: int) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileProblem(f"cannot create directory {target.parent}: {_os_reason(exc)}") from None
    final_mode = stat.S_IMODE(st.st_mode) if st is not None else mode & ~current_umask() & 0o7777
    tmp = None
    try:
        for attempt in range(100):
            candidate = target.with_name(f".{target.name}.{os.getpid()}.{attempt}.tmp")
            try:
                # 0600 while it is written: a file about to get a stricter mode never shows its text meanwhile.
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise FileProblem(f"cannot create a temporary file in {target.parent}")
        try:
            _write_all(fd, payload)
            os.fsync(fd)
            if st is not None and os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, final_mode)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise FileProblem(_os_reason(exc)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_all(fd: int, payload: bytes, deadline: float | None = None) -> None:
    view = memoryview(payload)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            left = (deadline - time.monotonic()) if deadline is not None else 0.0
            if deadline is None or left <= 0:
                raise FileProblem("the reader stopped reading; not written in time") from None
            select.select([], [fd], [], left)
            continue
        view = view[n:]


def _write_through(target: Path, payload: bytes, *, fifo: bool) -> None:
    """Write to a FIFO, device or terminal in place, never replacing it, within a deadline."""
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    start = time.monotonic()
    while True:
        try:
            fd = os.open(target, flags)
            break
        except OSError as exc:
            # A FIFO without a reader refuses a non-blocking open (ENXIO): wait a little for one to appear.
            if fifo and exc.errno == errno.ENXIO and time.monotonic() - start < FIFO_READER_WAIT_S:
                time.sleep(0.05)
                continue
            if exc.errno == errno.ENXIO:
                raise FileProblem(f"no process reads this FIFO (waited {FIFO_READER_WAIT_S:g}s)") from None
            raise FileProblem(_os_reason(exc)) from None
    try:
        _write_all(fd, payload, deadline=time.monotonic() + WRITE_THROUGH_DEADLINE_S)
    except OSError as exc:
        raise FileProblem(_os_reason(exc)) from None
    finally:
        os.close(fd)
