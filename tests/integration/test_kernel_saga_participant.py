"""The saga runtime against a real participant: the inventory service over real gRPC.

The toy SOP 1 saga (reserve at the source -> approval within 10 minutes -> ship) runs in
its own database (PostgreSQL or SQLite) and calls inventory, which runs on PostgreSQL.
Time moves only on the shared ManualClock; deadlines fire through `TimerRunner.run_due()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Status
from kernel.telemetry import configure_tracing
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.saga_fixtures import (
    DG,
    SZ,
    approve,
    index,
    inventory_events_of,
    is_now,
    outbox,
    replicas,
    request_transfer,
    reserved,
    saga_db_url,
    saga_events,
    status,
    stocked,
)
from tests.unit.kernel.saga_toy import TransferApproved


async def test_a_silent_source_is_released_when_the_approval_deadline_passes(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv)
    r = await replicas()
    assert await request_transfer(r, "T-1") == "running"
    assert await r.dispatcher.dispatch_once() == 1
    assert await reserved(inv) == 2
    assert await saga_events(r, "T-1") == [
        "TransferRequested",
        "SourceReserved",
        "ApprovalRequested",
    ]
    assert await index(r, Status.RUNNING) == [("T-1", "approval", "")]

    clock.advance(timedelta(minutes=9))
    assert await r.timers.run_due() == 0
    clock.advance(timedelta(minutes=1))
    assert await r.timers.run_due() == 1
    assert [row.call_key for row in await outbox(r)] == ["reserve.undo"]
    assert await index(r, Status.COMPENSATING) == [("T-1", "reserve.undo", "approval expired")]
    assert await r.dispatcher.dispatch_once() == 1
    assert await index(r, Status.COMPENSATED) == [("T-1", "", "approval expired")]
    assert await index(r, Status.RUNNING) == []

    assert await reserved(inv) == 0
    assert await status(r, "T-1") is Status.COMPENSATED
    assert (await saga_events(r, "T-1"))[3:] == [
        "ApprovalExpired",
        "ReservationReleased",
        "TransferCompensated",
    ]
    assert await inventory_events_of(inventory_service) == [
        "StockReceived",
        "StockReserved",
        "ReservationReleased",
    ]
    assert await outbox(r) == []

    # The approval arrives late: refused on the API, ignored from a subscription.
    with pytest.raises(RuleViolated) as refused:
        await approve(r, "T-1")
    assert refused.value.reason == "SAGA_NOT_AWAITING"
    async with r.db.transaction() as conn:
        late = TransferApproved("T-1", SZ, clock.now())
        assert await r.runtime.offer(r.app.unit_of_work(conn), "T-1", late) is False
    assert len(await saga_events(r, "T-1")) == 6


async def test_a_silent_source_is_released_before_the_next_source_reserves(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv, stores=(SZ, DG))
    r = await replicas()
    await request_transfer(r, "T-1", sources=(SZ, DG))
    await r.dispatcher.dispatch_once()
    clock.advance(timedelta(minutes=10))
    assert await r.timers.run_due() == 1
    assert await r.dispatcher.dispatch_once() == 1, "the release at the first source"
    assert (await reserved(inv, SZ), await reserved(inv, DG)) == (0, 0)
    assert await r.dispatcher.dispatch_once() == 1, "the reservation at the next source"
    assert (await reserved(inv, SZ), await reserved(inv, DG)) == (0, 2)
    assert (await saga_events(r, "T-1"))[3:] == [
        "ApprovalExpired",
        "ReservationReleased",
        "NextSourceChosen",
        "SourceReserved",
        "ApprovalRequested",
    ]
    assert await inventory_events_of(inventory_service, DG) == ["StockReceived", "StockReserved"]


async def asking_approval(r: Any, transfer_id: str) -> bool:
    return "ApprovalRequested" in await saga_events(r, transfer_id)


async def test_the_dispatcher_loop_calls_as_soon_as_a_step_commits(
    replicas: Any, inv: InventoryClient
) -> None:
    await stocked(inv)
    r = await replicas(interval=3600)  # only a wake-up can make it look again
    r.app.notify_on_commit(r.dispatcher.wake)
    stop = asyncio.Event()
    loop = asyncio.create_task(r.dispatcher.run(stop))
    try:
        await request_transfer(r, "T-1")
        await eventually(lambda: is_now(reserved(inv), 2), within=10.0)
        # Inventory answers before the saga records the reply: approve once it asks.
        await eventually(lambda: asking_approval(r, "T-1"), within=10.0)
        await approve(r, "T-1")
        await eventually(lambda: is_now(status(r, "T-1"), Status.COMPLETED), within=10.0)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5.0)
    assert r.dispatcher.performed == 2


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished spans in memory, on the process's one global provider."""
    provider = configure_tracing("storemesh-tests")
    assert provider is not None, "the global tracer provider is not the SDK's"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_a_saga_call_continues_the_trace_of_the_request_that_decided_it(
    spans: InMemorySpanExporter, replicas: Any, inv: InventoryClient
) -> None:
    await stocked(inv)
    r = await replicas()
    with trace.get_tracer("test").start_as_current_span("collab RequestTransfer") as request:
        await request_transfer(r, "T-1")
    trace_id = request.get_span_context().trace_id
    spans.clear()
    await r.dispatcher.dispatch_once()

    finished = list(spans.get_finished_spans())
    (call,) = [s for s in finished if s.kind == SpanKind.CLIENT and "ReserveStock" in s.name]
    assert call.context.trace_id == trace_id
    (served,) = [
        s
        for s in finished
        if s.kind == SpanKind.SERVER and s.name.endswith("InventoryService/ReserveStock")
    ]
    assert served.context.trace_id == trace_id
    assert served.parent is not None and served.parent.span_id == call.context.span_id
