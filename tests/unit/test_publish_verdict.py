"""diagnose publish's matching (as autogen-core 0.7.5's is_match) and its verdict rules, from judged results
(the verdict is read from results only, so stated evidence is enough: no cluster needed here)."""

from agentops.autogen.topics import is_match, matching, topic_table
from agentops.core.model import Observation
from agentops.core.packs import command_specs
from agentops.core.runner import judge
from agentops.diagnose.engine import Deadline, Evidence
from agentops.diagnose.publish import PublishQuery, publish_findings

SUBS = [{"id": "1", "kind": "type", "topic": "orders", "agent_type": "billing"},
        {"id": "2", "kind": "prefix", "topic": "orders.", "agent_type": "audit"},
        {"id": "3", "kind": "prefix", "topic": "billing:", "agent_type": "billing"}]


def test_type_is_equality_and_prefix_is_startswith() -> None:
    assert is_match(SUBS[0], "orders") and not is_match(SUBS[0], "orders.x")
    assert is_match(SUBS[1], "orders.x") and not is_match(SUBS[1], "orders")
    assert [s["id"] for s in matching(SUBS, "billing:k")] == ["3"]  # the direct-message prefix matches too
    assert topic_table(SUBS) == [{"topic": "orders", "kind": "type", "agent_types": ["billing"]},
                                 {"topic": "orders.", "kind": "prefix", "agent_types": ["audit"]}]


def _evidence(receiver: Observation) -> Evidence:
    specs = command_specs("diagnose")
    ev = Evidence(Deadline(5))
    match = {**SUBS[0], "direct": False, "recipient": "billing/default"}
    ev.record(judge(specs["publish.subscribers"], "orders", Observation(
        metrics={"subscribers": 1.0, "receiving_types": 1.0},
        facts={"matches": [match], "receivers": ["billing"], "total_subscriptions": 3}, message="1 match"), 0.0))
    ev.record(judge(specs["publish.receiver"], "billing", receiver, 0.0))
    return ev


def test_a_listed_receiver_whose_worker_is_gone_is_named() -> None:
    obs = Observation(metrics={"owned": 1.0, "alive": 0.0}, facts={"owned": True, "worker": "w1"}, message="gone")
    (verdict,) = publish_findings(_evidence(obs), PublishQuery("orders"))
    assert verdict.id == "publish-receiver-dead" and verdict.status.label == "CRITICAL"
    assert "w1" in verdict.title and "billing" in verdict.title


def test_a_stopped_receiver_is_named_with_its_state() -> None:
    obs = Observation(metrics={"owned": 1.0, "alive": 1.0, "stopped": 1.0},
                      facts={"owned": True, "worker": "w1", "pid": 42, "state": "T"}, message="stopped")
    (verdict,) = publish_findings(_evidence(obs), PublishQuery("orders"))
    assert verdict.id == "publish-receiver-dead" and "stopped" in verdict.title and "kill -CONT 42" in verdict.fix


def test_a_subscription_without_an_owner_is_unregistered() -> None:
    obs = Observation(metrics={"owned": 0.0}, facts={"owned": False}, message="not registered")
    (verdict,) = publish_findings(_evidence(obs), PublishQuery("orders"))
    assert verdict.id == "publish-receiver-unregistered"


def test_an_owned_running_receiver_is_delivered() -> None:
    obs = Observation(metrics={"owned": 1.0, "alive": 1.0, "stopped": 0.0}, facts={"owned": True, "worker": "w1"},
                      message="ok")
    (verdict,) = publish_findings(_evidence(obs), PublishQuery("orders"))
    assert verdict.id == "publish-delivered" and verdict.status.label == "OK"
