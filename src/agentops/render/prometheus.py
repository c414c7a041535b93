"""Prometheus text exposition for node_exporter's textfile collector: one gauge per check status, duration
and measured metric, one per finding's status, the verdict, what set the status, plus the run's own status and
timestamp."""

from __future__ import annotations

import re
import time
from typing import Any

_STATUS = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    """A sample value exactly (`:g` would keep 6 digits: 24502398976 bytes read as 2.45024e+10)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    return repr(float(value))  # nan, inf, and the shortest exact text of any other float


def metric_name(text: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", text)
    return name if re.match(r"[a-zA-Z_]", name) else "_" + name


def render_prometheus(doc: dict[str, Any]) -> str:
    kind = doc["kind"]
    out = [
        "# HELP agentops_check_status Check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        "# TYPE agentops_check_status gauge",
    ]
    for r in doc["results"]:
        out.append(f"agentops_check_status{_labels(kind=kind, check=r['id'], target=r['target'], probe=r['probe'], reason=r['reason'] or '')} {_STATUS[r['status']]}")  # noqa: E501
    out += ["# HELP agentops_check_duration_seconds How long the check took, retries included.",
            "# TYPE agentops_check_duration_seconds gauge"]
    for r in doc["results"]:
        out.append(f"agentops_check_duration_seconds{_labels(kind=kind, check=r['id'], target=r['target'])} "
                   f"{r['duration_s']:.6f}")
    out += ["# HELP agentops_check_metric A value measured by a check (metric label names it).",
            "# TYPE agentops_check_metric gauge"]
    for r in doc["results"]:
        for name, value in r["metrics"].items():
            if value is not None:
                out.append(f"agentops_check_metric{_labels(kind=kind, check=r['id'], target=r['target'], metric=name)} "
                           f"{_number(value)}")
    # Findings and the verdict by id and status only: their titles carry measured values, and a label that
    # changes every run would make a new series every run.
    out += ["# HELP agentops_finding_status A diagnosis finding's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            "# TYPE agentops_finding_status gauge"]
    for f in doc.get("findings", []):
        out.append(f"agentops_finding_status{_labels(kind=kind, finding=f['id'])} {_STATUS[f['status']]}")
    verdict = doc.get("verdict")
    if verdict is not None:
        out += ["# HELP agentops_verdict_status The verdict (headline finding) of a diagnosis and its status.",
                "# TYPE agentops_verdict_status gauge",
                f"agentops_verdict_status{_labels(kind=kind, finding=verdict['id'])} {_STATUS[verdict['status']]}"]
    out += ["# HELP agentops_status_set_by What set the run's status (and so the exit code): a finding id or "
            "check@target.",
            "# TYPE agentops_status_set_by gauge"]
    for ref in doc.get("status_set_by", []):
        out.append(f"agentops_status_set_by{_labels(kind=kind, ref=ref)} {_STATUS[doc['status']]}")
    out += ["# HELP agentops_run_status Worst status of the run.", "# TYPE agentops_run_status gauge",
            f"agentops_run_status{_labels(kind=kind)} {_STATUS[doc['status']]}",
            "# HELP agentops_run_timestamp_seconds When the run finished (Unix time).",
            "# TYPE agentops_run_timestamp_seconds gauge",
            f"agentops_run_timestamp_seconds{_labels(kind=kind)} {time.time():.3f}"]
    return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def render_autogen_views(views: list[dict[str, Any]]) -> str:
    """The AutoGen view of each agentrpc target (agentops.serve.cluster.TargetView.to_dict): the series AutoGen
    itself does not export. Owner client ids change with every worker start, so they are only on the info
    series; the series alerts read are labelled by target, type, topic and configured worker name."""
    out: list[str] = []
    _family(out, "agentops_autogen_host_up", "gauge", "1 when the AgentRpc host answered GetSubscriptions.")
    for v in views:
        out.append(f"agentops_autogen_host_up{_labels(target=v['target'], address=v['address'], reason=v['reason'] or '')} "  # noqa: E501
                   f"{int(v['up'])}")
    _family(out, "agentops_autogen_collect_timestamp_seconds", "gauge", "When the view was last collected.")
    for v in views:
        out.append(f"agentops_autogen_collect_timestamp_seconds{_labels(target=v['target'])} {v['collected_at']:.3f}")
    _family(out, "agentops_autogen_agent_type_owned", "gauge",
            "1 when an agent type is owned by a connected client; 0 when no client owns it (registered, or expected "
            "by the config and missing).")
    for v in views:
        for agent_type, t in v["types"].items():
            out.append(f"agentops_autogen_agent_type_owned{_labels(target=v['target'], agent_type=agent_type, worker=t['worker'] or '')} "  # noqa: E501
                       f"{int(t['owned'])}")
    _family(out, "agentops_autogen_agent_type_info", "gauge", "An owned agent type and the client that owns it.")
    for v in views:
        for agent_type, t in v["types"].items():
            if t["owned"] and t["client_id"]:
                out.append(f"agentops_autogen_agent_type_info{_labels(target=v['target'], agent_type=agent_type, worker=t['worker'] or '', client_id=t['client_id'])} 1")  # noqa: E501
    _family(out, "agentops_autogen_agent_types", "gauge", "Agent types registered on the host.")
    for v in views:
        if v["up"]:
            out.append(f"agentops_autogen_agent_types{_labels(target=v['target'])} "
                       f"{sum(1 for t in v['types'].values() if t['registered'])}")
    for name, field, help_text in (
            ("agentops_autogen_topic_subscriptions", "subscriptions", "Agent types subscribed to a topic."),
            ("agentops_autogen_topic_live_subscribers", "live",
             "Of a topic's subscribed agent types, those owned by a connected client.")):
        _family(out, name, "gauge", help_text)
        for v in views:
            for row in v["topics"]:
                out.append(f"{name}{_labels(target=v['target'], topic=row['topic'], kind=row['kind'])} {row[field]}")
    _family(out, "agentops_autogen_topics_without_subscriber", "gauge",
            "Topics whose every subscribed agent type has no owner: events published there reach nobody.")
    for v in views:
        if v["up"] and v["owners_asked"]:
            out.append(f"agentops_autogen_topics_without_subscriber{_labels(target=v['target'])} "
                       f"{sum(1 for row in v['topics'] if row['live'] == 0)}")
    _family(out, "agentops_autogen_worker_connected", "gauge",
            "1 when every agent type a configured worker should own is owned on its host.")
    for v in views:
        if v["up"]:
            for worker, connected in v["workers"].items():
                out.append(f"agentops_autogen_worker_connected{_labels(target=v['target'], worker=worker)} "
                           f"{int(connected)}")
    _family(out, "agentops_autogen_ping_rtt_seconds", "histogram",
            "Round trip of a ping request through host and worker to an agent type and back.")
    for v in views:
        for agent_type, h in v["pings"].items():
            for le, n in h["buckets"]:
                out.append(f"agentops_autogen_ping_rtt_seconds_bucket{_labels(target=v['target'], agent_type=agent_type, le=f'{le:g}')} {n}")  # noqa: E501
            base = _labels(target=v["target"], agent_type=agent_type)
            out += [f"agentops_autogen_ping_rtt_seconds_bucket{_labels(target=v['target'], agent_type=agent_type, le='+Inf')} {h['count']}",  # noqa: E501
                    f"agentops_autogen_ping_rtt_seconds_sum{base} {h['sum']:.6f}",
                    f"agentops_autogen_ping_rtt_seconds_count{base} {h['count']}"]
    _family(out, "agentops_autogen_ping_failures_total", "counter", "Pings without a reply, by outcome.")
    for v in views:
        for f in v["ping_failures"]:
            out.append(f"agentops_autogen_ping_failures_total{_labels(target=v['target'], agent_type=f['agent_type'], outcome=f['outcome'])} "  # noqa: E501
                       f"{f['count']}")
    _family(out, "agentops_autogen_view_truncated", "gauge", "1 when the host's table was cut to the series limit.")
    for v in views:
        out.append(f"agentops_autogen_view_truncated{_labels(target=v['target'])} {int(v['truncated'])}")
    return "\n".join(out) + "\n"


def render_serve_state(state: dict[str, Any]) -> str:
    """serve's own series (agentops.serve.service.Service.state): its config, its checks' freshness."""
    out: list[str] = []
    _family(out, "agentops_serve_config_reload_success", "gauge",
            "1 when the last (re)load of the config succeeded; 0: the previous config is still in use.")
    out.append(f"agentops_serve_config_reload_success {int(state['reload_ok'])}")
    _family(out, "agentops_serve_config_loaded_timestamp_seconds", "gauge", "When the config in use was loaded.")
    out.append(f"agentops_serve_config_loaded_timestamp_seconds {state['loaded_at']:.3f}")
    _family(out, "agentops_serve_checks", "gauge", "Checks in the plan.")
    out.append(f"agentops_serve_checks {state['checks']}")
    _family(out, "agentops_serve_check_age_seconds", "gauge", "Seconds since the check last finished.")
    for c in state["ages"]:
        out.append(f"agentops_serve_check_age_seconds{_labels(check=c['check'], target=c['target'])} {c['age_s']:.3f}")
    _family(out, "agentops_serve_check_runs_total", "counter", "Runs of the check since serve started.")
    for c in state["ages"]:
        out.append(f"agentops_serve_check_runs_total{_labels(check=c['check'], target=c['target'])} {c['runs']}")
    _family(out, "agentops_serve_requests_total", "counter", "HTTP requests answered, by route.")
    for path, n in sorted(state["requests"].items()):
        out.append(f"agentops_serve_requests_total{_labels(path=path)} {n}")
    return "\n".join(out) + "\n"


def render_undelivered(states: list[dict[str, Any]]) -> str:
    """Requests the cluster's logs show it could not deliver (agentops.serve.undelivered.UndeliveredCounts
    .to_dict): a counter per whose log, agent type and kind, and how far behind the end of its logs serve is."""
    out: list[str] = []
    _family(out, "agentops_autogen_undelivered_total", "counter",
            "Requests the host's or a worker's log shows were not delivered (kind: agent_not_found, "
            "client_not_found, subscriber_not_found, unhandled_message), counted since serve started.")
    for s in states:
        for c in s["counts"]:
            out.append(f"agentops_autogen_undelivered_total{_labels(target=s['target'], log=c['log'], agent_type=c['agent_type'], kind=c['kind'])} "  # noqa: E501
                       f"{c['count']}")
    _family(out, "agentops_autogen_log_lag_bytes", "gauge",
            "Bytes of a target's logs written but not read yet (the read per cycle is bounded).")
    for s in states:
        for log, lag in s["lag_bytes"].items():
            out.append(f"agentops_autogen_log_lag_bytes{_labels(target=s['target'], log=log)} {lag}")
    _family(out, "agentops_autogen_log_unreadable", "gauge", "Configured log files that could not be read.")
    for s in states:
        out.append(f"agentops_autogen_log_unreadable{_labels(target=s['target'])} {len(s['problems'])}")
    return "\n".join(out) + "\n"


def render_diagnoses(entries: list[dict[str, Any]]) -> str:
    """The periodic diagnoses of `serve` (agentops.serve.verdicts.DiagnosisState.to_dict): each one's latest
    verdict (the mode as a label, its status as the value) and the diagnosis' status, as the diagnosis judged
    them. Labelled by the configured agent type, key and host, so a changed verdict replaces the series."""
    out: list[str] = []
    _family(out, "agentops_diagnosis_verdict", "gauge",
            "The latest verdict of a periodic diagnosis: mode is the failure mode (or healthy), the value its "
            "status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).")
    for e in entries:
        if e["verdict"] is not None:
            out.append(f"agentops_diagnosis_verdict{_labels(agent_type=e['agent_type'], key=e['key'], host=e['host'], mode=e['verdict']['id'])} "  # noqa: E501
                       f"{_STATUS[e['verdict']['status']]}")
    _family(out, "agentops_diagnosis_status", "gauge", "The latest periodic diagnosis' status (as its exit code).")
    for e in entries:
        if e["status"] is not None:
            out.append(f"agentops_diagnosis_status{_labels(agent_type=e['agent_type'], key=e['key'], host=e['host'])} "
                       f"{_STATUS[e['status']]}")
    for name, kind, field, help_text in (
            ("agentops_diagnosis_timestamp_seconds", "gauge", "finished_at", "When the latest diagnosis finished."),
            ("agentops_diagnosis_duration_seconds", "gauge", "duration_s", "How long the latest diagnosis took."),
            ("agentops_diagnosis_runs_total", "counter", "runs", "Periodic diagnoses run."),
            ("agentops_diagnosis_failures_total", "counter", "failures",
             "Periodic diagnoses that raised or overran serve's backstop (the previous verdict stands).")):
        _family(out, name, kind, help_text)
        for e in entries:
            if e[field] is not None and (field != "finished_at" or e[field]):
                out.append(f"{name}{_labels(agent_type=e['agent_type'], key=e['key'], host=e['host'])} "
                           f"{_number(e[field])}")
    return "\n".join(out) + "\n"
