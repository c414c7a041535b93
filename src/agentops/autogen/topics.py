"""How the AgentRpc host matches a published event to its subscribers, read from autogen-core 0.7.5.

A publish carries a topic id (type, source). The host's servicer (`_process_event`) asks its subscription
manager for the recipients: every subscription whose `is_match(topic_id)` holds maps the event to the agent id
(subscription's agent type, key = the topic's source). `TypeSubscription.is_match` is `topic.type ==
topic_type` (`DefaultSubscription` is a TypeSubscription, topic type "default" unless given);
`TypePrefixSubscription.is_match` is `topic.type.startswith(topic_type_prefix)`. The event then goes once to
each client owning a recipient type; a recipient type no client owns is logged ("Agent X and its client not
found for topic …") and skipped; no recipient at all is silent.

The subscriptions are the inventory's dicts (`Inventory.to_dict()["subscriptions"]`: id, kind "type" |
"prefix", topic, agent_type).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Subscription = Mapping[str, Any]


def is_direct(sub: Subscription) -> bool:
    """The "<type>:" prefix `RoutedAgent.register` adds for direct messages, not a topic a user chose."""
    return sub["kind"] == "prefix" and sub["topic"] == f"{sub['agent_type']}:"


def is_match(sub: Subscription, topic_type: str) -> bool:
    """autogen-core's `is_match` for the two subscription kinds the host holds (the source plays no part)."""
    if sub["kind"] == "prefix":
        return topic_type.startswith(str(sub["topic"]))
    return topic_type == sub["topic"]


def matching(subscriptions: Iterable[Subscription], topic_type: str) -> list[Subscription]:
    return [s for s in subscriptions if is_match(s, topic_type)]


def topic_table(subscriptions: Iterable[Subscription]) -> list[dict[str, Any]]:
    """Topics and the agent types behind each: one row per (kind, topic), direct-message prefixes left out."""
    rows: dict[tuple[str, str], set[str]] = {}
    for s in subscriptions:
        if not is_direct(s):
            rows.setdefault((str(s["kind"]), str(s["topic"])), set()).add(str(s["agent_type"]))
    return [{"topic": topic, "kind": kind, "agent_types": sorted(types)}
            for (kind, topic), types in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
