"""A worker target's `pod:` (the Kubernetes pod it runs in, docs/kubernetes.md "Diagnosis from the API"):
parsed into a PodRef, and a wrong one is a config error naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentops.core.cluster import PodRef, cluster_spec
from agentops.core.config import load_config
from agentops.core.yamlsrc import ConfigError


def _config(tmp_path: Path, pod: str) -> Path:
    path = tmp_path / "agentops.yaml"
    path.write_text("version: 1\ntargets:\n  - name: w1\n    kind: worker\n    options:\n      agent_types: [echo]\n"
                    f"      pod: {pod}\n")
    return path


def test_a_pod_by_name_or_selector(tmp_path: Path) -> None:
    cfg = load_config(str(_config(tmp_path, "{namespace: agents, name: w1-0, container: worker, timeout: 3}")))
    assert cluster_spec(cfg).workers[0].pod == PodRef(name="w1-0", namespace="agents", container="worker",
                                                      timeout=3.0)
    cfg = load_config(str(_config(tmp_path, "{selector: 'app=w1'}")))
    ref = cluster_spec(cfg).workers[0].pod
    assert ref is not None and ref.selector == "app=w1" and ref.name is None
    assert ref.describe() == "the pod {app=w1}"


@pytest.mark.parametrize(("pod", "says"), [
    ("{namespace: agents}", "give the pod's name or a label selector"),
    ("{name: a, selector: 'app=a'}", "give the pod's name or a label selector"),
    ("{name: a, nmespace: agents}", "nmespace"),
    ("{name: a, timeout: 0}", "positive"),
])
def test_a_wrong_pod_is_a_config_error(tmp_path: Path, pod: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(str(_config(tmp_path, pod)))
    text = str(err.value)
    assert says in text and "agentops.yaml" in text and "pod" in text, text
