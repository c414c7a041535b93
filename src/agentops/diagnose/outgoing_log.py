"""A caller's calls still without an answer, read from its worker's own log. AutoGen's GrpcWorkerAgentRuntime
logs every message it sends and receives at INFO, as the protobuf's text ("Send message to host: request {…
source { type: "relay" … } target { type: "leaf" … }", "Received a message from host: response { request_id: …").
A request from the caller's type to another type, with no response of its request_id after it, is a call still
waiting: the lead a frozen callee leaves (its host logs nothing), without agentops.instrument in the caller.
A worker logging at WARNING (most do) writes none of these lines: no lead, and nothing is claimed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops.logs.records import Record

SENT = "Send message to host: request {"
ANSWERED = "Received a message from host: response {"
_REQUEST_ID = re.compile(r'^\s*request_id: "([^"\n]*)"', re.M)


def _type_of(block: str, text: str) -> str:
    found = re.search(rf'^\s*{block} \{{\s*\n\s*type: "([^"\n]*)"', text, re.M)
    return found.group(1) if found else ""


def waiting_calls(records: Iterable[Record], caller: str) -> dict[str, list[str]]:
    """{called type: one line per request from `caller` to it that has no response in `records`}."""
    sent: dict[str, tuple[str, str]] = {}  # request id -> (called type, the line said of it)
    answered: set[str] = set()
    for record in records:
        text = record.message
        if not text.startswith((SENT, ANSWERED)):
            continue
        rid = _REQUEST_ID.search(text)
        if rid is None:
            continue
        if text.startswith(ANSWERED):
            answered.add(rid.group(1))
        elif _type_of("source", text) == caller and _type_of("target", text) not in ("", caller):
            called = _type_of("target", text)
            sent[rid.group(1)] = (called, f"request {rid.group(1)[:40]} from {caller} to {called} sent, "
                                          f"no response logged")
    out: dict[str, list[str]] = {}
    for rid, (called, line) in sent.items():
        if rid not in answered:
            out.setdefault(called, []).append(line)
    return out
