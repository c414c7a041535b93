"""Prometheus /metrics endpoints: numbers computed from a scrape, judged by the check's thresholds.

Params:
    window_s: 1.0            scrape twice, this far apart (needed by `rate` and by `over: window`)
    compute:                 each item yields one metric called `name`
      - {name: active_agents, series: runtime_active_agents, agg: sum}        agg: sum|max|min|avg|count
      - {name: errors_echo, series: agent_errors_total, labels: {agent_type: echo}}
      - {name: error_rate_percent, ratio: {numerator: agent_errors_total,
                                           denominator: agent_message_count_total}, scale: 100, over: window}
      - {name: p95_s, quantile: agent_response_time, q: 0.95}               from the _bucket series
      - {name: throughput_per_s, rate: agent_message_count_total}            per second over the window
      - {name: memory_percent, ratio: {numerator: process_resident_memory_bytes,
                                       denominator: {option: memory_limit_bytes}}, scale: 100}
A ratio operand is a series name (summed over the item's `labels`), a number, or `{option: <name>}`, a number
from the target's `options` (with an optional `default:` number, or `default: machine_memory` — the RAM of
this machine, accepted only for an endpoint on loopback). `over: window` judges what happened between the two
scrapes (increases of counters and histogram buckets) instead of everything since the process started.

Only the families a check names are parsed: the exposition is cut down to their lines as it streams in (one
regular expression per line), so a 100k-line endpoint costs a scan, not a parse, and memory holds only the
kept lines. A body over 8 MiB is "too large" (reason protocol, Prometheus' body_size_limit). A family that
is declared (# TYPE) but has no series yet — a labelled counter that never counted — sums to 0; a family
that is not there at all is an assertion failure, and a structured fact: `missing_families` (the family names
not exported), `missing_items` (the compute items that needed them) and `failed_items` (every item that could
not be computed), so no caller has to read the message to tell "not exported" from another failure.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import defaultdict
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.redact import redact
from agentops.probes._pacing import SLICE_S, sliced, unsliced
from agentops.probes.http import AUTH_STATUSES, MAX_BODY_BYTES, Fetched, fetch, preload_client_library

KINDS = ("series", "ratio", "quantile", "rate")
AGGS = ("sum", "max", "min", "avg", "count")
ITEM_KEYS = {"name", *KINDS, "labels", "agg", "q", "scale", "over"}
ACCEPT = "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5,*/*;q=0.1"
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
MAX_SCRAPE_BYTES = MAX_BODY_BYTES  # a bigger exposition is "too large" (the limit of fetch's streaming)

LabelKey = tuple[tuple[str, str], ...]


class MetricsError(Exception):
    def __init__(self, reason: Reason, message: str, missing_family: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.missing_family = missing_family  # set when the failure is a family the endpoint does not export


# ------------------------------------------------------------------------------------------------- params

def validate_compute(params: Mapping[str, Any]) -> None:
    window = params.get("window_s")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int | float) or window <= 0):
        raise ValueError("window_s: expected a number of seconds > 0")
    items = params.get("compute")
    if not isinstance(items, list) or not items:
        raise ValueError("compute: expected a non-empty list of {name, series|ratio|quantile|rate}")
    names: set[str] = set()
    for i, item in enumerate(items):
        where = f"compute[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping like {{name: p95_s, quantile: my_histogram, q: 0.95}}")
        unknown = sorted(set(item) - ITEM_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(ITEM_KEYS))})")
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w:.-]*", name):
            raise ValueError(f"{where}.name: expected a metric name like error_rate_percent")
        if name in names:
            raise ValueError(f"{where}.name: {name!r} is computed twice")
        names.add(name)
        kinds = [k for k in KINDS if k in item]
        if len(kinds) != 1:
            raise ValueError(f"{where}: give exactly one of {', '.join(KINDS)}")
        kind = kinds[0]
        if kind == "ratio":
            ratio = item["ratio"]
            if not isinstance(ratio, dict) or set(ratio) != {"numerator", "denominator"}:
                raise ValueError(f"{where}.ratio: expected {{numerator: ..., denominator: ...}}")
            for side in ("numerator", "denominator"):
                _validate_operand(ratio[side], f"{where}.ratio.{side}")
        else:
            _validate_series_name(item[kind], f"{where}.{kind}")
        if "labels" in item and (not isinstance(item["labels"], dict) or
                                 not all(isinstance(v, str | int | float) for v in item["labels"].values())):
            raise ValueError(f"{where}.labels: expected a mapping of label name to value")
        if "agg" in item and (kind != "series" or item["agg"] not in AGGS):
            raise ValueError(f"{where}.agg: only for series, one of {', '.join(AGGS)}")
        if kind == "quantile":
            q = item.get("q")
            if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 1:
                raise ValueError(f"{where}.q: expected a quantile between 0 and 1 (0.95 for P95)")
        elif "q" in item:
            raise ValueError(f"{where}.q: only for quantile")
        scale = item.get("scale", 1)
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(f"{where}.scale: expected a number")
        over = item.get("over", "lifetime")
        if over not in ("lifetime", "window"):
            raise ValueError(f"{where}.over: expected lifetime or window")
        if kind == "rate" and "over" in item:
            raise ValueError(f"{where}.over: a rate is always over the window")
        if (kind == "rate" or over == "window") and window is None:
            raise ValueError(f"{where}: needs params.window_s (two scrapes that far apart)")


def _validate_series_name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", value):
        raise ValueError(f"{where}: expected a Prometheus metric name, got {value!r}")


def _validate_operand(value: Any, where: str) -> None:
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a series name, a number or {{option: name}}")
    if isinstance(value, int | float):
        if value == 0 and where.endswith("denominator"):
            raise ValueError(f"{where}: cannot be 0")
        return
    if isinstance(value, dict):
        if set(value) - {"option", "default"} or not isinstance(value.get("option"), str):
            raise ValueError(f"{where}: expected {{option: <target option name>, default: <number>}}")
        default = value.get("default")
        if default is not None and default != "machine_memory" and (
                isinstance(default, bool) or not isinstance(default, int | float)):
            raise ValueError(f"{where}.default: expected a number or machine_memory")
        return
    _validate_series_name(value, where)


def wanted_names(items: list[dict[str, Any]]) -> set[str]:
    """The series names a check reads, with the suffixes an exposition may give them."""
    bases = set()
    for item in items:
        kind = next(k for k in KINDS if k in item)
        refs = [item["ratio"]["numerator"], item["ratio"]["denominator"]] if kind == "ratio" else [item[kind]]
        for ref in refs:
            if isinstance(ref, str):
                bases.add(ref)
                for suffix in ("_total", "_bucket"):
                    if ref.endswith(suffix):
                        bases.add(ref[: -len(suffix)])
    return {b + s for b in bases for s in SUFFIXES}


# ------------------------------------------------------------------------------------------------ parsing

@dataclass
class Scrape:
    samples: dict[str, dict[LabelKey, float]] = field(default_factory=lambda: defaultdict(dict))
    declared: set[str] = field(default_factory=set)  # sample names a # TYPE/# HELP line announced
    started: float = 0.0
    size: int = 0


class ExpositionFilter:
    """The exposition read as it streams in, one line at a time, keeping only what the parse needs: the
    first lines (to tell an HTML or JSON page from a scrape) and the lines of the wanted families. Memory
    is bounded by what is kept, not by the size of the body."""

    SNIFF_LINES = 20

    def __init__(self, names: set[str]) -> None:
        self.names = names
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self._wanted = re.compile(rf"(?:# (?:HELP|TYPE) )?(?:{alternatives})(?=[ \t{{])".encode())
        self._partial = b""
        self.head: list[bytes] = []
        self.kept: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if len(self.head) < self.SNIFF_LINES and line.strip():
            self.head.append(line)
        if self._wanted.match(line):
            self.kept.append(line)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    @staticmethod
    def text(lines: list[bytes]) -> str:
        return b"\n".join(lines).decode("utf-8", errors="replace") + "\n"


def filter_exposition(text: str, names: set[str]) -> str:
    """Only the lines (samples, # HELP, # TYPE) of the given sample names."""
    kept = ExpositionFilter(names)
    kept.feed(text.encode())
    kept.close()
    return kept.text(kept.kept)


def parse_scrape(got: Fetched, kept: ExpositionFilter) -> Scrape:
    """The scrape parsed in one go (no event loop waits on it: tests, synchronous callers)."""
    return unsliced(scrape_steps(got, kept))


async def parse_scrape_sliced(got: Fetched, kept: ExpositionFilter) -> Scrape:
    """The scrape parsed in CPU slices shared with the loop's other checks (probes._pacing): 20,000 series are
    ~0.4 s of parse, which in one go would hold every other check's read, and so its latency."""
    return await sliced(scrape_steps(got, kept))


def scrape_steps(got: Fetched, kept: ExpositionFilter) -> Generator[None, None, Scrape]:
    """The parse of a scrape as small steps (a yield between them), for `sliced` or `unsliced`."""
    content_type = got.headers.get("content-type", "")
    if content_type.startswith(("text/html", "application/json")):
        raise MetricsError(Reason.PROTOCOL, f"not a Prometheus exposition (content-type {content_type})")
    openmetrics = "openmetrics" in content_type
    if not openmetrics and kept.head:  # an OpenMetrics head cut mid-histogram would not parse
        _parse(kept.text(kept.head), openmetrics=False)
    scrape = Scrape(started=got.started, size=got.body_bytes)
    if openmetrics:
        # One step: the OpenMetrics parser validates across families (clashing names, # EOF, histogram
        # groups), which a parse in pieces would not see.
        yield from _add_families(scrape, _parse(kept.text(kept.kept), openmetrics=True), kept.names)
        return scrape
    for segment in _segments(kept.kept):
        yield from _add_segment(scrape, segment, kept.names)
    return scrape


# Samples parsed per step: sized from the last piece's speed to take about a CPU slice (probes._pacing),
# within these bounds; each piece re-parses its segment's header lines (~3 samples' worth).
PIECE_LINES = (64, 4096)


def _segments(lines: list[bytes]) -> Generator[list[bytes], None, None]:
    """The kept lines cut before each # HELP / # TYPE line of another name than the one before: the text
    parser starts a new family there whatever came before, so each segment parses alone as it would in the
    whole (the lines before the first header are a segment of their own)."""
    start, name = 0, b""
    for i, line in enumerate(lines):
        if line.startswith(b"#"):
            parts = line.split(None, 3)
            header = parts[2] if len(parts) > 2 else b""
            if header != name:
                if i > start:
                    yield lines[start:i]
                start, name = i, header
    if start < len(lines):
        yield lines[start:]


def _add_segment(scrape: Scrape, segment: list[bytes], names: set[str]) -> Generator[None, None, None]:
    """One segment's samples into the scrape, parsed a piece of samples per step: each piece is preceded by
    the segment's # HELP / # TYPE lines, which restore the parser's state (the family, its type, its allowed
    names). Only a segment whose header lines all come first is cut, and a piece must come back as one family
    holding all its samples; else a sample left the family (the parser's state differs from there on) and
    the segment is parsed whole, in one step, and added again: the pieces before were parsed in the same
    state as in the whole, so adding them again changes nothing. Each piece is added as it is parsed, so its
    parsed objects die young instead of piling up for the collector's oldest generation."""
    headers = 0
    while headers < len(segment) and segment[headers].startswith(b"#"):
        headers += 1
    head, samples = segment[:headers], segment[headers:]
    fewest, most = PIECE_LINES
    if len(samples) <= fewest or any(line.startswith(b"#") for line in samples):
        yield from _add_families(scrape, _parse(ExpositionFilter.text(segment), openmetrics=False), names)
        return
    at, size = 0, fewest
    while at < len(samples):
        piece = samples[at:at + size]
        began = time.perf_counter()
        got = _parse(ExpositionFilter.text(head + piece), openmetrics=False)
        if len(got) != 1 or len(got[0].samples) != len(piece):
            yield from _add_families(scrape, _parse(ExpositionFilter.text(segment), openmetrics=False), names)
            return
        yield from _add_families(scrape, got, names)
        at += len(piece)
        took = max(time.perf_counter() - began, 1e-6)
        size = min(most, max(fewest, int(len(piece) * SLICE_S / took)))
        yield


def _add_families(scrape: Scrape, families: list[Any], names: set[str]) -> Generator[None, None, None]:
    for family in families:
        scrape.declared.update(family.name + s for s in SUFFIXES)
        for i, sample in enumerate(family.samples, 1):
            if sample.name in names:
                scrape.samples[sample.name][tuple(sorted(sample.labels.items()))] = float(sample.value)
            if i % 1024 == 0:
                yield


def _parse(text: str, openmetrics: bool) -> list[Any]:
    try:
        if openmetrics:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

            return list(parse_om(text + "# EOF\n"))
        from prometheus_client.parser import text_string_to_metric_families

        return list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise MetricsError(Reason.PROTOCOL, f"cannot parse the exposition: {exc}") from None


# ------------------------------------------------------------------------------------------------ compute

def select(scrape: Scrape, name: str, want: Mapping[str, Any], url: str) -> dict[LabelKey, float]:
    """The series of `name` (or `name_total`) whose labels match; {} when declared but empty."""
    candidates = [name] if name.endswith(("_total", "_bucket")) else [name, name + "_total"]
    # A label key occurs once in a LabelKey, so "has label k = v" is "(k, v) is one of its pairs".
    pairs = [(str(k), str(v)) for k, v in want.items()]
    for candidate in candidates:
        if candidate in scrape.samples:
            series = scrape.samples[candidate]
            if not pairs:
                return dict(series)
            return {k: v for k, v in series.items() if all(p in k for p in pairs)}
    if any(c in scrape.declared for c in candidates):
        return {}
    raise MetricsError(Reason.ASSERTION, f"no series {name} at {url}", missing_family=name)


def increase(before: dict[LabelKey, float], after: dict[LabelKey, float]) -> dict[LabelKey, float]:
    """Per-series counter increase; a series that went down restarted from 0 (Prometheus' reset rule), and a
    series born inside the window increased from 0."""
    out = {}
    for key, now in after.items():
        prev = before.get(key, 0.0)
        out[key] = now - prev if now >= prev else now
    return out


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket where the rank falls; NaN with
    no observations; the highest finite bound when the rank falls in the +Inf bucket."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    counts = [buckets[b] for b in bounds]
    for i in range(1, len(counts)):  # a scrape racing an observation can be non-monotonic by a hair
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if not total > 0 or any(math.isnan(c) for c in counts):  # NaN counts (a broken exporter): no quantile
        return math.nan
    rank = q * total
    b = next((i for i, c in enumerate(counts) if c >= rank), None)
    if b is None:
        return math.nan
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if b == 0 else bounds[b - 1]
    below = 0.0 if b == 0 else counts[b - 1]
    in_bucket = counts[b] - below
    if in_bucket <= 0:
        return bounds[b]
    return start + (bounds[b] - start) * (rank - below) / in_bucket


class Computer:
    """Evaluates the compute items over one or two scrapes."""

    def __init__(self, target: Target, url: str, first: Scrape, last: Scrape) -> None:
        self.target, self.url, self.first, self.last = target, url, first, last
        self.elapsed = max(last.started - first.started, 1e-9)
        self.facts: dict[str, Any] = {}

    def series(self, name: str, labels: Mapping[str, Any], windowed: bool) -> dict[LabelKey, float]:
        after = select(self.last, name, labels, self.url)
        if not windowed:
            return after
        return increase(select(self.first, name, labels, self.url), after)

    def value(self, item: dict[str, Any]) -> float:
        labels = item.get("labels", {})
        windowed = item.get("over") == "window"
        if "series" in item:
            values = list(self.series(item["series"], labels, windowed).values())
            return aggregate(values, item.get("agg", "sum"))
        if "rate" in item:
            return sum(self.series(item["rate"], labels, True).values()) / self.elapsed
        if "quantile" in item:
            name = item["quantile"].removesuffix("_bucket")
            buckets: dict[float, float] = defaultdict(float)
            for key, count in self.series(name + "_bucket", labels, windowed).items():
                le = dict(key).get("le")
                if le is not None:
                    buckets[float(le)] += count
            return histogram_quantile(float(item["q"]), buckets)
        num = self.operand(item["ratio"]["numerator"], item, labels, windowed)
        den = self.operand(item["ratio"]["denominator"], item, labels, windowed)
        return num / den if den else math.nan

    def operand(self, ref: Any, item: dict[str, Any], labels: Mapping[str, Any], windowed: bool) -> float:
        if isinstance(ref, int | float):
            return float(ref)
        if isinstance(ref, str):
            return sum(self.series(ref, labels, windowed).values())
        option = ref["option"]
        if option in self.target.options:
            try:
                value = float(self.target.options[option])
            except (TypeError, ValueError):
                raise MetricsError(Reason.UNSUPPORTED, f"target {self.target.name!r}: options.{option} "
                                   f"is not a number ({self.target.options[option]!r})") from None
            self.facts[f"{item['name']}.{option}"] = f"target option {option}"
            return value
        default = ref.get("default")
        if isinstance(default, int | float):
            self.facts[f"{item['name']}.{option}"] = "default"
            return float(default)
        if default == "machine_memory" and _host(self.url) in LOOPBACK:
            import psutil

            self.facts[f"{item['name']}.{option}"] = "machine memory (endpoint on this machine)"
            return float(psutil.virtual_memory().total)
        raise MetricsError(Reason.UNSUPPORTED, f"target {self.target.name!r} sets no options.{option} "
                           f"(needed by {item['name']})")


def why_unknown(item: dict[str, Any]) -> str:
    window = " in the window" if item.get("over") == "window" else ""
    if "quantile" in item:
        return f"no observations of {item['quantile'].removesuffix('_bucket')}{window}"
    if "ratio" in item:
        den = item["ratio"]["denominator"]
        name = den if isinstance(den, str) else f"options.{den['option']}" if isinstance(den, dict) else str(den)
        return f"{name} did not increase in the window" if window and isinstance(den, str) else f"{name} is 0"
    return f"no series of {item.get('series')} matched"


def aggregate(values: list[float], agg: str) -> float:
    if agg == "sum":
        return math.fsum(values)
    if agg == "count":
        return float(len(values))
    if not values:
        return math.nan
    if agg == "max":
        return max(values)
    if agg == "min":
        return min(values)
    return math.fsum(values) / len(values)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


# -------------------------------------------------------------------------------------------------- probe

class MetricsProbe(Probe):
    kind = "metrics"
    target_kinds = ("metrics",)
    description = "Prometheus /metrics: series, ratios, histogram quantiles and rates, judged by thresholds"
    metrics = {
        "<name>": "one per params.compute item",
        "scrape_ms": "time to fetch the exposition (the last scrape)",
        "scrape_bytes": "size of the exposition",
    }
    PARAMS = {"compute", "window_s"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, self.PARAMS)
        validate_compute(params)

    def preload(self) -> None:
        preload_client_library()

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        url = target.address or ""
        items: list[dict[str, Any]] = params["compute"]
        window = float(params.get("window_s") or 0)
        if window and window >= timeout:
            return Observation.failure(Reason.UNSUPPORTED, f"window_s ({window:g}s) must be shorter than the "
                                       f"check's timeout ({timeout:g}s)")
        names = wanted_names(items)
        deadline = time.monotonic() + timeout
        try:
            first = last_fetch = await scrape(target, url, deadline, names)
            first_scrape = last = await parse_scrape_sliced(*first)
            if window:
                await asyncio.sleep(max(0.0, first[0].started + window - time.monotonic()))
                last_fetch = await scrape(target, url, deadline, names)
                last = await parse_scrape_sliced(*last_fetch)
        except MetricsError as exc:
            return Observation.failure(exc.reason, exc.args[0], url=redact(url))
        computer = Computer(target, redact(url), first_scrape, last)
        obs = Observation(metrics={"scrape_ms": last_fetch[0].elapsed_s * 1000.0,
                                   "scrape_bytes": float(last.size)},
                          facts={"url": redact(url)})
        if window:
            obs.facts["window_elapsed_s"] = computer.elapsed
        failures: list[MetricsError] = []
        failed: list[str] = []
        missing: dict[str, list[str]] = {}  # family not exported -> the compute items that needed it
        unknown: list[str] = []
        for item in items:
            try:
                value = float(item.get("scale", 1)) * computer.value(item)
            except MetricsError as exc:
                failures.append(exc)
                failed.append(item["name"])
                if exc.missing_family:
                    missing.setdefault(exc.missing_family, []).append(item["name"])
                continue
            obs.metrics[item["name"]] = value
            if math.isnan(value):
                unknown.append(f"{item['name']}=n/a ({why_unknown(item)})")
        obs.facts.update(computer.facts)
        if failed:
            # Structured, so a caller (the diagnosis) can tell "not exported" from other failures without
            # reading the message.
            obs.facts["failed_items"] = failed
            obs.facts["missing_families"] = sorted(missing)
            obs.facts["missing_items"] = [name for names in missing.values() for name in names]
        if failures:
            obs.reason = failures[0].reason
            obs.message = "; ".join(dict.fromkeys(str(f) for f in failures))
        elif unknown:  # no verdict is possible on these; say why instead of a bare n/a
            obs.message = "; ".join(unknown)
        return obs


async def scrape(target: Target, url: str, deadline: float,
                 names: set[str]) -> tuple[Fetched, ExpositionFilter]:
    """One GET of a /metrics URL before `deadline` (monotonic), streamed through a filter that keeps the
    lines of `names`; failures raise MetricsError with a Reason."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MetricsError(Reason.TIMEOUT, f"no time left for the second scrape of {redact(url)}")
    kept = ExpositionFilter(names)
    got = await fetch(target, url, timeout=remaining, headers={"Accept": ACCEPT}, on_chunk=kept.feed)
    if isinstance(got, Observation):
        raise MetricsError(got.reason or Reason.PROTOCOL, got.message)
    kept.close()
    if got.truncated:
        # Prometheus' own body_size_limit: a scrape this big is a finding about the endpoint, and what was
        # read of it would be judged as if it were all.
        raise MetricsError(Reason.PROTOCOL, f"scrape of {redact(url)} is too large: over the "
                           f"{MAX_SCRAPE_BYTES // 2**20} MiB limit of a scrape")
    if got.status != 200:
        reason = Reason.AUTH if got.status in AUTH_STATUSES else Reason.PROTOCOL
        raise MetricsError(reason, f"scrape of {redact(url)} answered {got.status} {got.reason_phrase}".rstrip())
    return got, kept
