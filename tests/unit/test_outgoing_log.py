"""diagnose/outgoing_log.py: a caller's requests without a response, from AutoGen's worker runtime INFO lines
(the protobuf text exactly as GrpcWorkerAgentRuntime logs it)."""

from __future__ import annotations

from agentops.diagnose.outgoing_log import waiting_calls
from agentops.logs.records import Record


def _sent(rid: str, source: str, target: str) -> Record:
    return Record(ts=None, level="INFO", message=(
        f'Send message to host: request {{\n  request_id: "{rid}"\n  source {{\n    type: "{source}"\n'
        f'    key: "k"\n  }}\n  target {{\n    type: "{target}"\n    key: "k"\n  }}\n  payload {{\n'
        f'    data_type: "Ping"\n    data: "{{"text": "target {{ type: \\"x\\" }}"}}"\n  }}\n}}'))


def _answered(rid: str) -> Record:
    return Record(ts=None, level="INFO", message=(
        f'Received a message from host: response {{\n  request_id: "{rid}"\n  payload {{\n'
        f'    data_type: "Pong"\n  }}\n}}'))


def test_an_unanswered_request_is_a_waiting_call() -> None:
    records = [_sent("1", "relay", "leaf"), _answered("1"), _sent("2", "relay", "leaf"), _sent("3", "relay", "mid"),
               _answered("3")]
    assert waiting_calls(records, "relay") == {"leaf": ["request 2 from relay to leaf sent, no response logged"]}


def test_other_callers_and_other_lines_are_not_leads() -> None:
    records = [_sent("1", "other", "leaf"), _sent("2", "relay", "relay"),
               Record(ts=None, level="INFO", message="Send message to host: response {\n  request_id: \"9\"\n}"),
               Record(ts=None, level="WARNING", message="Send message to host: request { garbled")]
    assert waiting_calls(records, "relay") == {}
