"""Ctrl-C as a request to stop a long-running loop cleanly (`profile`'s window, `watch`'s refreshes): the first
press sets an event the loop waits on beside its work, so the loop ends the way a finished one does (what it
has is still reported) instead of by a KeyboardInterrupt raised wherever the main thread happens to be."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def stop_on_interrupt(stop: asyncio.Event) -> Iterator[None]:
    """The first Ctrl-C ends the window early (what was sampled is still reported); a second one interrupts as
    usual. Call inside the running loop; where signals cannot be handled (not the main thread) it does nothing."""
    loop = asyncio.get_running_loop()

    def first_press() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    try:
        loop.add_signal_handler(signal.SIGINT, first_press)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
