"""What a node sends is data from another machine: a measurement or a sampled series of the wrong shape is a
clear error (NodeError PROTOCOL, ValueError), never a traceback or a made-up value."""

from __future__ import annotations

import math

import pytest

from agentops.core.model import Reason
from agentops.core.nodeclient import NodeError, _observation
from agentops.profile.sampler import SERIES, ProcessInfo, ProcessSeries
from agentops.profile.stacks import FrameCount, LoopActivity, StackProfile


def test_a_measurement_is_rebuilt_or_refused() -> None:
    obs = _observation({"metrics": {"memory_used_percent": 41.5}, "facts": {"pids": [1]}, "reason": None,
                        "message": "m"}, "n:1")
    assert obs.metrics == {"memory_used_percent": 41.5} and obs.facts == {"pids": [1]} and obs.reason is None
    assert _observation({"reason": "unsupported", "message": "no schedstat"}, "n:1").reason is Reason.UNSUPPORTED
    for bad in ({"metrics": {"x": "high"}}, {"reason": "on fire"}, {"metrics": ["x"]}):
        with pytest.raises(NodeError) as info:
            _observation(bad, "n:1")
        assert info.value.reason is Reason.PROTOCOL and "n:1" in info.value.message


def test_a_series_round_trips_and_a_wrong_one_is_refused() -> None:
    series = ProcessSeries(ProcessInfo(pid=7, label="w1", name="python"), t=[1.0, 2.0],
                           values={k: [0.5, math.nan] for k in SERIES}, cpu_seconds=0.25, gone="exited after 2s")
    back = ProcessSeries.from_dict(series.to_dict())
    assert back.info == series.info and back.t == series.t and back.cpu_seconds == 0.25
    assert back.gone == "exited after 2s" and math.isnan(back.values["rss_bytes"][1])
    assert math.isnan(back.iowait_seconds)  # not accounted stays not accounted
    doc = series.to_dict()
    doc["values"]["rss_bytes"] = [1.0]  # a series shorter than its times
    with pytest.raises(ValueError, match="not a sampled series"):
        ProcessSeries.from_dict(doc)
    with pytest.raises(ValueError, match="not a sampled series"):
        ProcessSeries.from_dict({"info": "w1"})


def test_stacks_round_trip() -> None:
    stacks = StackProfile(pid=7, available=True, samples=10, active_samples=4,
                          hot_frames=[FrameCount("f (a.py:1)", 4, 0.4)],
                          loops=[LoopActivity("MainThread", 10, 3, [FrameCount("g (b.py:2)", 3, 0.3)])])
    back = StackProfile.from_dict(stacks.to_dict())
    assert back.busiest_loop is not None and back.busiest_loop.busy_share == pytest.approx(0.3)
    assert back.hot_frames[0].frame == "f (a.py:1)"
    with pytest.raises(ValueError, match="not a stack profile"):
        StackProfile.from_dict({"pid": "seven"})
