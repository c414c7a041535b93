"""The error classifier: pasted tracebacks, single lines and JSON log records → cause, fix, package."""

from __future__ import annotations

import json

import pytest

from agentops.logs.classify import classify_exception, classify_text, exception_lines, package_for

MODULE_TRACEBACK = """Traceback (most recent call last):
  File "/srv/agents/worker.py", line 12, in <module>
    from planner import PlannerAgent
  File "/srv/agents/planner.py", line 3, in <module>
    import yaml
ModuleNotFoundError: No module named 'yaml'
"""

CHAINED = """Traceback (most recent call last):
  File "/srv/agents/store.py", line 40, in connect
    sock.connect(addr)
ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 6379)

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/agents/worker.py", line 9, in main
    store = Store.open()
RuntimeError: store unavailable
"""


def test_missing_module_names_the_package_to_install() -> None:
    c = classify_text(MODULE_TRACEBACK)
    assert c.kind == "missing-module"
    assert c.package == "PyYAML"  # the import name differs from the distribution name
    assert "pip install 'PyYAML'" in c.fix
    assert c.location == "/srv/agents/planner.py:3 in <module>"


@pytest.mark.parametrize(("module", "package"), [
    ("cv2", "opencv-python"), ("sklearn.linear_model", "scikit-learn"), ("google.protobuf", "protobuf"),
    ("autogen_ext.runtimes.grpc", "autogen-ext[grpc]"), ("requests", "requests"), ("my_pkg.sub", "my-pkg"),
])
def test_package_for(module: str, package: str) -> None:
    assert package_for(module) == package


def test_a_chained_traceback_is_classified_by_its_specific_cause() -> None:
    c = classify_text(CHAINED)
    assert c.kind == "connection-refused"
    assert "127.0.0.1:6379" in c.cause
    assert any("RuntimeError: store unavailable" in e for e in c.evidence)
    assert any("chained ConnectionRefusedError" in e for e in c.evidence)


@pytest.mark.parametrize(("text", "kind"), [
    ("PermissionError: [Errno 13] Permission denied: '/var/log/agents/w1.log'", "permission-denied"),
    ("TimeoutError: timed out", "timeout"),
    ("asyncio.exceptions.TimeoutError", "timeout"),
    ("grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with: status = StatusCode.DEADLINE_EXCEEDED",
     "timeout"),
    ("socket.gaierror: [Errno -2] Name or service not known", "dns"),
    ("OSError: [Errno 98] Address already in use", "address-in-use"),
    ("KeyError: 'OPENAI_API_KEY'", "missing-env"),
    ("ImportError: cannot import name 'RoutedAgent' from 'autogen_core' (/x/autogen_core/__init__.py)",
     "version-mismatch"),
    ("ImportError: libGL.so.1: cannot open shared object file: No such file or directory", "missing-system-library"),
    ("AttributeError: module 'planner' has no attribute 'PlanerAgent'", "missing-attribute"),
    ("ValueError: Unknown type NoneType with content type application/json", "handler-returned-none"),
    ("json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)", "payload-malformed"),
    ("TypeError: Ping.__init__() got an unexpected keyword argument 'wrong'", "payload-fields"),
    ("grpc: RESOURCE_EXHAUSTED: Received message larger than max (5243061 vs. 4194304)", "message-too-large"),
    ("ERROR: Agent planner not found, failed to deliver message.", "agent-not-found"),
    ("SyntaxError: invalid syntax", "syntax-error"),
    ("MemoryError", "out-of-memory"),
    ("connection refused", "connection-refused"),
])
def test_known_errors(text: str, kind: str) -> None:
    assert classify_text(text).kind == kind


def test_a_request_id_key_error_points_at_collisions() -> None:
    c = classify_exception("KeyError", "'7'")
    assert c.kind == "unknown-key"
    assert "7016" in c.cause


def test_json_log_records_are_read_for_their_exception() -> None:
    record = {"level": "ERROR", "message": "Exception in callback …",
              "exception": "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
                           "ValueError: Unknown type NoneType with content type application/json"}
    assert classify_text(json.dumps(record)).kind == "handler-returned-none"


def test_exception_group_members_are_found() -> None:
    text = ("  + Exception Group Traceback (most recent call last):\n"
            "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n"
            "  +-+---------------- 1 ----------------\n"
            "    | Traceback (most recent call last):\n"
            "    |   File \"w.py\", line 5, in run\n"
            "    | ConnectionRefusedError: [Errno 111] Connection refused\n")
    assert [e.name for e in exception_lines(text)] == ["ExceptionGroup", "ConnectionRefusedError"]
    assert classify_text(text).kind == "connection-refused"


def test_unknown_errors_are_said_to_be_unknown() -> None:
    c = classify_text("Traceback (most recent call last):\n  File \"a.py\", line 2, in f\nZeroDivisionError: division by zero")
    assert c.kind == "unclassified" and not c.known
    assert "ZeroDivisionError" in c.cause
    empty = classify_text("   ")
    assert empty.kind == "unclassified"


# What grpc.aio prints for a worker whose host is down: the status and details sit on indented lines under the
# exception line, where a traceback reader sees only quoted source.
AIO_RPC_TRACEBACK = '''Traceback (most recent call last):
  File "/srv/worker.py", line 40, in main
    await runtime.start()
grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with:
\tstatus = StatusCode.UNAVAILABLE
\tdetails = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Connection refused"
\tdebug_error_string = "UNKNOWN:Error received from peer  {grpc_status:14}"
>
'''


def test_an_aio_rpc_error_is_read_by_its_status_and_details() -> None:
    c = classify_text(AIO_RPC_TRACEBACK)
    assert c.kind == "connection-refused", c
    assert any("UNAVAILABLE" in e for e in c.evidence)
    # Folding is idempotent: a text already folded (worker_start keeps the fold in its evidence) reads the same.
    from agentops.logs.classify import fold_rpc_error

    once = fold_rpc_error(AIO_RPC_TRACEBACK)
    assert fold_rpc_error(once) == once and classify_text(once).kind == c.kind
