"""kernel.telemetry.context_from parses a stored traceparent itself (the relay does it for
every message); it must name exactly the parent the W3C propagator would."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace

from kernel.telemetry import context_from

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.mark.parametrize(
    "carrier",
    [
        {"traceparent": f"00-{TRACE}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE}-{SPAN}-00"},
        {"traceparent": f"00-{'0' * 32}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE}-{'0' * 16}-01"},
        {"traceparent": f"01-{TRACE}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE.upper()}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE}-{SPAN[:-1]}g-01"},
        {"traceparent": f"00-{TRACE}-{SPAN}-1"},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "vendor=1"},
        {},
    ],
)
def test_the_parent_is_the_one_the_propagator_names(carrier: dict[str, str]) -> None:
    ours = trace.get_current_span(context_from(carrier)).get_span_context()
    theirs = trace.get_current_span(propagate.extract(dict(carrier))).get_span_context()
    assert ours == theirs


def test_a_stored_traceparent_names_its_span_as_a_remote_parent() -> None:
    parent = trace.get_current_span(context_from({"traceparent": f"00-{TRACE}-{SPAN}-01"}))
    context = parent.get_span_context()
    assert (context.trace_id, context.span_id) == (int(TRACE, 16), int(SPAN, 16))
    assert context.is_remote and context.trace_flags.sampled
