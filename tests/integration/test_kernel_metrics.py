"""Metrics (kernel.metrics): a service started as production starts it pushes its served
calls, by method, status code and refusal, and its relay's events, by type, over OTLP to a
collector (here a real OTLP/gRPC receiver on loopback), each worker process under an
instance id of its own; in process, a subscription counts what it handled, retried and
parked, and nothing is recorded when no exporter is configured."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel import metrics
from kernel.application import Application, UnitOfWork
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import PoisonMessage, SubscriptionRunner
from kernel.testing.servers import Endpoints, free_port
from tests.integration.kernel_fixtures import (
    app,
    db,
    eventually,
    service_process,
    service_process_env,
)
from tests.integration.rich_errors import reason
from tests.integration.test_kernel_subscriptions import (
    consuming,
    record_effect,
    runner_for,
    settled,
)

__all__ = ["app", "db"]

# (instance, metric, frozen attributes) -> the latest cumulative value: a count for a
# counter, the number of observations for a histogram.
Points = dict[tuple[str, str, frozenset[tuple[str, str]]], float]


class Collector(
    metrics_service_pb2_grpc.MetricsServiceServicer, trace_service_pb2_grpc.TraceServiceServicer
):
    """What an OpenTelemetry Collector receives over OTLP/gRPC, kept as the latest points."""

    def __init__(self) -> None:
        self.points: Points = {}
        self.exports = 0

    def Export(self, request: Any, context: Any) -> Any:
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            return trace_service_pb2.ExportTraceServiceResponse()
        self.exports += 1
        for resource_metrics in request.resource_metrics:
            resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
            instance = resource["service.instance.id"]
            assert resource["service.name"] == "inventory"
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        attributes = frozenset(
                            (a.key, a.value.string_value) for a in point.attributes
                        )
                        if kind == "histogram":
                            value = point.count
                        else:  # a sum's or a gauge's number, int or double
                            value = getattr(point, point.WhichOneof("value"))
                        self.points[(instance, metric.name, attributes)] = value
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def total(self, metric: str, **attributes: str) -> float:
        """Summed over instances: the points whose attributes include `attributes`."""
        wanted = set(attributes.items())
        return sum(
            value
            for (_, name, attrs), value in self.points.items()
            if name == metric and wanted <= attrs
        )

    def instances(self, metric: str) -> set[str]:
        return {instance for instance, name, _ in self.points if name == metric}


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    """On threads of its own, as a collector is a process of its own: the service's last
    export, while the test's event loop waits for the service to stop, is answered."""
    received = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(received, server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield received, port
    finally:
        server.stop(0)


@pytest.fixture
def inventory_with_otlp(
    collector: tuple[Collector, int],
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = service_process_env(
        f"127.0.0.1:{port}",
        pg_url,
        endpoints,
        namespace,
        key_pair[1],
        STOREMESH_GRPC_WORKERS="2",
        STOREMESH_LOG_LEVEL="warning",
        STOREMESH_OTEL_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector[1]}",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_METRIC_EXPORT_INTERVAL="300",
    )
    with service_process(env, tmp_path / "inventory.log") as process:
        yield process, port


CONNECTIONS = 16  # over two workers: both get some (1 chance in 32,768 they do not)


async def test_a_service_pushes_its_calls_and_its_relays_events_to_the_collector(
    collector: tuple[Collector, int],
    inventory_with_otlp: tuple[subprocess.Popen[bytes], int],
    mint: Callable[..., str],
) -> None:
    received, _ = collector
    process, port = inventory_with_otlp
    md = (("authorization", f"Bearer {mint('hq')}"),)
    channels = [
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(CONNECTIONS)
    ]
    try:
        stubs = [pb_grpc.InventoryServiceStub(channel) for channel in channels]
        await _registered(stubs[0], md, process)
        await asyncio.gather(
            *(
                stub.ReceiveStock(
                    pb.ReceiveStockRequest(
                        request_id=str(uuid.uuid4()),
                        # A position each: no call waits out another's retries.
                        store_id=f"SZ{k:02d}",
                        part_number="P-100",
                        quantity=1,
                        reference=f"DN-{k}",
                    ),
                    metadata=md,
                    timeout=30,
                )
                for k, stub in enumerate(stubs)
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await stubs[0].ReserveStock(
                pb.ReserveStockRequest(
                    request_id=str(uuid.uuid4()),
                    store_id="SZ01",
                    part_number="P-100",
                    quantity=1_000,
                    ttl_seconds=600,
                ),
                metadata=md,
                timeout=30,
            )
        assert too_many.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stubs[1].ReceiveStock(
                pb.ReceiveStockRequest(request_id=str(uuid.uuid4()), quantity=-1),
                metadata=md,
                timeout=30,
            )
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
            await stubs[2].ReceiveStock(
                pb.ReceiveStockRequest(
                    request_id=str(uuid.uuid4()), store_id="GZ01", part_number="P-100", quantity=1
                ),
                metadata=(("authorization", f"Bearer {mint('dms', 'SZ01')}"),),
                timeout=30,
            )
        assert elsewhere.value.code() is grpc.StatusCode.PERMISSION_DENIED
    finally:
        for channel in channels:
            await channel.close()

    service = "storemesh.inventory.v1.InventoryService"
    duration = "rpc.server.duration"

    async def all_in() -> bool:
        return (
            received.total(duration, **{"rpc.service": service, "rpc.method": "ReceiveStock"})
            == CONNECTIONS + 2
            and received.total("storemesh.relay.published") == CONNECTIONS + 1
        )

    await eventually(all_in, within=30)

    def calls(method: str, code: str, **more: str) -> float:
        return received.total(
            duration,
            **{"rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": code},
            **more,
        )

    assert calls("ReceiveStock", "OK") == CONNECTIONS
    assert calls("ReceiveStock", "INVALID_ARGUMENT") == 1
    # The reason as the caller reads it in ErrorInfo, whichever error carried it.
    assert calls("ReceiveStock", "PERMISSION_DENIED", **{"storemesh.refusal": "STORE_SCOPE"}) == 1
    refusal = {"storemesh.refusal": reason(too_many.value)}
    assert calls("ReserveStock", "FAILED_PRECONDITION", **refusal) == 1
    received_events = received.total(
        "storemesh.relay.published", event_type="storemesh.inventory.events.v1.StockReceived"
    )
    assert received_events == CONNECTIONS
    assert received.total("storemesh.relay.lag") >= 1
    # Each worker under its own instance id, so their cumulative counts add up.
    assert len(received.instances(duration)) == 2

    # The backlog gauges, sampled by each worker at the export interval: the outbox
    # drained, the pools' connections reported by both.
    async def gauged() -> bool:
        return (
            len(received.instances("storemesh.outbox.backlog")) == 2
            and received.total("storemesh.outbox.backlog") == 0
            and len(received.instances("storemesh.db.connections")) == 2
        )

    await eventually(gauged, within=30)
    assert received.total("storemesh.db.connections", pool="reads") >= 1


async def _registered(stub: Any, md: Any, process: subprocess.Popen[bytes]) -> None:
    """The part registered, once the service answers (it starts in the background)."""
    request = pb.RegisterPartRequest(
        request_id=str(uuid.uuid4()),
        part=pb.Part(part_number="P-100", name="Brake pads", category="brakes", unit="set"),
    )
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        assert process.poll() is None, "the service exited"
        try:
            await stub.RegisterPart(request, metadata=md, timeout=5)
            return
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            assert asyncio.get_running_loop().time() < deadline, "never served"
            await asyncio.sleep(0.2)


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    in_memory = InMemoryMetricReader()
    metrics.configure_metrics("ktest", reader=in_memory)
    try:
        yield in_memory
    finally:
        metrics.shutdown_metrics()


def _points(reader: InMemoryMetricReader, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
    data = reader.get_metrics_data()
    found: dict[frozenset[tuple[str, Any]], Any] = {}
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        found[frozenset(point.attributes.items())] = point
    return found


async def test_a_subscription_counts_what_it_handled_retried_and_parked(
    reader: InMemoryMetricReader, app: Application, nats_client: NatsConnection
) -> None:
    poison, flaky, fine = (str(uuid.uuid4()) for _ in range(3))
    failed_once: set[str] = set()

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        if event.event_id == poison:
            raise PoisonMessage("cannot be read")
        if event.event_id == flaky and flaky not in failed_once:
            failed_once.add(flaky)
            raise RuntimeError("a dependency hiccup")
        await record_effect(uow, event)

    runner = runner_for(app, nats_client, handler, batch=1)
    # Each event's time two seconds before the handling's (the clock stands still).
    time = (app.clock.now() - timedelta(seconds=2)).isoformat()
    events = await _consumed(reader, runner, nats_client, {e: time for e in (poison, flaky, fine)})

    assert events == {"handled": 2, "retried": 1, "parked": 1}
    (lag,) = _points(reader, "storemesh.consumer.lag").values()
    assert (lag.count, lag.sum) == (2, 4.0)  # the handled ones, each two seconds after


async def _consumed(
    reader: InMemoryMetricReader,
    runner: SubscriptionRunner,
    nats_client: NatsConnection,
    times: dict[str, str],
) -> dict[str, Any]:
    """The events (id -> ce-time) published, then consumed by `runner` until all are
    settled: the events counted, by outcome."""
    js = await nats_client.jetstream()
    for event_id, time in times.items():
        await js.publish(
            nats_client.subject("ktest.v1.SZ01.Thing"),
            b"x",
            headers={"ce-id": event_id, "ce-time": time, "Nats-Msg-Id": event_id},
        )
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, len(times)), within=30)
    return {
        dict(attrs)["outcome"]: point.value
        for attrs, point in _points(reader, "storemesh.consumer.events").items()
    }


async def test_nothing_is_recorded_without_an_exporter() -> None:
    metrics.shutdown_metrics()
    assert metrics.configure_metrics("ktest", "none") is None
    assert metrics.recording() is None


@pytest.mark.parametrize("batched", [False, True])
async def test_a_malformed_event_time_costs_its_lag_only(
    reader: InMemoryMetricReader, app: Application, nats_client: NatsConnection, batched: bool
) -> None:
    """ce-time is the publisher's (a partner's, or a hostile one's): without an offset, or
    no time at all, it is not measured; the event is still handled and counted, and so are
    those after it in the same fetch (at once: not after their ack wait ran out)."""
    runner = runner_for(app, nats_client, record_effect, batched=batched, ack_wait_seconds=60.0)
    good = (app.clock.now() - timedelta(seconds=2)).isoformat()
    times = ("2026-12-01T10:00:00", "yesterday", good)
    events = await _consumed(reader, runner, nats_client, {str(uuid.uuid4()): t for t in times})

    assert events == {"handled": 3}
    (lag,) = _points(reader, "storemesh.consumer.lag").values()
    assert (lag.count, lag.sum) == (1, 2.0)
