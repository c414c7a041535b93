"""The config loader: every error names file, line and field; arbitrary input never escapes as a traceback."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.core.config import parse_config
from agentops.core.packs import load_specs, parse_checks
from agentops.core.yamlsrc import ConfigError, load_yaml_text
from tests.fixtures.common import assert_no_traceback, run_cli


def load(text: str):
    return parse_config(load_yaml_text(text, "agentops.yaml"), "agentops.yaml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    return str(info.value)


def test_valid_config():
    cfg = load("""
version: 1
cluster: prod
targets:
  - name: cache
    kind: redis
    address: 127.0.0.1:6379
    password_env: REDIS_PASSWORD
  - name: host
    kind: agentrpc
    address: 10.0.0.5:50051
""")
    assert set(cfg.targets) == {"local", "cache", "host"}
    assert cfg.targets["cache"].secret_sources["password"] == ("env", "REDIS_PASSWORD")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets:\n  - name: a\n    kind: redsi\n    address: x:1\n", "agentops.yaml:3: targets[0].kind: unknown kind 'redsi'"),
        ("targets:\n  - name: a\n    kind: redis\n    adress: x:1\n", "agentops.yaml:2: targets[0]: target 'a' of kind redis needs an address"),
        ("targets:\n  - name: a\n    kind: tcp\n    address: x:1\n    colour: red\n", "agentops.yaml:5: targets[0].colour: unknown field"),
        ("targets:\n  - name: a\n    kind: tcp\n    address: host:abc\n", "agentops.yaml:4: targets[0].address: port 'abc' is not a number"),
        ("targets: 5\n", "agentops.yaml:1: targets: expected a list, got a number"),
        ("version: 2\n", "agentops.yaml:1: version: unsupported config version 2"),
        ("targets:\n  - name: a\n    kind: tcp\n    address: h:1\n  - name: a\n    kind: tcp\n    address: h:2\n",
         "agentops.yaml:5: targets[1].name: duplicate target name 'a'"),
        ("a: [1\n", "agentops.yaml:2: invalid YAML"),
        ("x: 1\nx: 2\n", "agentops.yaml:2: duplicate key 'x'"),
        ("", "agentops.yaml: file is empty"),
        ("targets:\n  - name: a\n    kind: redis\n    address: h:1\n    password_env: A\n    password_file: /x\n",
         "give password one way only"),
    ],
)
def test_errors_name_file_line_and_field(text, expected):
    assert expected in error_of(text)


def test_check_errors_name_line_and_field():
    doc = load_yaml_text("""checks:
  - id: a
    probe: host.cpu
    critical: {cpu_percent: "> banana"}
""", "pack.yaml")
    with pytest.raises(ConfigError, match=r"pack.yaml:4: checks\[0\].critical.cpu_percent: bad threshold"):
        parse_checks(doc["checks"], "pack.yaml")
    doc = load_yaml_text("checks:\n  - id: a\n    probe: nope\n", "pack.yaml")
    with pytest.raises(ConfigError, match=r"pack.yaml:3: checks\[0\].probe: unknown kind 'nope'"):
        parse_checks(doc["checks"], "pack.yaml")
    doc = load_yaml_text("checks:\n  - id: a\n    probe: host.cpu\n    params: {intervl: 1}\n", "pack.yaml")
    with pytest.raises(ConfigError, match=r"checks\[0\].params: unknown param 'intervl'"):
        parse_checks(doc["checks"], "pack.yaml")


def test_shipped_packs_load(tmp_path):
    cfg = load("packs: [host]\n")
    assert {s.id for s in load_specs(cfg)} >= {"host.cpu", "host.memory", "host.disk"}


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(alphabet=string.printable, max_size=12))
yaml_values = st.recursive(yaml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.sampled_from(["name", "kind", "address", "targets", "checks", "packs", "tls", "options",
                                     "version", "defaults", "timeout", "password", "x"]), children, max_size=5)),
    max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_fuzzed_structures_give_config_errors_only(value):
    import yaml

    text = yaml.safe_dump(value)
    try:
        load(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_fuzzed_text_gives_config_errors_only(text):
    try:
        load(text)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()


def test_cli_bad_config_is_exit_3_one_line(tmp_path):
    bad = tmp_path / "agentops.yaml"
    bad.write_text("targets:\n  - name: a\n    kind: redsi\n    address: x:1\n")
    for args in (["health", "-c", str(bad)], ["config", "validate", "-c", str(bad)], ["checks", "list", "-c", str(bad)]):
        r = run_cli(*args)
        assert r.code == 3, r
        assert_no_traceback(r)
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{bad}:3: targets[0].kind: unknown kind" in lines[0]


def test_cli_missing_config_file(tmp_path):
    r = run_cli("health", "-c", str(tmp_path / "nope.yaml"))
    assert r.code == 3 and "nope.yaml: file not found" in r.stderr
    assert_no_traceback(r)


def test_cli_fuzzed_config_files_exit_3(tmp_path):
    """A handful of hostile files through the real CLI (the in-process fuzz above covers the space)."""
    samples = ["\x00\x01", "{{{{", "- - - -", "targets: [{name: a, kind: tcp, address: '[::1'}]", "a: !!python/object:os.system x",
               "&a [*a]", "targets:\n" + "  - name: x\n    kind: tcp\n    address: h:99999\n"]
    for i, text in enumerate(samples):
        f = tmp_path / f"c{i}.yaml"
        f.write_bytes(text.encode("utf-8", "surrogatepass"))
        r = run_cli("config", "validate", "-c", str(f))
        assert r.code == 3, (text, r)
        assert_no_traceback(r)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
