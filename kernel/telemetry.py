"""Logs and traces: structlog JSON carrying trace, span and request ids; OpenTelemetry spans."""

from __future__ import annotations

import logging
import random
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

request_id_var: ContextVar[str] = ContextVar("storemesh_request_id", default="")
_configured: dict[str, bool] = {}


def _add_trace_ids(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")
    request_id = request_id_var.get()
    if request_id:
        event["request_id"] = request_id
    return event


def configure_logging(service: str, level: str = "info") -> None:
    if _configured.get("logging"):
        return
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    _configured["logging"] = True


def configure_tracing(
    service: str, exporter: str = "none", span_exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the global tracer provider once: console, otlp, none, or a given exporter."""
    if _configured.get("tracing"):
        provider = trace.get_tracer_provider()
        return provider if isinstance(provider, TracerProvider) else None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured["tracing"] = True
    return provider


def spans_exported() -> bool:
    """Whether a span would reach anyone: an SDK provider with a span processor. The
    services' default exporter `none` installs the SDK without one; a processor added
    later (a test's in-memory exporter) counts from then on."""
    return _processors_in(trace.get_tracer_provider())


def _processors_in(provider: trace.TracerProvider) -> bool:
    if not isinstance(provider, TracerProvider):
        return False  # the API's no-op provider
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    return processors is None or len(processors) > 0


@contextmanager
def span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: otel_context.Context | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[trace.Link] | None = None,
    errors_recorded: bool = True,
) -> Iterator[trace.Span]:
    """The current span for a served call, a consumed message or a transaction.

    `errors_recorded`: an exception leaving the block is recorded on the span and sets its
    status to ERROR (the SDK's default); a served call passes False and sets both itself,
    since a caller's refusal is no fault of the server's.

    Exported (a span processor installed): an SDK span, as `start_as_current_span` makes
    it. Not exported: a span that records nothing, yet names its own span id under its
    parent's trace (a new trace for a root), so stored traceparents, consumers' spans and
    log lines still join one trace id: at a fraction of the SDK span's cost, which nobody
    would see."""
    if spans_exported():
        with tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            links=links,
            record_exception=errors_recorded,
            set_status_on_exception=errors_recorded,
        ) as exported:
            yield exported
        return
    unrecorded = _unrecorded_child(context)
    # Onto the current context, as the SDK attaches its span: only the parent comes from
    # `context`, not its other values (baggage extracted from a carrier stays out).
    token = otel_context.attach(trace.set_span_in_context(unrecorded))
    try:
        yield unrecorded
    finally:
        otel_context.detach(token)


def _unrecorded_child(context: otel_context.Context | None) -> trace.Span:
    parent = trace.get_current_span(context).get_span_context()
    span_id = random.getrandbits(64) or 1
    if parent.is_valid:
        child = trace.SpanContext(
            parent.trace_id,
            span_id,
            is_remote=False,
            trace_flags=parent.trace_flags,
            trace_state=parent.trace_state,
        )
    else:
        child = trace.SpanContext(
            random.getrandbits(128) or 1,
            span_id,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    return trace.NonRecordingSpan(child)


def current_trace_metadata() -> dict[str, Any]:
    """The W3C trace context of the current span, to be stored beside an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}


def traceparent_of(span: trace.Span) -> str:
    """The W3C traceparent naming this span (cheaper than a propagator per message)."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def context_from(carrier: Mapping[str, str]) -> otel_context.Context:
    """The remote parent a stored traceparent names. A plain version-00 traceparent with no
    tracestate is parsed here (the relay does this for every message it publishes; the
    propagator costs several times more); anything else goes to the propagator."""
    parent = carrier.get("traceparent")
    if parent is not None and "tracestate" not in carrier:
        context = _parse_traceparent(parent)
        if context is not None:
            return trace.set_span_in_context(trace.NonRecordingSpan(context))
    return propagate.extract(dict(carrier))


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _parse_traceparent(value: str) -> trace.SpanContext | None:
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id, flags = (int(g, 16) for g in match.groups())
    if trace_id == 0 or span_id == 0:
        return None
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))
