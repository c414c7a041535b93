"""logs.classify's texts are data: every (kind, variant) of classify_texts.TEXTS is reached by its rule, filled
with a value for each placeholder, and a value read from the error is shown as written, never as a template."""

from __future__ import annotations

import re
from string import Formatter

import pytest

from agentops.core.knowledge import Explanation
from agentops.logs.classify import Classification, classify_exception, classify_text
from agentops.logs.classify_texts import TEXTS, TextKey

# One error per text of the table: what its rule reads (kind, variant) from.
SAMPLES: dict[TextKey, str] = {
    ("missing-module", ""): "ModuleNotFoundError: No module named 'yaml'",
    ("missing-module", "extra"): "ModuleNotFoundError: No module named 'autogen_ext.runtimes.grpc'",
    ("circular-import", ""): "ImportError: cannot import name 'Planner' from partially initialized module "
                             "'agents.planner' (most likely due to a circular import) (/srv/agents/planner.py)",
    ("version-mismatch", ""): "ImportError: cannot import name 'RoutedAgent' from 'autogen_core'",
    ("missing-system-library", ""): "ImportError: libGL.so.1: cannot open shared object file: No such file",
    ("missing-attribute", ""): "AttributeError: module 'agents.planner' has no attribute 'Planer'",
    ("agent-not-found", ""): "LookupError: Agent planner not found",
    ("duplicate-registration", ""): "ValueError: Agent type planner already registered",
    ("message-too-large", ""): "grpc.aio.AioRpcError: RESOURCE_EXHAUSTED: Received message larger than max",
    ("handler-returned-none", ""): "ValueError: Unknown type <class 'NoneType'>",
    ("serializer-missing", ""): "ValueError: Unknown type Reply",
    ("payload-malformed", ""): "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    ("payload-fields", ""): "TypeError: Task.__init__() got an unexpected keyword argument 'txt'",
    ("payload-fields", "validation"): "pydantic_core.ValidationError: 1 validation error for Task",
    ("payload-type-unknown", ""): "RuntimeError: Unhandled message of type Task",
    ("connection-refused", ""): "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 6379)",
    ("connection-refused", "no-endpoint"): "ConnectionRefusedError: [Errno 111] Connection refused",
    ("dns", ""): "socket.gaierror: [Errno -2] Name or service not known",
    ("permission-denied", ""): "PermissionError: [Errno 13] Permission denied: '/run/agent.sock'",
    ("permission-denied", "no-path"): "PermissionError: [Errno 1] Operation not permitted",
    ("timeout", ""): "TimeoutError: timed out",
    ("address-in-use", ""): "OSError: [Errno 98] Address already in use",
    ("file-not-found", ""): "FileNotFoundError: [Errno 2] No such file or directory: 'agents.yaml'",
    ("missing-env", ""): "KeyError: 'OPENAI_API_KEY'",
    ("missing-credentials", ""): "openai.OpenAIError: The api_key client option must be set",
    ("auth", ""): "openai.AuthenticationError: Error code: 401",
    ("rate-limited", ""): "openai.RateLimitError: Error code: 429",
    ("out-of-memory", ""): "MemoryError",
    ("syntax-error", ""): "SyntaxError: invalid syntax",
    ("unknown-key", ""): "KeyError: 'req-42'",
    ("unclassified", ""): "ZeroDivisionError: division by zero",
    ("unclassified", "no-message"): "ZeroDivisionError",
    ("unclassified", "no-exception-line"): "the worker stopped",
    ("unclassified", "empty"): "",
}


def _values_in(template: str, text: str) -> list[str] | None:
    """What `text` holds at each {placeholder} of `template`, or None when `text` is not that template filled."""
    pattern = "".join(re.escape(literal) + ("(.+)" if field is not None else "")
                      for literal, field, _, _ in Formatter().parse(template))
    m = re.fullmatch(pattern, text)
    return list(m.groups()) if m else None


def test_every_text_of_the_table_has_a_sample() -> None:
    assert set(SAMPLES) == set(TEXTS)


@pytest.mark.parametrize("key", list(SAMPLES), ids=lambda k: "/".join(filter(None, k)))
def test_each_text_is_reached_and_filled(key: TextKey) -> None:
    c = classify_text(SAMPLES[key])
    assert c.kind == key[0]
    text = TEXTS[key]
    for template, said in ((text.cause, c.cause), (text.fix, c.fix)):
        values = _values_in(template, said)
        assert values is not None, f"{key}: {said!r} is not {template!r}"
        assert all(v not in ("?", "'?'") for v in values), f"{key}: a placeholder had no value: {said!r}"


@pytest.mark.parametrize("error", [
    "SyntaxError: unexpected {x} near [bold]here[/bold]",
    "ZeroDivisionError: {x} [bold]",
    "FileNotFoundError: [Errno 2] No such file or directory: '{x}[bold].yaml'",
    "LookupError: Agent {x}[bold] not found",
])
def test_values_from_the_error_are_shown_verbatim(error: str) -> None:
    c = classify_text(error)
    assert "{x}" in c.cause and "[bold]" in c.cause
    assert "?" not in c.cause


def test_cause_and_fix_assign_through_to_the_explanation() -> None:
    c = classify_exception("ModuleNotFoundError", "No module named 'autogen_ext.runtimes.grpc'")
    c.cause = "its package is installed, the extra is not"
    assert c.explanation == Explanation("its package is installed, the extra is not", c.fix)
    assert c.to_dict()["cause"] == "its package is installed, the extra is not"
    own = Classification("unclassified", "the interpreter exited during the import", "run the import by hand")
    assert own.to_dict() == {"kind": "unclassified", "cause": "the interpreter exited during the import",
                             "fix": "run the import by hand"}
