"""Owners named as the configured worker, not the AgentRpc client UUID the host knows, on the real lab:
`cluster inventory --owners` and the diagnosis' registration step."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.fixtures.common import assert_no_traceback, run_cli


def inventory(config: Path, *args: str) -> dict:
    r = run_cli("cluster", "inventory", "-c", str(config), "--owners", "-o", "json", *args)
    assert r.code == 0, r.stderr
    return r.json()["data"]["hosts"][0]


def test_inventory_names_the_worker_of_each_owner(lab) -> None:
    host = inventory(lab.config)
    w1 = lab.client_id("w1")
    assert host["owners"]["echo"] == w1  # the host's own answer stays as it was
    named = host["owner_workers"]
    assert named["echo"] == {"worker": "w1", "client_id": w1, "how": named["echo"]["how"]}
    assert named["failing"]["worker"] == "w2" and "log" in named["echo"]["how"]
    table = run_cli("cluster", "inventory", "-c", str(lab.config), "--owners")
    assert table.code == 0 and "OWNER" in table.stdout
    echo_row = next(line for line in table.stdout.splitlines() if line.split("│")[1:2] == [" echo "]
                    or line.lstrip("│ ").startswith("echo "))
    assert "w1" in echo_row and w1 not in echo_row
    # --host alone knows no workers: the client id is all there is
    bare = run_cli("cluster", "inventory", "--host", lab.address, "--owners", "-o", "json")
    assert bare.json()["data"]["hosts"][0]["owner_workers"]["echo"]["worker"] is None


def test_without_a_log_naming_the_client_the_configured_types_name_the_worker(lab, tmp_path: Path) -> None:
    doc = yaml.safe_load(lab.config.read_text())
    for target in doc["targets"]:
        if target["kind"] == "worker":
            target["options"].pop("logs", None)
    config = tmp_path / "agentops.yaml"
    config.write_text(yaml.safe_dump(doc))
    named = inventory(config)["owner_workers"]
    assert named["echo"]["worker"] == named["slow"]["worker"] == "w1" and named["echo2"]["worker"] == "w2"
    assert "agent_types" in named["echo"]["how"]
    # a config that puts one client's types on two workers names neither: a guess would mislead
    for target in doc["targets"]:
        if target["kind"] == "worker":
            opts = target["options"]
            if target["name"] == "w1":
                opts["agent_types"] = [t for t in opts["agent_types"] if t != "slow"]
            elif target["name"] == "w2":
                opts["agent_types"] = [*opts["agent_types"], "slow"]
    config.write_text(yaml.safe_dump(doc))
    named = inventory(config)["owner_workers"]
    assert named["echo"]["worker"] is None and "w1" in named["echo"]["how"] and "w2" in named["echo"]["how"]


def test_diagnosis_says_which_worker_owns_the_type(lab) -> None:
    r = run_cli("diagnose", "agent", "echo", "-c", str(lab.config), "-o", "json", timeout=60)
    assert_no_traceback(r)
    reg = next(x for x in r.json()["results"] if x["id"] == "agent.registration")
    assert "owned by worker w1" in reg["message"] and reg["facts"]["owner_worker"] == "w1"
