"""The HTTP probe against a real local HTTP(S) server (tests/fixtures/servers.py): statuses, timeouts,
refused and silent ports, body and JSON assertions, credentials, TLS verification and certificate expiry."""

from __future__ import annotations

import time

import pytest

from agentops.core.config import Target, TLSOptions
from agentops.core.model import Reason
from agentops.core.redact import redact
from agentops.probes.http import json_lookup, parse_json_path
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.servers import cert_not_after, run_probe, unique_name


def web(url: str, **kw: object) -> Target:
    return Target(name="web", kind="http", address=url, **kw)  # type: ignore[arg-type]


def http(url: str, params: dict | None = None, timeout: float = 3.0, **kw: object):
    return run_probe("http", web(url, **kw), params, timeout)


# ------------------------------------------------------------------------------------------------ statuses

def test_ok_reports_status_latency_and_body_size(http_server):
    path = f"/{unique_name('ok')}"
    http_server.route(path, body="all good\n", delay=0.05)
    obs = http(http_server.base_url, {"path": path, "headers": {"X-Probe": "yes"}})
    assert not obs.failed, obs.message
    assert obs.metrics["status_code"] == 200
    assert obs.metrics["body_bytes"] == len("all good\n")
    assert obs.metrics["latency_ms"] >= 50  # the route sleeps 50 ms before answering
    assert "tls_cert_days_left" not in obs.metrics
    seen = [r for r in http_server.requests if r.path == path]
    assert seen and seen[-1].method == "GET" and seen[-1].headers.get("X-Probe") == "yes"


FIRST_REQUEST = """
import asyncio, sys, time
from agentops.core.config import Target
from agentops.probes import http

calls, imports = [], []
sys.addaudithook(lambda event, args: imports.append((time.monotonic(), args[0])) if event == "import" else None)


class Clock:  # the probe's `time`, noting when its latency timer starts and stops
    def __getattr__(self, name):
        return getattr(time, name)

    def perf_counter(self):
        calls.append(time.monotonic())
        return time.perf_counter()


http.time = Clock()
url = sys.argv[1]
obs = asyncio.run(http.HttpProbe().measure(Target(name="w", kind="http", address=url), {}, 5.0))
assert not obs.failed, obs.message
start, stop = calls[0], calls[1]
print(sorted({name for at, name in imports if start <= at <= stop}))
"""


def test_no_import_runs_inside_the_latency_timer(http_server):
    """httpx imports part of itself (httpcore's pool, h11, anyio's backend) only on first use; the probe loads
    it before the timer starts, so a run's first request does not report the import as latency (45 ms here),
    nor does every other check in flight beside it on the one event loop. Checked in a fresh interpreter,
    where nothing is imported yet."""
    import subprocess
    import sys

    path = f"/{unique_name('first')}"
    http_server.route(path, body="ok\n")
    out = subprocess.run([sys.executable, "-c", FIRST_REQUEST, http_server.base_url + path], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_server_error_is_an_assertion_failure_with_the_status(http_server):
    url = http_server.route(f"/{unique_name('e')}", status=500, body="boom")
    obs = http(url)
    assert obs.reason is Reason.ASSERTION
    assert obs.message == "expected status 2xx, got 500 Internal Server Error"
    assert obs.metrics["status_code"] == 500  # measured even though it failed


def test_expected_status_list_and_class(http_server):
    url = http_server.route(f"/{unique_name('s')}", status=503)
    assert not http(url, {"expect_status": [200, 503]}).failed
    assert not http(url, {"expect_status": "5xx"}).failed
    assert http(url, {"expect_status": 200}).reason is Reason.ASSERTION


def test_unauthorized_is_reported_as_auth(http_server):
    url = http_server.route(f"/{unique_name('a')}", status=401)
    obs = http(url)
    assert obs.reason is Reason.AUTH
    assert "401" in obs.message


def test_method_and_body_are_sent(http_server):
    path = f"/{unique_name('p')}"
    url = http_server.route(path, status=201)
    obs = http(url, {"method": "post", "body": '{"ping": 1}'})
    assert not obs.failed
    seen = [r for r in http_server.requests if r.path == path][-1]
    assert seen.method == "POST" and seen.body == b'{"ping": 1}'


# ---------------------------------------------------------------------------------------- faults, for real

def test_slow_server_ends_at_the_timeout(http_server):
    url = http_server.route(f"/{unique_name('slow')}", delay=3.0)
    obs = http(url, timeout=0.3)
    assert obs.reason is Reason.TIMEOUT
    assert "no response" in obs.message and "0.3s" in obs.message


def test_refused_port_is_connect():
    obs = http(f"http://127.0.0.1:{free_port()}/")
    assert obs.reason is Reason.CONNECT
    assert "connection refused" in obs.message


def test_silent_listener_is_a_timeout(silent_listener):
    obs = http(f"http://127.0.0.1:{silent_listener.port}/", timeout=0.3)
    assert obs.reason is Reason.TIMEOUT
    assert silent_listener.accepted  # it did connect; the server never answered


def test_unresolvable_host_is_dns():
    obs = http("http://agentops-no-such-host.invalid/")
    assert obs.reason in (Reason.DNS, Reason.TIMEOUT)  # a resolver that never answers is a timeout
    if obs.reason is Reason.DNS:
        assert "cannot resolve host" in obs.message


def test_a_port_that_does_not_speak_http_is_protocol(not_http_server):
    obs = http(f"http://127.0.0.1:{not_http_server.port}/")
    assert obs.reason is Reason.PROTOCOL, obs.message


# ---------------------------------------------------------------------------------------- body assertions

def test_body_regex_pass_and_fail(http_server):
    url = http_server.route(f"/{unique_name('r')}", body='{"status": "ok", "version": "1.4.2"}')
    assert not http(url, {"body_regex": r'"status":\s*"ok"'}).failed
    obs = http(url, {"body_regex": r'"status":\s*"healthy"'})
    assert obs.reason is Reason.ASSERTION
    assert obs.message.startswith('body does not match /"status":\\s*"healthy"/')
    assert '"ok"' in obs.message  # shows what came


DOC = {"status": "ok", "checks": [{"name": "db", "ok": True}, {"name": "cache", "ok": False}],
       "queue": {"depth": 17}, "version": "1.4.2", "weird key": 1}


def test_json_assertions_pass_and_export_metrics(http_server):
    url = http_server.route(f"/{unique_name('j')}", json=DOC)
    obs = http(url, {"json": [
        {"path": "$.status", "equals": "ok"},
        {"path": "$.checks[0].name", "equals": "db"},
        {"path": "$.checks[-1].ok", "equals": False},
        {"path": "$['weird key']", "exists": True},
        {"path": "$.missing", "exists": False},
        {"path": "$.version", "matches": r"^1\.4\."},
        {"path": "$.queue.depth", "metric": "queue_depth"},
    ]})
    assert not obs.failed, obs.message
    assert obs.metrics["queue_depth"] == 17


def test_json_assertions_fail_saying_what_was_expected_and_what_came(http_server):
    url = http_server.route(f"/{unique_name('j')}", json=DOC)
    obs = http(url, {"json": [
        {"path": "$.status", "equals": "healthy"},
        {"path": "$.checks[5].name", "exists": True},
        {"path": "$.version", "matches": "^2"},
        {"path": "$.checks[1].ok", "equals": 0},  # false is not 0
        {"path": "$.status", "metric": "s"},
    ]})
    assert obs.reason is Reason.ASSERTION
    assert obs.message.split("; ") == [
        '$.status: expected "healthy", got "ok"',
        "$.checks[5].name: not found",
        '$.version: "1.4.2" does not match /^2/',
        "$.checks[1].ok: expected 0, got false",
        '$.status: expected a number for metric s, got "ok"',
    ]


def test_json_assertion_on_a_body_that_is_not_json(http_server):
    url = http_server.route(f"/{unique_name('j')}", body="<html>hi</html>")
    obs = http(url, {"json": [{"path": "$.status", "equals": "ok"}]})
    assert obs.reason is Reason.ASSERTION
    assert obs.message.startswith("body is not JSON")


def test_json_path_subset():
    assert parse_json_path("$") == []
    assert parse_json_path("$.a.b[0]['c d'][\"e\"][-2]") == ["a", "b", 0, "c d", "e", -2]
    for bad in ("a.b", "$.a..b", "$[x]", "$.a[0"):
        with pytest.raises(ValueError, match="JSON path"):
            parse_json_path(bad)
    assert json_lookup({"a": [1, 2]}, ["a", 1]) == 2
    assert json_lookup({"a": [1, 2]}, ["a", "1"]) is not json_lookup({"a": [1, 2]}, ["a", 1])


# ------------------------------------------------------------------------------------------- credentials

def test_header_from_environment_reaches_the_server_and_is_a_secret(http_server, monkeypatch):
    token = "s3cr3t-token-" + unique_name()
    monkeypatch.setenv("AGENTOPS_TEST_TOKEN", f"Bearer {token}")
    path = f"/{unique_name('h')}"
    url = http_server.route(path)
    assert not http(url, {"headers_env": {"Authorization": "AGENTOPS_TEST_TOKEN"}}).failed
    seen = [r for r in http_server.requests if r.path == path][-1]
    assert seen.headers["Authorization"] == f"Bearer {token}"
    assert token not in redact(f"the header was Bearer {token} and {token}")


def test_target_token_is_sent_as_bearer(http_server, monkeypatch):
    monkeypatch.setenv("AGENTOPS_TEST_TARGET_TOKEN", "tok-" + unique_name("x"))
    path = f"/{unique_name('h')}"
    url = http_server.route(path)
    target = web(url, secret_sources={"token": ("env", "AGENTOPS_TEST_TARGET_TOKEN")})
    assert not run_probe("http", target).failed
    seen = [r for r in http_server.requests if r.path == path][-1]
    assert seen.headers["Authorization"].startswith("Bearer tok-")


# ---------------------------------------------------------------------------------------------------- TLS

def test_certificate_days_left_matches_the_certificate(https_server, pki):
    url = https_server.route(f"/{unique_name('tls')}")
    obs = http(url, tls=TLSOptions(enabled=True, ca=str(pki.ca)))
    assert not obs.failed, obs.message
    expected = (cert_not_after(https_server.cert.cert) - time.time()) / 86400
    assert obs.metrics["tls_cert_days_left"] == pytest.approx(expected, abs=0.01)
    assert 29 < obs.metrics["tls_cert_days_left"] <= 30


def test_certificate_not_trusted_under_verify_is_tls(https_self_signed_server):
    url = https_self_signed_server.route(f"/{unique_name('tls')}")
    obs = http(url)  # verify against the system trust store, which does not know this certificate
    assert obs.reason is Reason.TLS
    assert "certificate verify failed: self-signed certificate" in obs.message


def test_expired_certificate_under_verify_is_tls(https_expired_server, pki):
    url = https_expired_server.route(f"/{unique_name('tls')}")
    obs = http(url, tls=TLSOptions(enabled=True, ca=str(pki.ca)))
    assert obs.reason is Reason.TLS
    assert "certificate has expired" in obs.message


def test_expired_certificate_without_verify_reports_negative_days(https_expired_server):
    url = https_expired_server.route(f"/{unique_name('tls')}")
    obs = http(url, tls=TLSOptions(enabled=True, verify=False))
    assert not obs.failed, obs.message
    expected = (cert_not_after(https_expired_server.cert.cert) - time.time()) / 86400
    assert obs.metrics["tls_cert_days_left"] == pytest.approx(expected, abs=0.01)
    assert obs.metrics["tls_cert_days_left"] < 0


def test_server_name_that_the_certificate_does_not_cover_is_tls(https_server, pki):
    url = https_server.route(f"/{unique_name('tls')}")
    obs = http(url, tls=TLSOptions(enabled=True, ca=str(pki.ca), server_name="wrong.example"))
    assert obs.reason is Reason.TLS
    assert "Hostname mismatch" in obs.message or "wrong.example" in obs.message


def test_https_to_a_plain_http_port_is_tls(http_server):
    obs = http(f"https://127.0.0.1:{http_server.port}/")
    assert obs.reason is Reason.TLS
    assert "TLS handshake failed" in obs.message


def test_missing_ca_file_is_a_clear_tls_error(https_server, tmp_path):
    obs = http(https_server.url("/"), tls=TLSOptions(enabled=True, ca=str(tmp_path / "nope.pem")))
    assert obs.reason is Reason.TLS
    assert obs.message == f"cannot load TLS CA file {tmp_path / 'nope.pem'}: file not found"


# ---------------------------------------------------------------------------------------- params checking

@pytest.mark.parametrize(("params", "error"), [
    ({"pth": "/x"}, "unknown param 'pth'"),
    ({"expect_status": "20x"}, "expect_status: '20x' is not a status code"),
    ({"expect_status": []}, "expect_status: empty list"),
    ({"body_regex": "("}, "body_regex: bad regular expression"),
    ({"json": {"path": "$.a"}}, "json: expected a list"),
    ({"json": [{"path": "status", "equals": 1}]}, "must start with $"),
    ({"json": [{"path": "$.a"}]}, "json[0]: say what to check"),
    ({"json": [{"path": "$.a", "exists": "yes"}]}, "json[0].exists: expected true or false"),
    ({"json": [{"path": "$.a", "equal": 1}]}, "json[0]: unknown key 'equal'"),
    ({"headers": ["a"]}, "headers: expected a mapping"),
    ({"method": "GET /"}, "method:"),
])
def test_bad_params_are_one_line_errors(params, error):
    from agentops.core import registry

    with pytest.raises(ValueError) as info:
        registry.probe("http").validate_params(params)
    assert error in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------ the http pack, end to end

def test_http_pack_through_the_cli(http_server, https_server, https_self_signed_server, pki, tmp_path):
    import yaml

    targets = [
        {"name": "api", "kind": "http", "address": http_server.route(f"/{unique_name('ok')}", body="ok")},
        {"name": "broken", "kind": "http", "address": http_server.route(f"/{unique_name('e')}", status=503)},
        {"name": "secure", "kind": "http", "address": https_server.route(f"/{unique_name('s')}"),
         "tls": {"ca": str(pki.ca)}},
        # 10 days left: inside the pack's 21-day warning, outside its 7-day critical line
        {"name": "expiring", "kind": "http", "address": https_self_signed_server.route(f"/{unique_name('x')}"),
         "tls": {"verify": False}},
        {"name": "untrusted", "kind": "http", "address": https_self_signed_server.url("/")},
    ]
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "targets": targets, "packs": ["http"]}))
    result = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "http.*")
    assert_no_traceback(result)
    by_target = {r["target"]: r for r in result.json()["results"]}
    assert {t: (r["status"], r["reason"]) for t, r in by_target.items()} == {
        "api": ("OK", None),
        "broken": ("CRITICAL", "assertion"),
        "secure": ("OK", None),
        "expiring": ("WARNING", "threshold"),
        "untrusted": ("CRITICAL", "tls"),
    }
    assert result.code == 2
    assert by_target["broken"]["message"] == "expected status 2xx, got 503 Service Unavailable"
    assert by_target["expiring"]["message"].endswith("(warning < 21)")
    assert 9.9 < by_target["expiring"]["metrics"]["tls_cert_days_left"] <= 10
    assert 29 < by_target["secure"]["metrics"]["tls_cert_days_left"] <= 30


def test_a_token_echoed_by_the_server_never_reaches_the_output(http_server, tmp_path):
    import yaml

    token = "tok-" + unique_name("Zq9")
    # A debug endpoint that echoes the credential back: the failure message quotes the body.
    url = http_server.route(f"/{unique_name('echo')}", body=f"you sent Bearer {token}; status=degraded")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(yaml.safe_dump({
        "version": 1, "packs": [],
        "targets": [{"name": "api", "kind": "http", "address": url}],
        "checks": [{"id": "api.status", "probe": "http", "target": "api",
                    "params": {"headers_env": {"Authorization": "API_TOKEN"}, "body_regex": "status=ok"}}],
    }))
    for fmt in ("json", "table", "nagios", "junit", "prometheus"):
        result = run_cli("health", "-c", str(cfg), "-o", fmt, env={"API_TOKEN": f"Bearer {token}"})
        assert_no_traceback(result)
        assert result.code == 2, (fmt, result.stdout, result.stderr)
        assert token not in result.stdout + result.stderr, fmt
        if fmt == "json":
            assert result.json()["results"][0]["message"].startswith("body does not match /status=ok/")
    assert [r for r in http_server.requests if r.headers.get("Authorization") == f"Bearer {token}"]
