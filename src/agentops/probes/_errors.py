"""Helpers the network probes share: starting a latency timer fairly, and the failure of a check's set-up.
Exceptions become reasons and messages in core.errors.
"""

from __future__ import annotations

from agentops.core.errors import error_text
from agentops.core.model import Observation, Reason
from agentops.probes._pacing import PACING_SHARE, paced_start


async def yield_to_other_checks(timeout: float) -> None:
    """Call after a probe's set-up and right before it starts a latency timer; `timeout` is the attempt's.

    Yields at least once, so every check started beside this one finishes its synchronous set-up before any
    timer runs, and then waits until the event loop can serve one more timed request (probes._pacing): a
    latency is the target's time, not the time agentops' own loop took to get round to it. The wait is
    bounded by a share of the attempt's timeout, so a fast failure (refused, wrong password) is still
    observed as itself within its attempt, never turned into a timeout by the queue.
    """
    await paced_start(max_wait=timeout * PACING_SHARE)


def setup_failure(exc: Exception) -> Observation:
    """A check that could not be set up from its target's config at run time (an unset `*_env` variable, an
    unreadable secret or TLS file, an option the client library cannot honour): not an outage and not a bug
    in agentops, so `tls` for the TLS files and `unsupported` (UNKNOWN) for the rest, never `internal`."""
    from agentops.core.tls import TlsSetupError

    reason = Reason.TLS if isinstance(exc, TlsSetupError) else Reason.UNSUPPORTED
    return Observation.failure(reason, error_text(exc))
