"""Kubernetes label selectors, as the API server reads them: the string form (`a=b,c!=d,e in (x,y),f,!g`) of
the pack's and the config's role selectors, and the `matchLabels`/`matchExpressions` form of a
PodDisruptionBudget's or a Deployment's selector. Applied to objects of a snapshot (offline from a bundle
too), so the matching is here rather than left to the server."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SET_RE = re.compile(r"^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$")
_KEY_RE = re.compile(r"^[A-Za-z0-9./_-]+$")


def _requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in selector:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def check_selector(selector: str) -> None:
    """ValueError (one line) when `selector` is not a label selector."""
    for req in _requirements(selector):
        body = req[1:].strip() if req.startswith("!") else req
        m = _SET_RE.match(req)
        if m:
            continue
        key = re.split(r"!=|==|=", body, maxsplit=1)[0].strip()
        if not key or not _KEY_RE.match(key):
            raise ValueError(f"not a label selector requirement: {req!r}")


def matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy every requirement of the string selector (an empty selector matches all)."""
    for req in _requirements(selector):
        m = _SET_RE.match(req)
        if m:
            key, op = m.group(1), m.group(2)
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            if (op == "in") != (labels.get(key) in values):
                return False
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def matches_label_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector object (`matchLabels`, `matchExpressions`). An empty or absent one matches nothing,
    as for a PodDisruptionBudget (policy/v1: an empty selector selects no pods)."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))
