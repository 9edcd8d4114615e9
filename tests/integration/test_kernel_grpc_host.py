"""The gRPC host of a service (the inventory service as the example) over real gRPC,
PostgreSQL and NATS: health, reflection, authentication, per-store authorisation, the
rich error model, graceful shutdown and tracing from the call to the relay's publish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import func, select
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.auth import TokenIssuer, TokenVerifier, generate_keys
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import events
from kernel.grpc_server import LIVENESS
from kernel.telemetry import configure_tracing
from kernel.testing.servers import NatsServerProcess
from services.inventory.bootstrap import build
from tests.integration.conftest import Running, settings_for
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)
from tests.integration.kernel_fixtures import eventually, private_nats, stream_messages

SERVICE_NAME = "storemesh.inventory.v1.InventoryService"


def _details(err: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"no grpc-status-details-bin on {err.code()}: {err.details()}"
    assert status.code == err.code().value[0]
    found: list[Any] = []
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ResourceInfo,
        ):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found.append(message)
    return found


async def _event_count(run: Running) -> int:
    async with run.service.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(events)) or 0)


async def _health(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


# Health and reflection


async def test_health_is_serving_while_database_and_nats_are_reachable(
    inventory_service: Running,
) -> None:
    channel = inventory_service.channel

    async def serving() -> bool:
        return await _health(channel) == SERVING

    await eventually(serving, within=10)
    assert await _health(channel, SERVICE_NAME) == SERVING
    assert await _health(channel, LIVENESS) == SERVING


@pytest.fixture
async def service_on_private_nats(
    pg_url: str,
    private_nats: NatsServerProcess,
    namespace: str,
    clock: ManualClock,
    verifier: TokenVerifier,
) -> AsyncIterator[Running]:
    settings = settings_for("inventory", pg_url, private_nats.url, namespace)
    service = await build(settings, clock=clock, verifier=verifier, timer_interval=3600)
    service.host.health_interval = 0.1  # poll fast: this test watches it change
    port = await service.host.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(service, channel)
    finally:
        await channel.close()
        await service.host.stop(grace=1.0)


async def test_health_is_not_serving_while_nats_is_down_and_commands_still_commit(
    service_on_private_nats: Running,
    private_nats: NatsServerProcess,
    mint: Callable[..., str],
) -> None:
    run = service_on_private_nats
    inv = InventoryClient(run, mint("hq"))

    async def health_is(expected: int) -> bool:
        return await _health(run.channel) == expected

    await eventually(lambda: health_is(SERVING), within=10)
    await register_part(inv)

    private_nats.stop()
    await eventually(lambda: health_is(NOT_SERVING), within=10)
    assert await _health(run.channel, LIVENESS) == SERVING, "liveness does not follow NATS"
    position = await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=4)
    assert position.on_hand == 4, "commands commit while NATS is away"

    private_nats.start()
    await eventually(lambda: health_is(SERVING), within=15)

    async def relayed() -> bool:
        with contextlib.suppress(Exception):
            js = await run.service.nats.jetstream()
            return await stream_messages(js, run.service.nats.stream("INVENTORY")) == 2
        return False

    await eventually(relayed, within=20)


async def test_reflection_lists_the_inventory_service(inventory_service: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(inventory_service.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME),
    ]
    responses = [r async for r in stub.ServerReflectionInfo(iter(requests), timeout=5)]
    listed = {s.name for s in responses[0].list_services_response.service}
    assert SERVICE_NAME in listed
    assert "grpc.health.v1.Health" in listed
    assert responses[1].file_descriptor_response.file_descriptor_proto, "descriptor served"


# Authentication and authorisation


def _position_request() -> pb.GetStockPositionRequest:
    return pb.GetStockPositionRequest(store_id="SZ01", part_number="P-100")


async def _refused(channel: grpc.aio.Channel, metadata: Any) -> grpc.aio.AioRpcError:
    stub = pb_grpc.InventoryServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetStockPosition(_position_request(), metadata=metadata, timeout=5)
    return refused.value


async def test_a_call_without_a_token_is_unauthenticated(inventory_service: Running) -> None:
    for metadata in (None, (("authorization", "Basic dXNlcjpwYXNz"),), (("authorization", ""),)):
        err = await _refused(inventory_service.channel, metadata)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        (info,) = _details(err)
        assert info.reason == "BAD_TOKEN"


@pytest.fixture(scope="module")
def foreign_issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    """Keys the service has never seen."""
    private_key, _ = generate_keys(tmp_path_factory.mktemp("foreign-keys"))
    return TokenIssuer.from_file(private_key)


def _tampered(token: str) -> str:
    """The same token with its claims swapped for an HQ role; the signature left as is."""
    import base64
    import json

    header, claims, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["role"] = "hq"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return ".".join((header, forged, signature))


async def test_an_expired_or_badly_signed_token_is_unauthenticated(
    inventory_service: Running, issuer: TokenIssuer, foreign_issuer: TokenIssuer
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    tokens = {
        "expired": issuer.mint("dms-1", "hq", ttl=timedelta(minutes=5), now=an_hour_ago),
        "foreign key": foreign_issuer.mint("dms-1", "hq"),
        "tampered": _tampered(issuer.mint("dms-1", "dms", ["SZ01"])),
        "garbage": "not.a.jwt",
    }
    for what, token in tokens.items():
        err = await _refused(inventory_service.channel, inventory_service.metadata(token))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, what


async def test_a_dms_of_one_store_cannot_touch_another_store(
    inv: InventoryClient, inventory_service: Running, mint: Callable[..., str]
) -> None:
    await register_part(inv)
    await inv.ReceiveStock(store_id="SZ02", part_number="P-100", quantity=10)
    before = await _event_count(inventory_service)
    dms_sz01 = inv.as_(mint("dms", "SZ01", subject="dms-sz01"))

    attempts = {
        "ReceiveStock": dict(store_id="SZ02", part_number="P-100", quantity=5),
        "ReserveStock": dict(store_id="SZ02", part_number="P-100", quantity=5),
        "AdjustStock": dict(store_id="SZ02", part_number="P-100", counted_quantity=0, reason="x"),
    }
    for method, fields in attempts.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(dms_sz01, method)(**fields)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, method
        assert any(isinstance(d, error_details_pb2.ErrorInfo) for d in _details(refused.value)), (
            method
        )

    position = await inv.GetStockPosition(store_id="SZ02", part_number="P-100")
    assert (position.on_hand, position.reserved) == (10, 0)
    assert await _event_count(inventory_service) == before, "nothing was appended"
    # ...while its own store is open to it.
    own = await dms_sz01.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=2)
    assert own.on_hand == 2


# The rich error model


async def test_bad_input_is_invalid_argument_naming_each_field(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await register_part(inv)
    before = await _event_count(inventory_service)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await inv.ReceiveStock(store_id="", part_number="bad part!", quantity=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad_request,) = [
        d for d in _details(refused.value) if isinstance(d, error_details_pb2.BadRequest)
    ]
    assert sorted(v.field for v in bad_request.field_violations) == ["part_number", "store_id"]
    assert all(v.description for v in bad_request.field_violations)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=0)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad_request,) = _details(refused.value)
    assert [v.field for v in bad_request.field_violations] == ["quantity"]

    assert await _event_count(inventory_service) == before


# Graceful shutdown


async def test_graceful_shutdown_lets_an_in_flight_call_finish(
    inv: InventoryClient,
    inventory_service: Running,
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
) -> None:
    await register_part(inv)
    app = inventory_service.service.app
    original = app.handle
    entered, release = asyncio.Event(), asyncio.Event()

    async def held_handle(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await asyncio.wait_for(release.wait(), 10)
        return await original(*args, **kwargs)

    monkeypatch.setattr(app, "handle", held_handle)
    in_flight = asyncio.create_task(
        inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=3)
    )
    await asyncio.wait_for(entered.wait(), 10)
    stopping = asyncio.create_task(inventory_service.service.host.stop(grace=10.0))

    async def refuses_new_calls() -> bool:
        try:
            await inv.GetStockPosition(store_id="SZ01", part_number="P-100")
        except grpc.aio.AioRpcError as err:
            return err.code() == grpc.StatusCode.UNAVAILABLE
        return False

    await eventually(refuses_new_calls, within=10)
    assert not in_flight.done() and not stopping.done()

    release.set()
    position = await asyncio.wait_for(in_flight, 10)
    assert position.on_hand == 3
    await asyncio.wait_for(stopping, 15)

    check = Database(pg_url)
    try:
        async with check.connect() as conn:
            received = await conn.scalar(
                select(func.count())
                .select_from(events)
                .where(events.c.event_type.like("%StockReceived"))
            )
        assert received == 1, "the in-flight command committed"
    finally:
        await check.dispose()


# Telemetry


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every finished span, in memory. The global provider is installed once per process
    (kernel.telemetry.configure_tracing): take it, whoever installed it, and add to it."""
    provider = configure_tracing("storemesh-tests")
    assert provider is not None, "the global tracer provider is not the SDK's"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays but records nothing more


async def test_a_refused_call_is_no_error_of_the_servers_span(
    spans: InMemorySpanExporter, inv: InventoryClient
) -> None:
    """OpenTelemetry's gRPC conventions: a server span is an ERROR only for the server's
    own faults (INTERNAL, UNAVAILABLE, ...); a caller's refusal leaves its status unset
    and records no exception, with the code in rpc.grpc.status_code."""
    spans.clear()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await inv.ReceiveStock(store_id="", part_number="P-100", quantity=3)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await inv.ReceiveStock(store_id="SZ01", part_number="P-NONE", quantity=3)

    servers = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.SERVER and s.name == f"{SERVICE_NAME}/ReceiveStock"
    ]
    assert [s.attributes["rpc.grpc.status_code"] for s in servers if s.attributes] == [
        bad.value.code().value[0],
        unknown.value.code().value[0],
    ]
    assert [(s.status.status_code, len(s.events)) for s in servers] == [
        (StatusCode.UNSET, 0),
        (StatusCode.UNSET, 0),
    ]


async def test_a_command_traces_from_the_call_through_the_transaction_to_the_publish(
    spans: InMemorySpanExporter, inv: InventoryClient, namespace: str
) -> None:
    await register_part(inv)
    spans.clear()
    await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=3)

    def finished() -> list[ReadableSpan]:
        return list(spans.get_finished_spans())

    (server,) = [
        s
        for s in finished()
        if s.kind == SpanKind.SERVER and s.name == f"{SERVICE_NAME}/ReceiveStock"
    ]
    trace_id = server.context.trace_id
    (transaction,) = [
        s for s in finished() if s.name == "command ReceiveStock" and s.context.trace_id == trace_id
    ]
    assert transaction.attributes is not None
    assert transaction.attributes["db.system"] == "postgresql"
    assert transaction.parent is not None and transaction.parent.span_id == server.context.span_id

    subject = f"{namespace}.inventory.v1.SZ01.StockReceived"

    async def published() -> list[ReadableSpan]:
        return [s for s in finished() if s.kind == SpanKind.PRODUCER and subject in s.name]

    (publish,) = await eventually(published, within=10)
    assert publish.context.trace_id == trace_id, "the event carried the command's trace"
