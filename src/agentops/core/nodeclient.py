"""The client of `agentops serve --node` (serve/node.py): what a worker's own machine sees of it, asked by an
agentops that runs elsewhere. Every request has a deadline (the smaller of the node's `timeout` and the
caller's share), its answer is bounded, the bearer token comes from the config's `token_file` (registered
with the redactor, never in any output), and a failure is a `NodeError` with a closed-vocabulary Reason and one
redacted line: "node 10.0.0.6:9318 refused the token (403: …)".

In core (layer 0) because the diagnosis (layer 4) and anything below it may ask a node; httpx is imported
when the first request is made."""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from agentops.core.model import Observation, Reason
from agentops.core.osproc import Located, ProcessView

if TYPE_CHECKING:
    from agentops.core.cluster import NodeSpec

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a node's answers are capped by the node too; this caps a wrong peer
_VIEW_FIELDS = {f.name for f in fields(ProcessView)}


class NodeError(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class NodeClient:
    """Requests to one node, for one command; `close()` when done."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._client: Any = None
        self._token: str | None = None

    def _setup(self) -> Any:
        import httpx

        from agentops.core.files import FileProblem, read_file
        from agentops.core.redact import register_secret
        from agentops.core.target import TLSOptions
        from agentops.core.tls import TlsSetupError, client_context

        if self._client is not None:
            return self._client
        s = self.spec
        try:
            text = read_file(s.token_file, limit=4096).decode("utf-8", errors="replace").strip()
        except FileProblem as exc:
            raise NodeError(Reason.AUTH, f"node {s.label}: cannot read the bearer token in {s.token_file} "
                                        f"({exc})") from None
        if not text:
            raise NodeError(Reason.AUTH, f"node {s.label}: the bearer token in {s.token_file} is empty")
        self._token = text.splitlines()[0].strip()
        register_secret(self._token)
        verify: Any = True
        if s.url.startswith("https://"):
            try:
                verify = client_context(TLSOptions(enabled=True, ca=s.ca, cert=s.cert, key=s.key, verify=s.verify))
            except TlsSetupError as exc:
                raise NodeError(Reason.TLS, f"node {s.label}: {exc}") from None
        self._client = httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, route: str, params: list[tuple[str, str]], timeout: float,
                  work_s: float = 0.0) -> dict[str, Any]:
        """GET /node/<route> as JSON, within `timeout` (and the node's own timeout), plus `work_s`: the time
        the node is asked to spend before it answers (a profile's window)."""
        client = self._setup()
        budget = max(0.05, min(timeout, self.spec.timeout_s)) + work_s
        try:
            return await asyncio.wait_for(self._get(client, route, params, budget), budget)
        except NodeError:
            raise
        except TimeoutError:
            raise NodeError(Reason.TIMEOUT, f"node {self.spec.label} did not answer /node/{route} within "
                                            f"{budget:.1f}s") from None
        except Exception as exc:  # httpx's transport errors: the cause says which layer failed
            from agentops.core.errors import error_text, network_reason

            reason = network_reason(exc) or Reason.CONNECT
            raise NodeError(reason, f"node {self.spec.label}: /node/{route}: {error_text(exc)}") from None

    async def _get(self, client: Any, route: str, params: list[tuple[str, str]], budget: float) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        async with client.stream("GET", f"{self.spec.url}/node/{route}", params=params, headers=headers,
                                 timeout=budget) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise NodeError(Reason.PROTOCOL, f"node {self.spec.label}: /node/{route}: answer larger than "
                                                     f"{MAX_ANSWER_BYTES} bytes")
            status = response.status_code
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        said = doc.get("error", "") if isinstance(doc, dict) else ""
        if status in (401, 403):
            what = "asked for a bearer token" if status == 401 else "refused the token"
            raise NodeError(Reason.AUTH, f"node {self.spec.label} {what} ({status}: {str(said)[:200]})")
        if status != 200 or not isinstance(doc, dict):
            raise NodeError(Reason.PROTOCOL, f"node {self.spec.label}: /node/{route} answered {status}"
                                             + (f": {str(said)[:200]}" if said else ""))
        return doc

    # --------------------------------------------------------------------------------- the questions

    async def processes(self, host_port: int | None, host_ips: set[str], timeout: float) -> Located:
        """The worker's processes as the node sees them (core.osproc's view, rebuilt)."""
        params = [(self.spec.subject, self.spec.worker)]
        if host_port is not None:
            params.append(("host_port", str(host_port)))
        params += [("host_ip", ip) for ip in sorted(host_ips)[:16]]
        doc = await self.get("processes", params, timeout)
        if doc.get("configured") is False:  # no view is no proof the worker is dead: the node cannot look
            raise NodeError(Reason.UNSUPPORTED, f"node {self.spec.label} has no options.process for "
                                                f"{self.spec.subject} {self.spec.worker}: it cannot find its processes")
        found = Located(how=f"{doc.get('located_by', '?')} on node {self.spec.label}")
        for raw in doc.get("views", []):
            if isinstance(raw, dict):
                try:
                    found.views.append(ProcessView(**{k: v for k, v in raw.items() if k in _VIEW_FIELDS}))
                except TypeError as exc:
                    raise NodeError(Reason.PROTOCOL, f"node {self.spec.label}: a process view it sent is not one "
                                                     f"({exc})") from None
        return found

    async def log_files(self, timeout: float) -> dict[str, int]:
        """{path on the node: size} of the worker's log files."""
        doc = await self.get("logs", [(self.spec.subject, self.spec.worker)], timeout)
        return {str(f["path"]): int(f["size"]) for f in doc.get("files", []) if isinstance(f, dict)}

    async def log_records(self, path: str, timeout: float, *, start: int | None = None, end: int | None = None,
                          since: float | None = None) -> dict[str, Any]:
        """The node's answer for one range of one log file: `records` (dicts of logs.records.Record),
        `problem`, `size`, `truncated_records`."""
        params = [(self.spec.subject, self.spec.worker), ("path", path)]
        if start is not None:
            params.append(("start", str(start)))
        else:
            params.append(("end", str(end or 0)))
            if since is not None:
                params.append(("since", repr(since)))
        return await self.get("logs", params, timeout)

    async def profile(self, seconds: float, timeout: float, *, interval: float | None = None,
                      stacks: bool = False) -> dict[str, Any]:
        """A sample of the worker's process over `seconds` (the node may cut it to its most: `duration_s`)."""
        params = [("worker", self.spec.worker), ("seconds", repr(seconds))]
        params += ([("interval", repr(interval))] if interval else []) + ([("stacks", "1")] if stacks else [])
        return await self.get("profile", params, timeout, work_s=seconds)

    async def machine(self, seconds: float, timeout: float) -> dict[str, Observation]:
        """The node's machine measured there (/node/machine): {"memory": …, "starvation": …} as Observations
        (starvation only when the node found the worker's processes)."""
        doc = await self.get("machine", [("worker", self.spec.worker), ("seconds", repr(seconds))], timeout)
        out: dict[str, Observation] = {}
        for key in ("memory", "starvation"):
            raw = doc.get(key)
            if isinstance(raw, dict):
                out[key] = _observation(raw, self.spec.label)
        return out


def _observation(raw: dict[str, Any], label: str) -> Observation:
    """An Observation a node sent (metrics numbers, a reason of the closed vocabulary); anything else is a
    protocol error, not a measurement."""
    try:
        metrics = {str(k): float(v) for k, v in (raw.get("metrics") or {}).items()}
        reason = Reason(raw["reason"]) if raw.get("reason") else None
    except (TypeError, ValueError, AttributeError) as exc:
        raise NodeError(Reason.PROTOCOL, f"node {label}: a measurement it sent is not one ({exc})") from None
    facts = raw.get("facts")
    return Observation(metrics=metrics, facts=dict(facts) if isinstance(facts, dict) else {}, reason=reason,
                       message=str(raw.get("message", ""))[:500])
