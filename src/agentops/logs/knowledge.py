"""What to do about a pattern: a recommended action for the common ways an AutoGen deployment fails.

The general error knowledge (timeouts, refused connections, missing modules, serialization, oversized
messages, agents not found, permissions, credentials …) lives in one place, `agentops.logs.classify`,
which `agentops diagnose` uses too; this module adds what only logs show — AutoGen's host and worker log lines
that are not exceptions, and the wording of auth and permission failures in gRPC, Redis and PostgreSQL logs —
and the test that puts a record into the security section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentops.core.knowledge import Explanation


@dataclass(frozen=True)
class Action:
    kind: str  # a stable id: agent-not-found, timeout, connection-refused, …
    explanation: Explanation

    @property
    def cause(self) -> str:
        return self.explanation.cause

    @property
    def fix(self) -> str:
        return self.explanation.fix

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, **self.explanation.to_dict()}


def _action(kind: str, cause: str, fix: str) -> Action:
    return Action(kind, Explanation(cause, fix))


# Log lines of AutoGen's runtime and of the services around it, checked before the general classifier.
_LOG_RULES: list[tuple[re.Pattern[str], Action]] = [
    (re.compile(r"\bClient \S+ not found, failed to (?:deliver|send)"), _action(
        "worker-disconnected",
        "the worker that should receive this message or reply had disconnected from the host while it was in "
        "flight (the host forgets a client the moment its stream closes)",
        "look in that worker's log for its crash or restart at that time; callers waiting for those replies "
        "never get one and must retry")),
    (re.compile(r"\bError in read loop|Error in background task"), _action(
        "worker-stream-lost",
        "the worker's stream to the AgentRpc host broke (host restarted or stopped, or the network dropped it)",
        "check the host; after a host restart, restart the workers: they stay alive but never register again")),
    (re.compile(r"\bStatusCode\.UNAVAILABLE\b|\bstatus = StatusCode\.UNAVAILABLE"), _action(
        "peer-unavailable",
        "a gRPC peer went away: the AgentRpc host (or the worker on the other end) stopped, restarted or is "
        "unreachable",
        "check the host and worker processes and their restarts at that time (`agentops lab status` or "
        "`agentops health -c …`); a worker whose host restarted must itself be restarted to register again")),
    (re.compile(r"\bCancelledError\b"), _action(
        "task-cancelled",
        "a task was cancelled: a process stopping (expected during a restart or `lab down`), or a caller that "
        "gave up waiting",
        "if it coincides with a stop or restart, nothing to do; otherwise look at what timed out or stopped just "
        "before it in the same component")),
    (re.compile(r"\bWRONGPASS|\bNOAUTH\b|\bUNAUTHENTICATED\b|invalid username-password|"
                r"password authentication failed|authentication failed", re.IGNORECASE), _action(
        "auth",
        "credentials were rejected (a wrong or rotated password/token, or the wrong user)",
        "check the password or token the service is configured with (environment, secret store), whether it "
        "was rotated, and the server side (pg_hba.conf, Redis ACL users)")),
    (re.compile(r"\bPERMISSION_DENIED\b|\bNOPERM\b|\bForbidden\b|\bEACCES\b|access denied", re.IGNORECASE), _action(
        "permission-denied",
        "the caller is authenticated but not allowed to do this (a missing grant, ACL rule or file mode)",
        "grant the user exactly the permission named (GRANT …, Redis ACL, chmod/chown), rather than widening "
        "access")),
]

# Checked only when neither the rules above nor the general classifier know the error: a handler that
# raised ConnectionRefusedError is better explained as a refused connection than as "a handler raised".
_FALLBACK_RULES: list[tuple[re.Pattern[str], Action]] = [
    (re.compile(r"\bhandler (?:failed|raised)\b"), _action(
        "handler-raised",
        "the agent's own message handler raised; the caller got the error text back as its reply",
        "read the record's traceback (its last line names the error) and fix the handler, or validate the "
        "input it could not handle before sending it")),
]

# Records that belong in the security section: credentials rejected, access refused.
_SECURITY = re.compile(
    r"(?P<auth>authentication failed|password authentication|invalid password|invalid username-password|"
    r"WRONGPASS|\bNOAUTH\b|UNAUTHENTICATED|unauthori[sz]ed|\b401\b|invalid (?:api[ _]?)?(?:key|token)|"
    r"AuthenticationError|login failed|bad credentials|token (?:has )?expired)"
    r"|(?P<perm>permission denied|PermissionError|PERMISSION_DENIED|\bNOPERM\b|\bEACCES\b|access denied|"
    r"\bforbidden\b|\b403\b|operation not permitted|not authorized)",
    re.IGNORECASE,
)


def may_be_security(low: bytes | str) -> bool:
    """A cheap test on lower-cased text before the costly regex: every _SECURITY match contains one of these.
    Spelled out rather than looped, since it runs for every warning the scan counts."""
    if isinstance(low, str):
        low = low.encode("utf-8", "replace")
    return (b"auth" in low or b"passw" in low or b"denied" in low or b"forbidden" in low or b"401" in low
            or b"403" in low or b"eacces" in low or b"noperm" in low or b"token" in low or b"login" in low
            or b"credential" in low or b"permi" in low)


def security_kind(text: str) -> str | None:
    """"auth_failure", "permission_denied" or None."""
    if not may_be_security(text.lower()):
        return None
    m = _SECURITY.search(text)
    if m is None:
        return None
    return "auth_failure" if m.group("auth") else "permission_denied"


def recommend(error_type: str, message: str, exception: str = "") -> Action | None:
    """The recommended action for an error, or None when nothing is known about it."""
    text = "\n".join(filter(None, [error_type, message, exception]))
    for rx, action in _LOG_RULES:
        if rx.search(text):
            return action
    from agentops.logs.classify import classify_text

    # The classifier reads a traceback, or "Type: message" lines, or plain words.
    subject = exception or (f"{error_type}: {message}" if error_type and not message.startswith(error_type)
                            else message)
    found = classify_text(subject)
    if found.known:
        return _action(found.kind, found.cause, found.fix)
    return next((action for rx, action in _FALLBACK_RULES if rx.search(text)), None)


def widen(action: Action, sample_agent: str, agents: list[str]) -> Action:
    """An action worded for the sample record's agent type, reworded for every agent type of the pattern
    ("start the worker that registers 'a'" → "… 'a', 'b', 'c'")."""
    if not sample_agent or len(agents) < 2:
        return action
    one, many = repr(sample_agent), ", ".join(repr(a) for a in agents[:5]) + (" …" if len(agents) > 5 else "")
    return _action(action.kind, action.cause.replace(one, many), action.fix.replace(one, many))
