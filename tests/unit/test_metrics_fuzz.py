"""Hypothesis over hostile /metrics bodies, through the metrics probe's parser and computations exactly as a
scrape feeds them (the body streamed in arbitrary chunks): huge labels, NaN/Inf, broken histograms,
duplicated series, control bytes, cut lines. Whatever arrives, the outcome is a value or a MetricsError with
a reason from the vocabulary, never another exception (which the runner would report as `internal`).

Bounded per case: bodies are at most ~256 KiB (a huge label is a few long lines), 150 examples, 2 s each."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.core.config import Target
from agentops.core.model import Reason
from agentops.probes.http import Fetched
from agentops.probes.metrics import Computer, ExpositionFilter, MetricsError, parse_scrape, wanted_names

COMPUTE = [
    {"name": "s", "series": "fam"},
    {"name": "m", "series": "fam", "agg": "max", "labels": {"k": "v"}},
    {"name": "q", "quantile": "hist", "q": 0.95},
    {"name": "r", "ratio": {"numerator": "fam", "denominator": "hist_count"}},
]
NAMES = wanted_names(COMPUTE)

values = st.sampled_from(["1", "0", "-1", "NaN", "+Inf", "-Inf", "1e308", "1e999", "-0", "x", "", "0x10",
                          "3.5e-320", "\uff11"])  # a full-width digit
label_text = st.one_of(st.text(max_size=20), st.just("v"), st.builds(lambda n: "L" * n, st.integers(0, 200_000)))
names = st.sampled_from(["fam", "fam_total", "hist_bucket", "hist_count", "hist_sum", "hist", "other", "fam{",
                         "", "9bad", "fam\x00"])
les = st.sampled_from(["0.1", "1", "+Inf", "NaN", "-1", "x", "1e999"])


@st.composite
def sample_line(draw: st.DrawFn) -> str:
    name = draw(names)
    labels = []
    if name == "hist_bucket" or draw(st.booleans()):
        labels.append(f'le="{draw(les)}"')
    if draw(st.booleans()):
        labels.append(f'k="{draw(label_text)}"')
    if draw(st.booleans()):
        labels.append(draw(st.text(max_size=10)))  # broken label syntax
    body = f"{name}{{{','.join(labels)}}}" if labels else name
    return f"{body} {draw(values)}" + (f" {draw(st.integers(-10, 2**63))}" if draw(st.booleans()) else "")


lines = st.one_of(
    sample_line(),
    st.sampled_from(["# TYPE hist histogram", "# TYPE fam counter", "# TYPE fam gauge", "# HELP fam x\\ny",
                     "# EOF", "#", "# TYPE fam", "<html>", '{"a": 1}', "", "\x00\x01\x1b[31m", "\r"]),
    st.text(max_size=40),
)


@st.composite
def body_and_chunks(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    text = "\n".join(draw(st.lists(lines, max_size=40)))
    if draw(st.booleans()):
        text = "\n".join([text] * 2)  # every series duplicated
    body = text.encode("utf-8", errors="surrogatepass")[:256 * 1024]
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=8)))
    return body, cuts


def fetched(content_type: str, size: int) -> Fetched:
    return Fetched(status=200, reason_phrase="OK", headers={"content-type": content_type}, body=b"",
                   body_bytes=size, elapsed_s=0.001, started=0.0, http_version="HTTP/1.1", peer_cert=None)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body_and_chunks(), st.sampled_from(["text/plain; version=0.0.4", "application/openmetrics-text",
                                           "text/html", ""]))
def test_hostile_bodies_give_a_value_or_a_reason(case: tuple[bytes, list[int]], content_type: str) -> None:
    body, cuts = case
    kept = ExpositionFilter(NAMES)
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        kept.feed(body[start:end])
    kept.close()
    target = Target(name="w", kind="metrics", address="http://127.0.0.1:9/metrics")
    try:
        scrape = parse_scrape(fetched(content_type, len(body)), kept)
    except MetricsError as exc:
        assert isinstance(exc.reason, Reason) and exc.reason is not Reason.INTERNAL
        assert str(exc)
        return
    computer = Computer(target, "http://127.0.0.1:9/metrics", scrape, scrape)
    for item in COMPUTE:
        try:
            value = computer.value(item)
        except MetricsError as exc:
            assert exc.reason is not Reason.INTERNAL
            continue
        assert isinstance(value, float) and (math.isnan(value) or isinstance(value, float))
