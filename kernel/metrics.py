"""Metrics of the plumbing every service shares: served calls, the relay (events published
by type: a saga's end is its Completed, Compensated, Failed or ResolvedByHand event),
subscriptions and timers, as OpenTelemetry instruments.

Exported as traces are (`STOREMESH_OTEL_EXPORTER`): `otlp` pushes them to the collector
`OTEL_EXPORTER_OTLP_ENDPOINT` names, every `OTEL_METRIC_EXPORT_INTERVAL` ms (the SDK's
default 60 s), each process on its own under a `service.instance.id` of its own (host,
pid and a random part: the workers of one pod, a restarted process);
`console` prints them to stderr at that interval; `none` (the default) installs nothing,
and then nothing is recorded either: every hook below asks `recording()` first, so a
service that exports no metrics pays one global read per hook, not the SDK's
bookkeeping on the hot path.

Names follow OpenTelemetry's semantic conventions where they have one (`rpc.server.duration`)
and are ours under `storemesh.` otherwise; every attribute value is drawn from a bounded
set (methods, status codes, refusal reasons, event types, subscription, relay and timer
names), never from a request's own values.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

# Seconds: from a millisecond (a served call on a warm path) to minutes (a relay or a
# consumer that waited out an outage).
_SECONDS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
_MILLISECONDS = tuple(s * 1000 for s in _SECONDS)

Reading = tuple[float, dict[str, str]]

# The gauges kernel.gauges samples: name, unit, description.
GAUGES = (
    (
        "storemesh.outbox.backlog",
        "{event}",
        "Committed events the relay has not yet seen acknowledged by JetStream (the outbox)",
    ),
    (
        "storemesh.outbox.oldest_age",
        "s",
        "How long the oldest event in the outbox has waited since its commit (0: none waits)",
    ),
    (
        "storemesh.timers.due",
        "{timer}",
        "Durable timers come due and not yet fired, by kind (a runner behind, or failing)",
    ),
    (
        "storemesh.timers.oldest_due_age",
        "s",
        "How long the longest-due timer not yet fired has been due (0: none is due)",
    ),
    (
        "storemesh.consumer.pending",
        "{event}",
        "Events in a subscription's JetStream stream not yet delivered to it, by subscription",
    ),
    (
        "storemesh.consumer.ack_pending",
        "{event}",
        "Events delivered to a subscription and not yet acknowledged, by subscription",
    ),
    (
        "storemesh.consumer.parked",
        "{event}",
        "Events a subscription parked in the dead-letter stream and no one has replayed "
        "or removed yet, by subscription",
    ),
    (
        "storemesh.db.connections",
        "{connection}",
        "Open database connections, by pool (engine: transactions; reads: the autocommit "
        "pool) and state (in_use, idle)",
    ),
)


@dataclass
class Readings:
    """The last sample of each gauge (kernel.gauges), read by the SDK's callbacks on its
    export thread: a gauge's list is replaced whole, never changed in place, so a callback
    sees the old sample or the new one. A gauge without a sample reports nothing (a
    sample that failed leaves none: no stale value stands in for an unknown one)."""

    latest: dict[str, list[Reading]] = field(default_factory=dict)

    def observe(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, attributes) for value, attributes in self.latest.get(name, ())
            ]

        return callback


@dataclass(frozen=True)
class Instruments:
    """The instruments of one MeterProvider (one per process in production)."""

    provider: MeterProvider
    rpc_duration: Histogram
    relay_published: Counter
    relay_lag: Histogram
    relay_failures: Counter
    consumer_events: Counter
    consumer_lag: Histogram
    timers_fired: Counter
    readings: Readings

    def served(self, method: str, code: str, refusal: str, milliseconds: float) -> None:
        """One served unary call: `method` as gRPC names it (/package.Service/Method)."""
        service, _, name = method.lstrip("/").partition("/")
        attributes = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            "rpc.grpc.status_code": code,
        }
        if refusal:
            attributes["storemesh.refusal"] = refusal
        self.rpc_duration.record(milliseconds, attributes)


_current: Instruments | None = None


def recording() -> Instruments | None:
    """The instruments, when metrics go anywhere; else None (record nothing)."""
    return _current


def configure_metrics(
    service: str, exporter: str = "none", *, reader: MetricReader | None = None
) -> Instruments | None:
    """Install the process's instruments: with `reader` (a test's in-memory reader) that
    reader, else by `exporter` (otlp, console; none installs nothing). A later call with a
    reader replaces what is installed (tests); without one it keeps it (a process
    configures once)."""
    global _current
    if _current is not None and reader is None:
        return _current
    if reader is None:
        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )

            reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        elif exporter == "console":
            reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))
        else:
            return None
    instance = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": service, "service.instance.id": instance}),
    )
    previous, _current = _current, _instruments(provider)
    if previous is not None:
        previous.provider.shutdown()
    return _current


def shutdown_metrics() -> None:
    """Export what is left and stop (a stopping process; a test's end)."""
    global _current
    current, _current = _current, None
    if current is not None:
        current.provider.shutdown()


def _instruments(provider: MeterProvider) -> Instruments:
    meter = provider.get_meter("storemesh.kernel")
    readings = Readings()
    for name, unit, description in GAUGES:
        meter.create_observable_gauge(
            name, callbacks=[readings.observe(name)], unit=unit, description=description
        )
    return Instruments(
        provider=provider,
        rpc_duration=meter.create_histogram(
            "rpc.server.duration",
            unit="ms",
            description="Served unary calls, by method and gRPC status code (and the "
            "refusal's reason where it has one)",
            explicit_bucket_boundaries_advisory=_MILLISECONDS,
        ),
        relay_published=meter.create_counter(
            "storemesh.relay.published",
            unit="{event}",
            description="Events the relay published to JetStream and saw acknowledged, "
            "by event type",
        ),
        relay_lag=meter.create_histogram(
            "storemesh.relay.lag",
            unit="s",
            description="From the commit of a batch's oldest event to JetStream's ack of the batch",
            explicit_bucket_boundaries_advisory=_SECONDS,
        ),
        relay_failures=meter.create_counter(
            "storemesh.relay.failures",
            unit="{pass}",
            description="Relay passes that failed and will be retried, by kind "
            "(unavailable: the database or NATS away; error: anything else)",
        ),
        consumer_events=meter.create_counter(
            "storemesh.consumer.events",
            unit="{event}",
            description="Events a subscription took from its JetStream consumer, by "
            "outcome: handled, retried (nak'd to come again), parked (dead-lettered), "
            "skipped (a subject it does not follow)",
        ),
        consumer_lag=meter.create_histogram(
            "storemesh.consumer.lag",
            unit="s",
            description="From an event's time (its ce-time) to its handling committed",
            explicit_bucket_boundaries_advisory=_SECONDS,
        ),
        timers_fired=meter.create_counter(
            "storemesh.timers.fired",
            unit="{timer}",
            description="Durable timers that came due, by kind and outcome: fired, "
            "conflict and unavailable (retried), refused, failed (retried with backoff)",
        ),
        readings=readings,
    )
