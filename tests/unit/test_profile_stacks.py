"""py-spy stack sampling: the raw-format parser on known text, then real py-spy against real child processes —
an asyncio loop blocked by time.sleep in a handler is seen busy, one awaiting asyncio.sleep is seen free — and
the plain answers when py-spy is missing or not permitted (a real permission denial: py-spy run as `nobody`
against a root-owned process)."""

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from agentops.profile import stacks
from agentops.profile.stacks import parse_raw, record

RAW = """\
thread (100): MainThread;<module> (app.py:11);run (asyncio/runners.py:190);BaseEventLoop.run_forever (asyncio/base_events.py:607);BaseEventLoop._run_once (asyncio/base_events.py:1884);EpollSelector.select (selectors.py:468) 30
thread (100): MainThread;<module> (app.py:11);run (asyncio/runners.py:190);BaseEventLoop.run_forever (asyncio/base_events.py:607);BaseEventLoop._run_once (asyncio/base_events.py:1922);Handle._run (asyncio/events.py:80);handler (app.py:6) 70
thread (101): Thread-1 (bg);Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982);crunch (app.py:3) 50
thread (102): Thread-2;Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982) 100
"""

BLOCKING = """
import asyncio, time
async def handler():
    time.sleep(0.05)            # the bug: a blocking call inside a coroutine
async def main():
    print("ready", flush=True)
    while True:
        await handler()
        await asyncio.sleep(0.01)
asyncio.run(main())
"""
AWAITING = """
import asyncio
async def handler():
    await asyncio.sleep(0.05)   # the right way: the loop is free meanwhile
async def main():
    print("ready", flush=True)
    while True:
        await handler()
asyncio.run(main())
"""


def test_parse_raw_counts_hot_frames_and_loop_activity():
    total, active, hot, loops = parse_raw(RAW)
    assert total == 250
    # the selector wait and the thread whose target is C code (leaf Thread.run) are waiting, not working
    assert active == 120
    assert [f.frame for f in hot] == ["handler (app.py:6)", "crunch (app.py:3)"]
    assert hot[0].share == pytest.approx(70 / 120)
    (loop,) = loops
    assert loop.thread == "MainThread (100)" and loop.samples == 100 and loop.busy_samples == 70
    assert loop.busy_share == pytest.approx(0.7)
    assert loop.top_frames[0].frame == "handler (app.py:6)"


def test_parse_raw_ignores_garbage():
    assert parse_raw("not a stack\n\n") == (0, 0, [], [])


needs_py_spy = pytest.mark.skipif(stacks.find_py_spy() is None, reason="py-spy not installed ([stacks] extra)")


@pytest.fixture
def child():
    procs = []

    def start(code: str) -> int:
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return p.pid

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)


@needs_py_spy
def test_a_blocked_event_loop_is_seen_busy_in_the_handler(child):
    prof = asyncio.run(record(child(BLOCKING), 1.0, rate=100))
    assert prof.available, prof.reason
    loop = prof.busiest_loop
    assert loop is not None and loop.busy_share > 0.5
    assert loop.top_frames[0].frame.startswith("handler (")


@needs_py_spy
def test_an_awaiting_event_loop_is_seen_free(child):
    prof = asyncio.run(record(child(AWAITING), 1.0, rate=100))
    assert prof.available, prof.reason
    loop = prof.busiest_loop
    assert loop is not None and loop.busy_share < 0.5


def test_missing_py_spy_is_said_plainly(monkeypatch):
    monkeypatch.setattr(stacks, "find_py_spy", lambda: None)  # stands in for "the [stacks] extra is absent"
    prof = asyncio.run(record(os.getpid(), 1.0))
    assert not prof.available and "py-spy is not installed" in prof.reason


@needs_py_spy
def test_a_pid_that_is_not_running_is_not_a_crash():
    p = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.DEVNULL)
    p.wait(timeout=30)  # exited and reaped: the pid names nothing now
    prof = asyncio.run(record(p.pid, 1.0))
    assert not prof.available and "exited" in prof.reason


@needs_py_spy
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser to drop to "
                    "an unprivileged user")
def test_not_permitted_is_said_plainly(child, tmp_path):
    # py-spy run as `nobody` cannot ptrace a root-owned process: the kernel really says no.
    wrapper = tmp_path / "py-spy-as-nobody"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u nobody -- {stacks.find_py_spy()} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    prof = asyncio.run(record(child(AWAITING), 1.0, py_spy=str(wrapper)))
    assert not prof.available
    assert "not permitted" in prof.reason and "CAP_SYS_PTRACE" in prof.reason
