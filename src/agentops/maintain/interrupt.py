"""Signals during a playbook run (SIGTERM from `systemctl stop` or cron's kill, Ctrl-C, a closed terminal's
SIGHUP) end the run the way a finished one ends: with a report, a `run.end` audit record and the lock
released. The signal only asks; the running step is cancelled at its next await (files.prune yields
between deletions, so a deletion and its audit record are never separated), and the engine records what
that step had done so far.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interrupts:
    """While entered: the first of SIGNALS sets `received` and cancels the task that `watch` named; later
    ones are only noted. Outside a watched task the signal is only noted too: the engine checks `received`
    before each step, so nothing new starts after it."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Interrupts:
        # signal.signal works only in the main thread; a run from another thread (a library caller) keeps
        # whatever handling its host set up.
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def watch(self, task: asyncio.Task[Any] | None) -> None:
        """Cancel this task on a signal (None: stop watching)."""
        self._task = task
        self._loop = task.get_loop() if task is not None else None

    @property
    def name(self) -> str:
        return self.received.name if self.received is not None else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signal.Signals(signum)
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not task.done():
            # The handler runs between two bytecodes of whatever the main thread does: ask the loop to
            # cancel at its next turn rather than cancelling from inside that code.
            loop.call_soon_threadsafe(task.cancel)
