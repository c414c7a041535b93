"""One read-only snapshot of the namespaces an audit looks at: every object of the SNAPSHOT_KINDS, listed once
each (per namespace, or across all), in `kubectl get -o json` form. Read from the API (`take`) or from dumps
of `kubectl get -o json` / YAML manifests in a directory (`read_bundle`), so the same rules run on both.

A kind the credentials may not list is recorded in `denied` with the server's words, not raised: the rules
that need it say they cannot tell (the Ingress TLS rule without Secrets), the others still run. Secret values
never enter a snapshot: the API is asked for metadata only, and a dump's `data`/`stringData` are dropped as
it is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.files import FileProblem, read_text
from agentops.core.model import Observation
from agentops.core.yamlsrc import ConfigError
from agentops.k8s.access import KubeAccess, KubeClient, KubeError, gather_lists
from agentops.k8s.resources import RESOURCES, SNAPSHOT_KINDS

MAX_BUNDLE_FILE_BYTES = 512 * 1024 * 1024
SECRET_VALUE_FIELDS = ("data", "stringData")

KubeObject = dict[str, Any]


@dataclass
class HostRegistrations:
    """What one AgentRpc host said of its registrations, measured by the registered `agentrpc.inventory` and
    `agentrpc.ownership` steps: the owner client id of each agent type asked about (None: not owned), or the
    failed measurement that says why the host could not tell."""

    address: str
    owners: dict[str, str | None] = field(default_factory=dict)
    failure: Observation | None = None


@dataclass
class Snapshot:
    objects: dict[str, list[KubeObject]] = field(default_factory=dict)  # kind -> objects
    denied: dict[str, str] = field(default_factory=dict)  # kind -> why it could not be listed (403, or 404)
    # Kinds the snapshot has a complete list of (even an empty one): from the API every kind not denied; from
    # a bundle the kinds it holds. A rule needing a kind not listed says it cannot tell.
    listed: set[str] = field(default_factory=set)
    taken_at: float = field(default_factory=time.time)
    source: str = ""
    namespaces: list[str] | None = None  # None: all namespaces
    # Measured beside the objects when asked (`k8s audit --scrape`): each scraped pod's /metrics, by subject;
    # what each namespace's AgentRpc host(s) said of their registrations, by namespace (absent: not asked);
    # the certificate each Ingress TLS host serves, by `namespace/ingress/name/host`.
    scrapes: dict[str, Observation] = field(default_factory=dict)
    hosts: dict[str, list[HostRegistrations]] = field(default_factory=dict)
    certificates: dict[str, Observation] = field(default_factory=dict)

    def of(self, kind: str, namespace: str | None = None) -> list[KubeObject]:
        items = self.objects.get(kind, [])
        return items if namespace is None else [o for o in items if namespace_of(o) == namespace]

    def add(self, obj: KubeObject) -> None:
        kind = str(obj.get("kind") or "")
        if kind == "Secret":
            obj = {k: v for k, v in obj.items() if k not in SECRET_VALUE_FIELDS}
        self.objects.setdefault(kind, []).append(obj)

    def missing(self, kind: str) -> str | None:
        """Why the snapshot cannot tell about `kind` (denied, or not in the bundle), or None."""
        if kind in self.denied:
            return f"cannot tell: {self.denied[kind]}"
        if kind not in self.listed:
            return f"cannot tell: the {self.source} holds no {kind} list (add `kubectl get {kind.lower()} -o json`)"
        return None

    def only(self, namespaces: list[str]) -> None:
        """Keep the objects of these namespaces (a bundle of several, audited with -n)."""
        self.objects = {kind: [o for o in items if namespace_of(o) in namespaces]
                        for kind, items in self.objects.items()}
        self.namespaces = list(namespaces)

    def denials(self) -> list[dict[str, str]]:
        """`denied` as a list of {kind, message}: as a mapping, the key "Secret" would read as a secret's
        name to the redactor, which masks its value."""
        return [{"kind": kind, "message": message} for kind, message in sorted(self.denied.items())]

    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in sorted(self.objects.items())}


def namespace_of(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def name_of(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("name") or "?")


def subject(obj: KubeObject) -> str:
    """How a result names the object it is about: `namespace/kind/name`, as kubectl spells kinds."""
    return f"{namespace_of(obj)}/{str(obj.get('kind') or '?').lower()}/{name_of(obj)}"


async def take(client: KubeClient, namespaces: list[str] | None, *,
               kinds: Iterable[str] = SNAPSHOT_KINDS) -> Snapshot:
    """List every kind in every namespace (None: across all) concurrently; KubeError other than a refusal
    (the server unreachable, a timeout) ends the snapshot, as nothing it holds could be trusted."""
    snap = Snapshot(source=f"API server {client.connection.server}", namespaces=namespaces)
    scopes: list[str | None] = list(namespaces) if namespaces is not None else [None]
    jobs = [(kind, ns) for kind in kinds for ns in scopes]

    async def one(kind: str, ns: str | None) -> list[KubeObject]:
        try:
            return await client.list(RESOURCES[kind], ns)
        except KubeError as exc:
            # 403: not these credentials; 404 on a list: a group/version this server does not serve (no
            # autoscaling/v2 before 1.23). Either way the rules needing the kind cannot tell; the others run.
            if not exc.forbidden and exc.status != 404:
                raise
            snap.denied[kind] = exc.message if exc.forbidden else f"not served by this API server ({exc.message})"
            return []

    lists = await gather_lists(*(one(kind, ns) for kind, ns in jobs))  # the first failure ends the snapshot
    snap.taken_at = time.time()
    snap.listed = set(kinds) - set(snap.denied)
    for items in lists:
        for obj in items:
            snap.add(obj)
    return snap


def read_bundle(directory: Path) -> Snapshot:
    """Every *.json (kubectl get -o json) and *.yaml/*.yml (manifests, `kubectl get -o yaml`) under
    `directory`; ConfigError naming the file when one cannot be read or parsed."""
    if not directory.is_dir():
        raise ConfigError(f"--from-bundle: {directory} is not a directory")
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and p.is_file())
    if not files:
        raise ConfigError(f"--from-bundle: no .json or .yaml file in {directory}")
    snap = Snapshot(source=f"bundle {directory}", taken_at=max(p.stat().st_mtime for p in files))
    namespaces: set[str] = set()
    for path in files:
        for obj in _objects_in(path, snap.listed):
            snap.add(obj)
            snap.listed.add(str(obj.get("kind")))
            if RESOURCES.get(str(obj.get("kind")), RESOURCES["Pod"]).namespaced:
                namespaces.add(namespace_of(obj))
    snap.namespaces = sorted(namespaces)
    return snap


def _objects_in(path: Path, listed: set[str]) -> list[KubeObject]:
    try:
        text = read_text(path, limit=MAX_BUNDLE_FILE_BYTES)
    except FileProblem as exc:
        raise ConfigError(f"--from-bundle: cannot read {path}: {exc}") from None
    try:
        if path.suffix == ".json":
            docs = [json.loads(text)]
        else:
            import yaml

            docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"--from-bundle: {path} is not a kubectl dump: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # yaml.YAMLError and its kin
        raise ConfigError(f"--from-bundle: {path} is not a kubectl dump: {str(exc).splitlines()[0]}") from None
    out: list[KubeObject] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise ConfigError(f"--from-bundle: {path}: expected a Kubernetes object or List, got "
                              f"{type(doc).__name__}")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            list_kind = str(doc["kind"])[: -len("List")]
            if list_kind:  # a typed list (PodList), even empty, is a complete list of its kind
                listed.add(list_kind)
            for item in doc["items"]:
                if isinstance(item, dict):
                    item.setdefault("kind", list_kind)
                    out.append(item)
        else:
            out.append(doc)
    return out


async def read_api(access: KubeAccess, namespaces: list[str] | None = None) -> Snapshot:
    """Connect as `access` says and take the snapshot: of `namespaces`, else all with `-A`, else the
    connection's default namespace. KubeError when it cannot be taken."""
    client = await KubeClient.connect(access)
    try:
        scope = None if access.all_namespaces else (namespaces or [client.connection.namespace])
        return await take(client, scope)
    finally:
        client.close()
