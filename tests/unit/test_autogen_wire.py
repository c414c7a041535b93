"""agentops' AgentRpc wire format: the committed descriptor set is what protoc makes of the .proto files, it
matches AutoGen's own generated stubs field for field, and both can live in one process."""

import subprocess
import sys

import pytest

from agentops.autogen import protogen
from agentops.autogen.client import (
    DEFAULT_PROBE_KEY,
    MAX_MESSAGE_BYTES,
    build_request,
    fits_limit,
    message_size,
    parse_inventory,
)
from agentops.autogen.wire import METHODS, SERVICE, wire


def test_committed_descriptors_match_a_fresh_protoc_run():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the descriptors")
    fresh = protogen.generate()
    committed = protogen.OUTPUT.read_text(encoding="utf-8")
    assert fresh == committed, "run: python -m agentops.autogen.protogen (and commit _descriptors.py)"


def _fields(descriptor):
    return {f.name: (f.number, f.type, f.label, f.message_type.full_name if f.message_type else None,
                     f.containing_oneof.name if f.containing_oneof else None) for f in descriptor.fields}


def test_same_wire_format_as_autogens_stubs():
    pb2 = pytest.importorskip("autogen_ext.runtimes.grpc.protos.agent_worker_pb2")
    theirs_pool = pb2.DESCRIPTOR.pool
    ours = wire().pool
    checked = 0
    for name in [f for f in wire().__dataclass_fields__ if f not in ("pool", "CloudEvent")]:
        mine = ours.FindMessageTypeByName(f"agents.{name}")
        assert _fields(mine) == _fields(theirs_pool.FindMessageTypeByName(f"agents.{name}")), name
        checked += 1
    for name in ("io.cloudevents.v1.CloudEvent", "io.cloudevents.v1.CloudEvent.CloudEventAttributeValue"):
        assert _fields(ours.FindMessageTypeByName(name)) == _fields(theirs_pool.FindMessageTypeByName(name)), name
    mine_svc, their_svc = ours.FindServiceByName(SERVICE), theirs_pool.FindServiceByName(SERVICE)
    assert [(m.name, m.input_type.full_name, m.output_type.full_name) for m in mine_svc.methods] == \
        [(m.name, m.input_type.full_name, m.output_type.full_name) for m in their_svc.methods]
    assert checked == 17 and [m.name for m in mine_svc.methods] == list(METHODS)


@pytest.mark.parametrize("order", ["ours-first", "autogen-first"])
def test_coexists_with_autogens_stubs_in_one_process(order):
    pytest.importorskip("autogen_ext")
    ours = "from agentops.autogen.wire import wire; w = wire(); w.Message(); "
    theirs = "from autogen_ext.runtimes.grpc.protos import agent_worker_pb2; agent_worker_pb2.Message(); "
    code = (ours + theirs) if order == "ours-first" else (theirs + ours)
    r = subprocess.run([sys.executable, "-c", code + "print('ok')"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_request_carries_unique_id_probe_key_and_traceparent():
    a = build_request("echo", DEFAULT_PROBE_KEY, "Ping", {"text": "hi"}, traceparent="00-" + "a" * 32 + "-" + "b" * 16
                      + "-01")
    b = build_request("echo", DEFAULT_PROBE_KEY, "Ping", {"text": "hi"})
    assert a.request.request_id != b.request.request_id and len(a.request.request_id) == 32
    assert a.request.target.key == "agentops-probe" and a.request.payload.data == b'{"text": "hi"}'
    assert a.request.payload.data_content_type == "application/json"
    assert a.request.metadata["traceparent"].startswith("00-aaaa")
    assert not a.request.HasField("source")
    with_source = build_request("echo", "k", "Ping", b"{}", source=("planner", "p1"))
    assert with_source.request.source.type == "planner"


def test_size_limit_boundary():
    """The limit is on the whole serialized Message (nested length prefixes included), not the payload."""
    base = message_size("echo", "Ping", "")
    n = MAX_MESSAGE_BYTES - base - 16
    while fits_limit(message_size("echo", "Ping", "x" * (n + 1))):
        n += 1
    assert MAX_MESSAGE_BYTES - 16 < message_size("echo", "Ping", "x" * n) <= MAX_MESSAGE_BYTES
    assert message_size("echo", "Ping", "x" * (n + 1)) > MAX_MESSAGE_BYTES


def test_inventory_parsing_tells_types_from_topics():
    w = wire()
    subs = [
        w.Subscription(id="1", typePrefixSubscription=w.TypePrefixSubscription(topic_type_prefix="echo:",
                                                                              agent_type="echo")),
        w.Subscription(id="2", typeSubscription=w.TypeSubscription(topic_type="news", agent_type="echo")),
        w.Subscription(id="3", typePrefixSubscription=w.TypePrefixSubscription(topic_type_prefix="jobs.",
                                                                              agent_type="worker")),
        w.Subscription(id="4", typeSubscription=w.TypeSubscription(topic_type="default", agent_type="planner")),
    ]
    inv = parse_inventory("h:1", w.GetSubscriptionsResponse(subscriptions=subs), 1.0, 2.0)
    assert inv.agent_types == ["echo"]  # only "<type>:" direct-message prefixes name registered types
    assert inv.topics == ["default", "jobs.*", "news"]
    assert [(s.kind, s.topic) for s in inv.subscriptions if s.agent_type == "echo"] == [("prefix", "echo:"),
                                                                                       ("type", "news")]
