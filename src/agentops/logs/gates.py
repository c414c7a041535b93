"""The judged results every `logs` command reports beside its own: whether the inputs could be read
(`logs.input`) and the `--max-errors` / `--max-error-rate` gates, each judged by `core.evaluate` against the
`logs` command pack. Apart from analyze.py so that `logs count` and `logs trace` load none of the analysis
(its pattern table and knowledge: ~40 ms of every `logs count` start-up, bench/bench_logs.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from agentops.core import format as fmt
from agentops.core.config import Config
from agentops.core.evaluate import evaluate
from agentops.core.model import Observation, Reason, Result
from agentops.core.packs import CheckSpec, command_specs, with_thresholds
from agentops.logs.stats import InputStats


@dataclass
class Thresholds:
    """`--max-errors` and `--max-error-rate`: a value alone is the CRITICAL limit; "W,C" sets both."""

    errors: tuple[float | None, float | None] | None = None  # (warning, critical) limits on the count
    rate: tuple[float | None, float | None] | None = None
    rate_metric: str = "error_rate_percent"  # or errors_per_minute

    @staticmethod
    def parse_limits(text: str, what: str) -> tuple[float | None, float | None]:
        bad = f"bad {what} {text!r} (a number, or WARN,CRIT such as 10,100)"
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) if p else None for p in parts]
        except ValueError:
            raise ValueError(bad) from None
        if len(values) not in (1, 2) or all(v is None for v in values):
            raise ValueError(bad)
        if any(v is not None and not (math.isfinite(v) and v >= 0) for v in values):
            raise ValueError(f"bad {what} {text!r} (limits are numbers of 0 or more)")
        warn, crit = (None, values[0]) if len(values) == 1 else (values[0], values[1])
        if warn is not None and crit is not None and warn > crit:
            # Alerts fire above the limit: a warning limit above the critical one could never warn.
            raise ValueError(f"bad {what} {text!r} (the warning limit {warn:g} is above the critical {crit:g})")
        return warn, crit

    @classmethod
    def parse(cls, max_errors: str | None, max_error_rate: str | None) -> Thresholds:
        out = cls()
        if max_errors:
            out.errors = cls.parse_limits(max_errors, "--max-errors")
        if max_error_rate:
            # The unit may be on either limit or both (10,30/min; 1%,5%); it applies to both.
            parts = [part.strip() for part in max_error_rate.split(",")]
            if any(part.endswith("/min") for part in parts):
                if any(part.endswith("%") for part in parts):
                    raise ValueError(f"bad --max-error-rate {max_error_rate!r} (a percentage or a rate per "
                                     "minute, not both)")
                out.rate_metric = "errors_per_minute"
            text = ",".join(part.removesuffix("/min").removesuffix("%") for part in parts)
            out.rate = cls.parse_limits(text, "--max-error-rate")
            if out.rate_metric == "error_rate_percent" and any(v is not None and v > 100 for v in out.rate):
                raise ValueError(f"bad --max-error-rate {max_error_rate!r} (a percentage of records is at most "
                                 "100; a rate per minute is written 30/min)")
        return out


# Source statuses of an input read in part, and what was lost.
INCOMPLETE = {"corrupt": "the records past the damage are lost", "truncated": "the records past the cut are lost"}


def input_result(stats: InputStats, cfg: Config | None = None) -> Result:
    """`logs.input`: whether the inputs could be read, judged by `core.evaluate` like any check. Inputs that are
    not logs (binary, FIFOs, devices) or cannot be opened are a problem with the input (`assertion`), never
    `internal`, which means a bug in agentops: UNKNOWN when nothing could be read, WARNING when some could not,
    or were read only in part."""
    sources = stats.sources
    unreadable = [s for s in sources if s.status in ("unreadable", "skipped")]
    # Read in part: a damaged or cut-short gzip (nothing after the damage) or a file truncated under the
    # reader. The analysis is missing records, which a cron gate must notice: WARNING, not a note.
    partial = [s for s in sources if s.status in INCOMPLETE]
    readable = [s for s in sources if s not in unreadable]
    target = sources[0].name if len(sources) == 1 else f"{len(sources)} inputs"
    metrics = {"inputs": float(len(sources)), "unreadable": float(len(unreadable)),
               "incomplete": float(len(partial)), "bytes": float(stats.bytes)}
    spec = command_specs("logs", cfg)["logs.input"]
    if not readable:
        obs = Observation.failure(Reason.ASSERTION, "nothing could be read: " + "; ".join(
            f"{s.name}: {s.reason}" for s in unreadable[:3]))
    elif unreadable or partial:
        said = []
        if unreadable:
            said.append(f"{len(unreadable)} of {len(sources)} inputs not read: " + "; ".join(
                f"{s.name}: {s.reason}" for s in unreadable[:3]))
        if partial:
            said.append(f"{len(partial)} of {len(sources)} inputs read only in part: " + "; ".join(
                f"{s.name}: {INCOMPLETE[s.status]} after {fmt.size(s.bytes)} ({s.reason})" for s in partial[:3]))
        # Records lost mid-input are a protocol failure of the input; an input not read beside readable ones is
        # a count the pack's `unreadable` rule judges. Either way the story is the message.
        obs = (Observation.failure(Reason.PROTOCOL, "; ".join(said)) if not unreadable
               else Observation(metrics=metrics, message="; ".join(said)))
    else:
        obs = Observation(metrics=metrics, message=f"read {len(sources)} input{'s' if len(sources) != 1 else ''}, "
                                                   f"{fmt.size(stats.bytes)}")
    status, reason, message = evaluate(spec, obs)
    if reason is Reason.THRESHOLD:
        message = obs.message  # which inputs were not read, and why; the breach is in status and reason
    return Result(id="logs.input", target=target, probe="logs", status=status, reason=reason, message=message,
                  metrics=metrics)


def read_no_records(stats: InputStats) -> bool:
    """Whether the inputs held no record at all: empty, blank lines, NUL bytes, or nothing readable."""
    return not any(s.has_text for s in stats.sources)


def gate_specs(t: Thresholds, cfg: Config | None = None) -> list[CheckSpec]:
    """The gates' specs from the logs command pack, the flags' limits replacing the pack's rule for their
    metric (a value alone is the critical limit, "W,C" both; alerts fire above a limit)."""
    specs = command_specs("logs", cfg)
    out = []
    for check_id, metric, limits in (("logs.errors", "errors", t.errors), ("logs.error_rate", t.rate_metric, t.rate)):
        spec = specs[check_id]
        if limits is not None:
            warn, crit = limits
            spec = with_thresholds(spec, warning={metric: f"> {warn:g}"} if warn is not None else None,
                                   critical={metric: f"> {crit:g}"} if crit is not None else None)
        if spec.rules or check_id == "logs.errors":
            out.append(spec)
    return out


def threshold_results(t: Thresholds, metrics: dict[str, float], no_records: bool = False,
                      cfg: Config | None = None) -> list[Result]:
    """`logs.errors` always (its metrics are what Nagios perfdata and Prometheus export; judged when it has a
    limit, else OK), and `logs.error_rate` when it has one. A limit with nothing to judge (no record read; no
    time span for a rate per minute) is a failed measurement the pack judges UNKNOWN, saying why: a gate over
    an empty input must not pass."""
    out = []
    for spec in gate_specs(t, cfg):
        judged = list(dict.fromkeys(r.metric for r in spec.rules))
        shown = metrics if spec.id == "logs.errors" else {m: metrics[m] for m in judged if m in metrics}
        missing = [m for m in judged if m not in metrics]
        if judged and no_records:
            obs = Observation.failure(Reason.ASSERTION, "no records were read (the input is empty, blank or NUL "
                                      "bytes): nothing to judge the limit against")
        elif missing == ["errors_per_minute"]:  # a rate per minute without a time span
            obs = Observation.failure(Reason.UNSUPPORTED, "no rate per minute to judge: the error records have no "
                                      "timestamps, so there is no time span (use a percentage of records, "
                                      "--max-error-rate 5%, or --max-errors)")
        elif missing:
            obs = Observation.failure(Reason.UNSUPPORTED, f"this command does not measure {', '.join(missing)}")
        else:
            obs = Observation(metrics=shown)
        status, reason, message = evaluate(spec, obs)
        out.append(Result(id=spec.id, target="logs", probe="logs", status=status, reason=reason,
                          message=message, metrics=dict(shown)))
    return out


def notes(stats: InputStats) -> list[str]:
    problems = stats.problems()
    return ["bad input: " + ", ".join(problems)] if problems else []
