"""The config loader: every error names file, line and field; arbitrary input never escapes as a traceback."""

import contextlib
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


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_in_target_labels_is_refused_with_its_line(tmp_path):
    """Under 1 KB, 10^9 strings once expanded (it took 63 s and 2.15 GB in a target's labels)."""
    anchors = "anchors:\n" + "".join(f"  {line}\n" for line in billion_laughs().splitlines())
    f = tmp_path / "agentops.yaml"
    f.write_text(anchors + "targets:\n  - name: t\n    kind: tcp\n    address: h:1\n    labels: {team: *a9}\n")
    assert f.stat().st_size < 1024
    r = run_cli("config", "validate", "-c", str(f), timeout=60)
    assert r.code == 3, r
    assert_no_traceback(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{f}:" in lines[0] and "aliases expand to more than" in lines[0], r.stderr


def test_alias_bomb_in_a_check_pack_is_refused(tmp_path):
    """In a pack it never ended: the pack cache's json.dumps expanded the aliases."""
    pack = tmp_path / "bomb.yaml"
    pack.write_text(billion_laughs() + "checks:\n  - id: x\n    probe: host.load\n    tags: *a9\n")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"packs: [{pack}]\n")
    r = run_cli("config", "validate", "-c", str(cfg), timeout=60,
                env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.code == 3, r
    assert_no_traceback(r)
    assert f"{pack}:" in r.stderr and "aliases expand to more than" in r.stderr


def test_ordinary_aliases_still_work():
    cfg = load("targets:\n  - &base {name: a, kind: tcp, address: 'h:1', labels: &l {team: x}}\n"
               "  - {name: b, kind: tcp, address: 'h:2', labels: *l}\n")
    assert cfg.targets["b"].labels == {"team": "x"}


T = "targets:\n  - name: a\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults:\n  timeout: .nan\n", "agentops.yaml:2: defaults.timeout: must be a finite number, got nan"),
        ("defaults:\n  retry_delay: .inf\n", "agentops.yaml:2: defaults.retry_delay: must be a finite number"),
        (T + "    kind: redis\n    address: h:99999\n", "agentops.yaml:4: targets[0].address: port 99999 out of range"),
        (T + "    kind: redis\n    address: 'redis://h:0'\n", "agentops.yaml:4: targets[0].address: port"),
        (T + "    kind: redis\n    address: 'memcache://h:1'\n",
         "agentops.yaml:4: targets[0].address: unsupported URL scheme 'memcache'"),
        (T + "    kind: http\n    address: 'http://h:99999/'\n", "agentops.yaml:4: targets[0].address: invalid URL: Port out"),
        (T + "    kind: metrics\n    address: 'http://[::1/metrics'\n", "agentops.yaml:4: targets[0].address: invalid URL"),
        (T + "    kind: http\n    address: 'http:///path'\n", "agentops.yaml:4: targets[0].address: the URL has no host"),
        (T + "    kind: postgres\n    address: 'postgresql://u@h:70000/db'\n", "agentops.yaml:4: targets[0].address: invalid URL: Port"),
        (T + "    kind: postgres\n    address: 'host=h port'\n", "agentops.yaml:4: targets[0].address: invalid DSN"),
        (T + "    kind: postgres\n    address: 'mysql://h/db'\n", "agentops.yaml:4: targets[0].address: unsupported URL scheme"),
        (T + "    kind: grpc\n    address: 'h:0'\n", "agentops.yaml:4: targets[0].address: port 0 out of range"),
        (T + "    kind: redis\n    address: h:1\n    options: {db: abc}\n",
         "agentops.yaml:5: targets[0].options.db: expected a database number (0 or more), got 'abc'"),
        (T + "    kind: redis\n    address: h:1\n    options: {db: -5}\n", "targets[0].options.db: expected a database number"),
        (T + "    kind: postgres\n    address: h:1\n    options: {sslmode: sometimes}\n",
         "targets[0].options.sslmode: 'sometimes' is not one of disable, allow"),
        (T + "    kind: tcp\n    address: !!float abc\n", "agentops.yaml:4: invalid float value"),
        (T + "    kind: tcp\n    address: !!binary 'aGk='\n", "agentops.yaml:4: targets[0].address: expected a string"),
        (T + "    kind: tcp\n    address: !!timestamp 'x'\n", "agentops.yaml:4: invalid timestamp value"),
        (T + "    kind: tcp\n    address: !!int 1.5\n", "agentops.yaml:4: invalid int value"),
        ("packs: [../../../../etc/passwd]\n",
         "agentops.yaml:1: packs[0]: '../../../../etc/passwd' is neither a pack name nor a .yaml/.yml path"),
    ],
)
def test_values_that_fail_at_run_time_are_refused_at_load(text, expected):
    assert expected in error_of(text)


def test_valid_addresses_still_load():
    cfg = load(T + "    kind: redis\n    address: 'rediss://:pw@h:6380/2'\n"
               "  - {name: b, kind: redis, address: /run/redis.sock, options: {db: 3}}\n"
               "  - {name: c, kind: postgres, address: 'postgresql://u@[::1]:5433/db?sslmode=require'}\n"
               "  - {name: d, kind: postgres, address: \"host=h port=5432 dbname='a b'\"}\n"
               "  - {name: e, kind: http, address: 'https://[::1]:8443/x?y=[/a]'}\n"
               "  - {name: f, kind: postgres, address: 'h:5432', options: {sslmode: verify-full}}\n"
               "packs: [host, ./more/x.yaml]\n")
    assert set(cfg.targets) == {"local", "a", "b", "c", "d", "e", "f"}


def test_playbook_sizes_and_durations_must_be_finite(tmp_path):
    from agentops.core.units import parse_duration, parse_size

    for bad in (float("inf"), float("nan"), "1e999G"):
        with pytest.raises(ValueError, match=r"finite|bad size"):
            parse_size(bad)
    with pytest.raises(ValueError, match="finite"):
        parse_duration(float("nan"))
    pb = tmp_path / "pb.yaml"
    pb.write_text("playbook: pb\nsteps:\n  - id: p\n    step: files.prune\n"
                  "    params: {roots: [/nonexistent], max_total_size: .inf}\n")
    r = run_cli("maintain", "show", str(pb))
    assert r.code == 3, r
    assert_no_traceback(r)
    assert "internal" not in r.stderr and "finite" in r.stderr, r.stderr


# --- hostile YAML: tags, anchors and aliases, special numbers, bad addresses -----------------------------

HOSTILE_SCALARS = [
    ".nan", ".inf", "-.inf", "1e999", "-1e308", "!!float abc", "!!int 1.5", "!!binary '@@'", "!!binary aGk=",
    "!!timestamp x", "!!timestamp 2024-01-01", "!!set {a}", "!!omap [a]", "!!pairs 3", "!!str 5", "!!null x",
    "!!python/object:os.system x", "!!bool maybe", "~", "''", "0x1F", "0o17", "-5", "abc", "yes",
    "'h:99999'", "'h:0'", "'http://[::1'", "'http:///x'", "'http://h:99999/'", "'redis://h:0'", "'memcache://h'",
    "'unix://'", "'host=h port'", "\"host=h port=99999\"", "'postgresql://u@h:70000/d'", "'../../../../etc/passwd'",
    "'[/a]'", "'x' ", "127.0.0.1:6379", "'http://127.0.0.1:1/'", "redis", "postgres", "http", "tcp", "metrics",
    "grpc", "agentrpc", "host.load", "'> 5'", "'x' * 3",
]
KEYS = ["version", "cluster", "targets", "packs", "pack_dirs", "checks", "defaults", "state_dir", "name", "kind",
        "address", "labels", "options", "db", "sslmode", "tls", "ca", "enabled", "timeout", "retries",
        "retry_delay", "concurrency", "password_env", "dsn_env", "token_file", "id", "probe", "params", "warning",
        "critical", "tags", "on_timeout", "x"]


@st.composite
def hostile_yaml(draw, depth: int = 0) -> str:
    """Flow-style YAML built from hostile pieces, with anchors on some values and aliases to earlier ones."""
    anchors = draw(st.shared(st.just([]), key="anchors"))
    choice = draw(st.integers(0, 5 if depth < 3 else 1))
    if choice == 0:
        text = draw(st.sampled_from(HOSTILE_SCALARS))
    elif choice == 1:
        text = f"*{draw(st.sampled_from(anchors))}" if anchors else "~"
    elif choice <= 3:
        items = draw(st.lists(st.tuples(st.sampled_from(KEYS), hostile_yaml(depth + 1)), max_size=4,
                              unique_by=lambda kv: kv[0]))
        text = "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    else:
        text = "[" + ", ".join(draw(st.lists(hostile_yaml(depth + 1), max_size=4))) + "]"
    if not text.startswith(("!!", "*")) and draw(st.booleans()):
        name = f"a{len(anchors)}"
        anchors.append(name)
        text = f"&{name} {text}"
    return text


@st.composite
def alias_bomb(draw) -> tuple[str, str]:
    """(YAML defining nested anchors, an alias to the biggest): fanout ** levels strings once expanded."""
    levels, fanout = draw(st.integers(3, 9)), draw(st.integers(2, 10))
    lines = ['  - &b0 "lol"'] + [f"  - &b{i} [{', '.join([f'*b{i - 1}'] * fanout)}]" for i in range(1, levels + 1)]
    return "anchors:\n" + "\n".join(lines) + "\n", f"*b{levels}"


def config_outcome(text: str) -> None:
    """A valid config or one ConfigError line; any other exception fails the test."""
    try:
        cfg = load(text)
        load_specs(cfg)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()


def pack_outcome(text: str) -> None:
    import json

    from agentops.core.packs import _parse_pack

    try:
        doc = load_yaml_text(text, "pack.yaml")
        with contextlib.suppress(TypeError, ValueError):
            json.dumps(doc)  # as the pack cache does (it expanded every alias)
        _parse_pack(doc, "pack.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_yaml())
def test_hostile_yaml_configs_give_config_errors_only(body):
    config_outcome(body)
    config_outcome(f"targets: [{body}]")
    config_outcome(f"targets:\n  - {{name: t, kind: redis, address: 'h:1', options: {body}, labels: {body}}}")
    config_outcome(f"defaults: {body}\npacks: {body}")


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_yaml())
def test_hostile_yaml_packs_give_config_errors_only(body):
    pack_outcome(f"checks: [{body}]")
    pack_outcome(f"checks:\n  - {{id: a, probe: host.load, params: {body}, warning: {body}, tags: {body}}}")


@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(alias_bomb(), st.sampled_from(["labels: {team: REF}", "options: {db: REF}", "address: REF"]))
def test_alias_bombs_stay_small(bomb, field):
    """Every case ends in milliseconds and bounded memory: the expansion is refused before anything walks it
    (9 levels of 10 are 10^9 strings)."""
    anchors, ref = bomb
    config_outcome(anchors + "targets:\n  - {name: t, kind: redis, address: 'h:1', " + field.replace("address", "username")
                   .replace("REF", ref) + "}\n")
    pack_outcome(anchors + f"checks:\n  - {{id: a, probe: host.load, tags: {ref}, params: {{p: {ref}}}}}\n")
