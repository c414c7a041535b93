"""The payload check a load run makes before connecting: a body AutoGen could never turn into the message class
(not JSON, or JSON that is not an object) is named; an object — as text, bytes or a config value — passes."""

import pytest

from agentops.load.stream import payload_problem


@pytest.mark.parametrize("body", ['{"text": "x"}', b'{"text": "x"}', {"text": "x"}, "{}", " {} \n"])
def test_a_json_object_passes(body):
    assert payload_problem("Ping", body) is None


@pytest.mark.parametrize("body,expect", [
    ("nope", "the Ping payload is not valid JSON (Expecting value"),
    ("", "not valid JSON"),
    (b"\xff{}", "not valid JSON"),
    ("[1]", "is a JSON array, not an object"),
    ([1], "is a JSON array, not an object"),
    ('"x"', "is a JSON string, not an object"),
    ("3.5", "is a JSON number, not an object"),
    ("true", "is a JSON boolean, not an object"),
    ("null", "is null, not an object"),
    (None, "is null, not an object"),
])
def test_a_body_the_agent_could_never_handle_is_named(body, expect):
    problem = payload_problem("Ping", body)
    assert problem is not None and expect in problem and "\n" not in problem
