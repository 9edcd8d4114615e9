"""kernel.telemetry.span: with no span processor (exporter `none`) it makes no SDK span,
yet the current span still names the parent's trace (or a new one), a span id of its own,
and the stored traceparent and log lines carry them; with a processor it is the SDK span."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kernel import telemetry
from kernel.telemetry import context_from, current_trace_metadata, span

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.fixture
def unexported(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """An SDK tracer whose spans would be seen, while `span` is told nobody sees them."""
    monkeypatch.setattr(telemetry, "spans_exported", lambda: False)
    return InMemorySpanExporter()


def _sdk_tracer(exporter: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


@pytest.mark.parametrize("flags", ["01", "00"])
def test_unexported_span_joins_the_callers_trace_under_a_span_id_of_its_own(
    unexported: InMemorySpanExporter, flags: str
) -> None:
    parent = context_from({"traceparent": f"00-{TRACE}-{SPAN}-{flags}"})
    with span(_sdk_tracer(unexported), "call", context=parent) as current:
        assert trace.get_current_span() is current
        stored = current_trace_metadata()["traceparent"]
    version, trace_id, span_id, stored_flags = stored.split("-")
    assert (version, trace_id, stored_flags) == ("00", TRACE, flags)
    assert span_id not in (SPAN, "0" * 16)
    assert not current.is_recording()
    assert unexported.get_finished_spans() == ()
    assert not trace.get_current_span().get_span_context().is_valid, "the context is restored"


def test_unexported_root_span_starts_a_sampled_trace_and_nests_under_the_current_one(
    unexported: InMemorySpanExporter,
) -> None:
    tracer = _sdk_tracer(unexported)
    with span(tracer, "call") as root:
        outer = root.get_span_context()
        with span(tracer, "db.transaction") as inner:
            nested = inner.get_span_context()
    assert outer.is_valid and outer.trace_flags.sampled
    assert nested.trace_id == outer.trace_id
    assert nested.span_id != outer.span_id
    with span(tracer, "another call") as other:
        assert other.get_span_context().trace_id != outer.trace_id


def test_exported_span_is_the_sdk_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "spans_exported", lambda: True)
    exporter = InMemorySpanExporter()
    parent = context_from({"traceparent": f"00-{TRACE}-{SPAN}-01"})
    with span(
        _sdk_tracer(exporter),
        "call",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc"},
    ) as current:
        assert current.is_recording()
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "call"
    assert finished.kind is trace.SpanKind.SERVER
    assert finished.parent is not None and finished.parent.span_id == int(SPAN, 16)
    assert dict(finished.attributes or {}) == {"rpc.system": "grpc"}


def test_spans_are_exported_only_with_a_processor() -> None:
    provider = TracerProvider()
    assert not telemetry._processors_in(provider)
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert telemetry._processors_in(provider)
