"""Patterns: normalization, grouping with bounded memory, merging (parallel scans), correlations, the per-minute
distribution; and the knowledge table's recommended actions and security classification."""

from __future__ import annotations

import pytest

from agentops.logs import knowledge
from agentops.logs.patterns import OVERFLOW, PatternTable, correlations, distribution, normalize
from agentops.logs.records import Record

T0 = 1714557600.0  # 2024-05-01T10:00:00Z


def rec(message: str, ts: float | None = T0, *, exception: str = "", agent: str = "", trace: str = "",
        component: str = "w1", level: str = "ERROR") -> Record:
    return Record(ts=ts, level=level, message=message, exception=exception, agent_id=agent, trace_id=trace,
                  component=component, logger="agents")


@pytest.mark.parametrize(("message", "pattern"), [
    ("Agent planner not found, failed to deliver message.", "Agent <agent> not found, failed to deliver message."),
    ("Client 6f1c2d1e-5b4a-4c7e-9a3b-0d2e1f3a4b5c not found, failed to send response message.",
     "Client <client> not found, failed to send response message."),
    ("Error 111 connecting to 127.0.0.1:6379. Connection refused.", "Error <n> connecting to <addr>. "
                                                                   "Connection refused."),
    ("Timeout waiting for reply from echo2/k28 after 30.0s", "Timeout waiting for reply from <agent> after <n>s"),
    ("No module named 'tiktoken'", "No module named <str>"),
    ('user "agents" rejected', "user <str> rejected"),
    ("object at 0x7f3a2b1c freed, digest deadbeefcafe1234", "object at <hex> freed, digest <hex>"),
    ("request req-42 took 12ms for 5MiB", "request <id> took <n>ms for <n>MiB"),
    ("first line 1\nsecond line 2", "first line <n>"),
    ("data content type application/json", "data content type application/json"),
    ("Exception in callback X(<Task finishe...cation/json')>)", "Exception in callback X(<Task finishe...cation/json')>)"),
])
def test_normalize(message: str, pattern: str) -> None:
    assert normalize(message) == pattern


def test_same_error_with_different_values_is_one_pattern_split_by_error_type() -> None:
    table = PatternTable()
    for i, agent in enumerate(["planner", "router", "planner"]):
        table.add(rec(f"Agent {agent} not found, failed to deliver message.", T0 + i, agent=agent))
    table.add(rec("call failed", T0, exception="Traceback (most recent call last):\nTimeoutError"))
    table.add(rec("call failed", T0, exception="Traceback (most recent call last):\nKeyError: 'x'"))
    ranked = table.ranked()
    assert [(p.error_type, p.text, p.count) for p in ranked] == [
        ("", "Agent <agent> not found, failed to deliver message.", 3),
        ("KeyError", "call failed", 1), ("TimeoutError", "call failed", 1)]
    top = ranked[0]
    assert dict(top.agents) == {"planner": 2, "router": 1}
    assert (top.first_ts, top.last_ts) == (T0, T0 + 2)
    assert top.sample == "Agent planner not found, failed to deliver message."


def test_the_table_is_bounded() -> None:
    table = PatternTable(max_patterns=5)
    for i in range(50):
        table.add(rec(f"distinct failure kind{'x' * i}"))
    assert len(table.patterns) == 6  # five, plus the overflow pattern
    overflow = table.patterns[("", OVERFLOW)]
    assert overflow.count == 45


def test_merging_worker_tables_equals_one_table() -> None:
    records = [rec(f"Agent a{i % 3} not found, failed to deliver message.", T0 + i * 7, agent=f"a{i % 3}",
                   trace=f"t{i % 5}") for i in range(40)]
    records += [rec("boom", T0 + i, exception=f"Traceback\nValueError: {i}") for i in range(10)]
    whole = PatternTable()
    for r in records:
        whole.add(r)
    first, second = PatternTable(), PatternTable()
    for r in records[:23]:
        first.add(r)
    for r in records[23:]:
        second.add(r)
    first.merge(second)
    assert {k: (p.count, p.first_ts, p.last_ts, dict(p.minutes), p.trace_ids, dict(p.agents))
            for k, p in whole.patterns.items()} == \
           {k: (p.count, p.first_ts, p.last_ts, dict(p.minutes), p.trace_ids, dict(p.agents))
            for k, p in first.patterns.items()}


def test_correlations_by_trace_and_by_time_but_not_with_background_noise() -> None:
    table = PatternTable()
    for burst in (0, 600, 1200):  # three incidents, ten minutes apart
        for k in range(3):
            table.add(rec("Agent planner not found, failed to deliver message.", T0 + burst + k))
            table.add(rec("Client abc not found, failed to send response message.", T0 + burst + k + 2))
    for minute in range(0, 1800, 5):  # a pattern present all the time
        table.add(rec("Retrying connection", T0 + minute))
    table.add(rec("handler failed", T0 + 3000, trace="t-1"))
    table.add(rec("caller gave up", T0 + 3400, trace="t-1"))
    patterns = table.ranked()
    names = [p.text for p in patterns]
    related = correlations(patterns)
    agent = names.index("Agent <agent> not found, failed to deliver message.")
    client = names.index("Client <client> not found, failed to send response message.")
    assert [c["pattern"] for c in related[agent]] == [names[client]]
    assert "within 10s" in related[agent][0]["why"]
    noise = names.index("Retrying connection")
    assert related[noise] == []
    handler = names.index("handler failed")
    assert related[handler] == [{"pattern": "caller gave up", "error_type": "",
                                 "why": "1 shared trace/message ids"}]


def test_distribution_is_dense_per_minute_over_the_whole_span() -> None:
    table = PatternTable()
    for ts in (T0 + 5, T0 + 10, T0 + 185, None):
        table.add(rec("x", ts))
    p = table.ranked()[0]
    assert p.untimed == 1
    d = distribution(p, T0, T0 + 299)
    assert d == {"start": "2024-05-01T10:00:00.000Z", "step_s": 60, "counts": [2, 0, 0, 1, 0]}
    long = distribution(p, T0, T0 + 3 * 86400 - 60, max_points=1440)  # three days: 4320 minutes, 3 per bucket
    assert long["step_s"] == 180 and sum(long["counts"]) == 3 and len(long["counts"]) <= 1440


@pytest.mark.parametrize(("error_type", "message", "exception", "kind"), [
    ("", "Agent planner not found, failed to deliver message.", "", "agent-not-found"),
    ("", "Client 9 not found, failed to deliver message.", "", "worker-disconnected"),
    ("TimeoutError", "Timeout waiting for reply from echo/k1 after 30.0s", "", "timeout"),
    ("ConnectionRefusedError", "[Errno 111] Connect call failed ('127.0.0.1', 6379)", "", "connection-refused"),
    ("ModuleNotFoundError", "No module named 'tiktoken'", "", "missing-module"),
    ("", "Exception in callback X", "Traceback (most recent call last):\n  File \"x\", line 1, in f\n"
                                    "ValueError: Unknown type NoneType", "handler-returned-none"),
    ("", "send failed", "grpc.aio.AioRpcError: status = StatusCode.RESOURCE_EXHAUSTED details = \"Received "
                        "message larger than max (5242880 vs. 4194304)\"", "message-too-large"),
    ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", "", "payload-malformed"),
    ("PermissionError", "[Errno 13] Permission denied: '/var/lib/agents/state.db'", "", "permission-denied"),
    ("", "WRONGPASS invalid username-password pair or user is disabled.", "", "auth"),
    ("", "Error in read loop", "", "worker-stream-lost"),
    ("CancelledError", "Exception in callback Servicer._raise_on_exception(<Task cancell...>)", "", "task-cancelled"),
])
def test_recommended_actions(error_type: str, message: str, exception: str, kind: str) -> None:
    action = knowledge.recommend(error_type, message, exception)
    assert action is not None and action.kind == kind
    assert action.fix and action.cause


def test_unknown_errors_get_no_invented_action() -> None:
    assert knowledge.recommend("", "the flux capacitor hiccuped", "") is None


def test_an_action_for_one_agent_is_reworded_for_all_of_the_pattern() -> None:
    action = knowledge.recommend("", "Agent planner not found, failed to deliver message.")
    assert action is not None
    wide = knowledge.widen(action, "planner", ["planner", "router"])
    assert "'planner', 'router'" in wide.fix and "'planner', 'router'" in wide.cause


@pytest.mark.parametrize(("text", "kind"), [
    ('FATAL:  password authentication failed for user "agents"', "auth_failure"),
    ("WRONGPASS invalid username-password pair", "auth_failure"),
    ("StatusCode.UNAUTHENTICATED", "auth_failure"),
    ("HTTP 401 Unauthorized", "auth_failure"),
    ("PermissionError: [Errno 13] Permission denied: '/x'", "permission_denied"),
    ("StatusCode.PERMISSION_DENIED", "permission_denied"),
    ("NOPERM this user has no permissions to run the 'flushall' command", "permission_denied"),
    ("Agent planner not found, failed to deliver message.", None),
    ("the author said hello", None),
])
def test_security_classification(text: str, kind: str | None) -> None:
    assert knowledge.security_kind(text) == kind


def test_recommended_actions_for_grpc_unavailable_and_a_raising_handler():
    from agentops.logs.knowledge import recommend

    unavailable = recommend("AioRpcError", "worker w1 failed: AioRpcError",
                            "grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with:\n"
                            "\tstatus = StatusCode.UNAVAILABLE\n>")
    assert unavailable is not None and unavailable.kind == "peer-unavailable"
    raised = recommend("RuntimeError", "handler failed: RuntimeError: failing on purpose")
    assert raised is not None and raised.kind == "handler-raised"
