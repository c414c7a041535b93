"""Read-only access to a Kubernetes API server, found the way kubectl finds it.

Which cluster: `--kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and `--context` (else the file's
current context); with no kubeconfig at all and $KUBERNETES_SERVICE_HOST set (inside a pod), the pod's
service account (token, CA and namespace under /var/run/secrets/kubernetes.io/serviceaccount). Exec auth
plugins (`users[].user.exec`: aws eks get-token, gke-gcloud-auth-plugin, kubelogin) are run by the
`kubernetes` client when the config is loaded. Which namespace: `--namespace`, else the context's, else the
service account's, else `default`; `-A` lists across all namespaces.

The client is imported here and only here, when a command talks to a cluster (tests/unit/test_lazy_imports.py:
a health run without a Kubernetes target never imports it). Every request has a deadline (`_request_timeout`
plus an asyncio one around it) and runs in a thread (`asyncio.to_thread`), since the client blocks.
Objects come back as the JSON the API server sent, the very form `kubectl get -o json` prints, so an audit of
the API and one of a dump (`--from-bundle`) read the same thing.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agentops.core.errors import network_reason
from agentops.core.model import Reason
from agentops.core.redact import redact, register_secret
from agentops.k8s.resources import Resource

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "default"
# The metadata-only form of a list (what `kubectl get secrets` could ask for too): names, labels, no values.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
# Bounds on what one log request returns, so a runaway log cannot fill the memory.
LOG_LIMIT_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


class KubeError(Exception):
    """A request that failed: its Reason (auth for 401/403, connect, tls, timeout, protocol) and the API
    server's own message (a `Status` object's), or the client's."""

    def __init__(self, reason: Reason, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status

    @property
    def forbidden(self) -> bool:
        """403: these credentials may not do this (others may still be allowed). A 401 is not: the server
        does not accept the credentials at all."""
        return self.status == 403


@dataclass(frozen=True)
class KubeAccess:
    """Where to connect and how, as the flags (or a `kind: kubernetes` source in agentops.yaml) said."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    timeout: float = 10.0
    service_account_dir: Path = SERVICE_ACCOUNT_DIR


@dataclass(frozen=True)
class Connection:
    server: str
    context: str | None
    namespace: str  # the default namespace (flag, context, service account or "default")
    how: str  # "kubeconfig <path>" or "in-cluster service account"


def _kubeconfig_paths(access: KubeAccess) -> list[str]:
    if access.kubeconfig:
        return [access.kubeconfig]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [str(Path.home() / ".kube" / "config")]


class KubeClient:
    """One connection to one API server. `list`, `get` and `log` are coroutines: each request runs in a
    thread under the access's deadline."""

    def __init__(self, api: Any, connection: Connection, timeout: float) -> None:
        self._api, self.connection, self.timeout = api, connection, timeout

    @classmethod
    async def connect(cls, access: KubeAccess) -> KubeClient:
        """Load the configuration (an exec plugin runs now) within the deadline; KubeError when it fails."""
        return cls(*await _within(access.timeout, lambda: _load(access)), access.timeout)

    async def list(self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None) -> list[dict[str, Any]]:
        """The objects of one resource (in one namespace, or all with namespace None), as the server sent
        them. A metadata-only resource (Secrets) yields metadata only."""
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        accept = METADATA_ACCEPT if resource.metadata_only else "application/json"
        doc = json.loads(await self._get(resource.path(namespace), query, accept))
        items = doc.get("items") or []
        for item in items:  # a List's items carry no kind; the snapshot and the rules need it
            item.setdefault("kind", resource.kind)
            if resource.metadata_only:
                item.pop("data", None)
                item.pop("stringData", None)
                item["kind"] = resource.kind
        return items

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(await self._get(resource.path(namespace, name), {}, "application/json"))
        return doc

    async def log(self, namespace: str, pod: str, *, container: str | None = None, previous: bool = False,
                  since_seconds: int | None = None, since_time: float | None = None) -> str:
        """A container's log (the previous instance's with `previous`), at most LOG_LIMIT_BYTES; from
        `since_seconds` ago, or from `since_time` (epoch s, sent as RFC 3339 whole seconds, as the API takes it,
        rounded down so no line of that second is left out)."""
        from agentops.k8s.resources import RESOURCES

        query: dict[str, str] = {"limitBytes": str(LOG_LIMIT_BYTES)}
        if container:
            query["container"] = container
        if previous:
            query["previous"] = "true"
        if since_seconds is not None:
            query["sinceSeconds"] = str(max(1, int(since_seconds)))
        elif since_time is not None:
            query["sinceTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(since_time)))
        data = await self._get(RESOURCES["Pod"].path(namespace, pod, "log"), query, "text/plain")
        return data.decode("utf-8", errors="replace")

    async def _get(self, path: str, query: Mapping[str, str], accept: str) -> bytes:
        return await self._request("GET", path, query=query, accept=accept)

    async def _request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                      accept: str = "application/json", body: Mapping[str, Any] | None = None,
                      content_type: str | None = None) -> bytes:
        """One request in a thread under the access's deadline, its failure a KubeError (the closed
        vocabulary). The package's one way to the wire, private to it: the reads above and the writes of
        k8s/write.py (heal's, the only ones) share the connection set-up, the deadline and the error mapping;
        outside k8s/ a write is made through write.py, so the verbs used stay in one place."""
        return await _within(self.timeout, lambda: self._request_blocking(method, path, query or {}, accept,
                                                                          body, content_type))

    def _request_blocking(self, method: str, path: str, query: Mapping[str, str], accept: str,
                          body: Mapping[str, Any] | None, content_type: str | None) -> bytes:
        headers_in = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
        m, url, headers, data, post = self._api.param_serialize(
            method=method, resource_path=path, query_params=list(query.items()), header_params=headers_in,
            body=dict(body) if body is not None else None, auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(m, url, header_params=headers, body=data, post_params=post,
                                          _request_timeout=self.timeout)
            response.read()
        except Exception as exc:
            raise _client_error(exc) from None
        if response.status >= 400:
            raise _status_error(response.status, response.data)
        out: bytes = response.data
        return out

    def close(self) -> None:
        try:
            self._api.close()
        except Exception:  # closing a pool that never connected; nothing to report
            return


async def _within(timeout: float, call: Callable[[], T]) -> T:
    try:
        return await asyncio.wait_for(asyncio.to_thread(call), timeout + 0.5)
    except TimeoutError:
        raise KubeError(Reason.TIMEOUT, f"the API server did not answer within {timeout:.3g}s") from None


def _load(access: KubeAccess) -> tuple[Any, Connection]:
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise KubeError(Reason.UNSUPPORTED, "the kubernetes client is not installed (pip install "
                        "'agentops-cli[k8s]')") from None
    paths = [p for p in _kubeconfig_paths(access) if Path(p).is_file()]
    in_cluster = not paths and not access.kubeconfig and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    configuration = client.Configuration()
    try:
        if in_cluster:
            sa = access.service_account_dir
            config.incluster_config.InClusterConfigLoader(
                token_filename=str(sa / "token"), cert_filename=str(sa / "ca.crt")).load_and_set(configuration)
            ns_file = sa / "namespace"
            namespace = access.namespace or (ns_file.read_text().strip() if ns_file.is_file() else "") \
                or DEFAULT_NAMESPACE
            connection = Connection(configuration.host, None, namespace, "in-cluster service account")
        else:
            if not paths:
                where = access.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
                raise KubeError(Reason.UNSUPPORTED, f"no kubeconfig at {where} and not inside a pod "
                                "(KUBERNETES_SERVICE_HOST unset)")
            contexts, active = config.list_kube_config_contexts(config_file=paths[0])
            chosen = next((c for c in contexts if c["name"] == access.context), None) if access.context else active
            if chosen is None:
                names = ", ".join(c["name"] for c in contexts) or "none"
                raise KubeError(Reason.UNSUPPORTED, f"no context {access.context!r} in {paths[0]} (contexts: "
                                f"{names})")
            config.load_kube_config(config_file=paths[0], context=chosen["name"], client_configuration=configuration)
            namespace = access.namespace or chosen.get("context", {}).get("namespace") or DEFAULT_NAMESPACE
            connection = Connection(configuration.host, chosen["name"], namespace, f"kubeconfig {paths[0]}")
    except ConfigException as exc:
        raise KubeError(Reason.AUTH if "token" in str(exc).lower() or "exec" in str(exc).lower()
                        else Reason.UNSUPPORTED, redact(f"kubernetes config: {exc}")) from None
    except OSError as exc:
        raise KubeError(Reason.UNSUPPORTED, redact(f"kubernetes config: {exc}")) from None
    for value in (configuration.api_key or {}).values():
        register_secret(str(value).removeprefix("Bearer ").strip())
    # Retries would multiply the deadline; the caller decides whether to try again.
    configuration.retries = 0
    return client.ApiClient(configuration), connection


def _status_error(code: int, body: bytes) -> KubeError:
    try:
        doc = json.loads(body)
        message = str(doc.get("message") or doc.get("reason") or "")
    except (ValueError, AttributeError):
        message = body[:300].decode("utf-8", errors="replace")
    reason = Reason.AUTH if code in (401, 403) else Reason.PROTOCOL
    return KubeError(reason, redact(f"HTTP {code}: {message or 'no message'}"), code)


def _client_error(exc: BaseException) -> KubeError:
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "timeout" in lowered or "timed out" in lowered:
        reason = Reason.TIMEOUT
    elif "ssl" in lowered or "certificate" in lowered:
        reason = Reason.TLS
    else:
        reason = network_reason(exc) or Reason.CONNECT
    return KubeError(reason, redact(text.splitlines()[0][:300]))


async def gather_lists(*calls: Awaitable[T]) -> list[T]:
    """Several API calls at once; the first failure is raised only after every call has ended (each is bounded
    by its own deadline), so no call is left with an exception nobody retrieves."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failure is not None:
        raise failure
    return [o for o in outcomes if not isinstance(o, BaseException)]
