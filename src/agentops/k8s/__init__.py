"""Kubernetes: read-only access like kubectl (`access`), one snapshot of the namespaces (`snapshot`, also read
from `kubectl get -o json` dumps), the audit's measurements (`audit`), AutoGen roles of workloads (`roles`) and
the discovery of targets (`discovery`). The `kubernetes` client is imported only inside `access`, when a
command talks to a cluster."""
