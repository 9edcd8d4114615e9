"""The saga runtime against a real participant: the inventory service over real gRPC.

The toy SOP 1 saga (reserve at the source -> approval within 10 minutes -> ship) runs in
its own database (PostgreSQL or SQLite) and calls inventory, which runs on PostgreSQL.
Time moves only on the shared ManualClock; deadlines fire through `TimerRunner.run_due()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from storemesh.inventory.events.v1 import events_pb2 as inventory_events
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import RuleViolated
from kernel.eventstore import KERNEL_MIGRATIONS, EventStore, events
from kernel.saga import (
    MIGRATIONS,
    Participant,
    SagaDispatcher,
    SagaRuntime,
    Status,
    pending_calls,
    request_id,
    sagas_in,
)
from kernel.saga.dispatcher import Answer
from kernel.telemetry import configure_tracing
from kernel.testing.servers import Endpoints, create_database, drop_database, free_port
from kernel.timers import TimerRunner
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.unit.kernel.saga_toy import (
    REGISTRY,
    TRANSFER,
    TransferApproved,
    TransferRequested,
)

SZ, GZ, DG, PART = "SZ01", "GZ01", "DG01", "P-100"
INVENTORY_API = pb.DESCRIPTOR.services_by_name["InventoryService"]


@pytest.fixture(params=["postgresql", "sqlite"])
def saga_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The saga's own store, on either database; inventory keeps its PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'collab.db'}"
        return
    endpoints: Endpoints = request.getfixturevalue("endpoints")
    url = create_database(endpoints.postgres_url, prefix="storemesh_saga")
    yield url
    drop_database(url, endpoints.postgres_url)


@dataclass
class Replica:
    """One process of the saga's service: its application, timers and dispatcher."""

    db: Database
    app: Application
    runtime: SagaRuntime[Any]
    timers: TimerRunner
    dispatcher: SagaDispatcher


class ProcessKilled(BaseException):
    """The process died: nothing after this point of the call ran."""


class KilledAfterCalling(Participant):
    """Performs the call for real, then the process dies before recording the reply."""

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        await super().call(method, fields, request_id)
        raise ProcessKilled


class HeldBack(Participant):
    """A call that reaches the participant only when the test opens the gate."""

    gate = asyncio.Event()

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        await self.gate.wait()
        return await super().call(method, fields, request_id)


@pytest.fixture
async def replicas(
    saga_db_url: str,
    clock: ManualClock,
    inventory_service: Running,
    mint: Callable[..., str],
) -> AsyncIterator[Callable[..., Any]]:
    made: list[Database] = []
    token = mint("service")

    async def replica(
        participant_type: type[Participant] = Participant,
        channel: Any = None,
        batch: int = 32,
        interval: float = 0.5,
        lease: timedelta = timedelta(seconds=30),
    ) -> Replica:
        db = Database(saga_db_url)
        made.append(db)
        await db.migrate("kernel", KERNEL_MIGRATIONS)
        await db.migrate("saga", MIGRATIONS)
        app = Application(db, REGISTRY, clock)
        runtime = SagaRuntime(TRANSFER, store_of=lambda e: e.store_id)
        inventory = participant_type(
            "inventory",
            channel or inventory_service.channel,
            INVENTORY_API,
            metadata=lambda: (("authorization", f"Bearer {token}"),),
        )
        dispatcher = SagaDispatcher(
            app,
            [runtime],
            [inventory],
            max_attempts=3,
            batch=batch,
            interval=interval,
            lease=lease,
        )
        return Replica(db, app, runtime, TimerRunner(app, runtime.timer_handlers()), dispatcher)

    yield replica
    for db in made:
        await db.dispose()


async def request_transfer(
    r: Replica, transfer_id: str, quantity: int = 2, sources: tuple[str, ...] = (SZ,)
) -> Any:
    requested = TransferRequested(transfer_id, GZ, sources, PART, quantity, r.app.clock.now())

    async def handler(uow: UnitOfWork) -> str:
        return (await r.runtime.start(uow, transfer_id, requested)).status.value

    return await r.app.handle(requested, handler, request_id=f"request-{transfer_id}")


async def approve(r: Replica, transfer_id: str) -> None:
    approved = TransferApproved(transfer_id, SZ, r.app.clock.now())

    async def handler(uow: UnitOfWork) -> None:
        await r.runtime.signal(uow, transfer_id, approved)

    await r.app.handle(approved, handler)


async def saga_events(r: Replica, transfer_id: str) -> list[str]:
    async with r.db.transaction() as conn:
        recorded = await EventStore().read_stream(conn, r.runtime.stream_id(transfer_id))
    return [REGISTRY.short_name(e.event_type) for e in recorded]


async def status(r: Replica, transfer_id: str) -> Status:
    async with r.db.transaction() as conn:
        state = await r.runtime.state(r.app.unit_of_work(conn), transfer_id)
    return state.status


async def index(r: Replica, state: Status) -> list[tuple[str, str, str]]:
    async with r.db.transaction() as conn:
        rows = await sagas_in(conn, "transfer", state)
    return [(row.saga_id, row.step, row.reason) for row in rows]


async def outbox(r: Replica) -> list[Any]:
    async with r.db.transaction() as conn:
        return await pending_calls(conn)


async def inventory_events_of(run: Running, store: str = SZ) -> list[str]:
    """The types of the events in the source position's stream at inventory."""
    async with run.service.db.transaction() as conn:
        rows = (
            await conn.execute(
                select(events.c.event_type)
                .where(events.c.stream_id == f"stock/{store}/{PART}")
                .order_by(events.c.stream_version)
            )
        ).scalars()
        return [name.rsplit(".", 1)[-1] for name in rows]


async def reserved(inv: InventoryClient, store: str = SZ) -> int:
    return int((await inv.GetStockPosition(store_id=store, part_number=PART)).reserved)


async def stocked(
    inv: InventoryClient, quantity: int = 10, stores: tuple[str, ...] = (SZ,)
) -> None:
    await inv.RegisterPart(
        part=pb.Part(part_number=PART, name="Headlight", category="body", unit="pc")
    )
    for store in stores:
        await inv.ReceiveStock(store_id=store, part_number=PART, quantity=quantity)


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
        await eventually(lambda: _is(reserved(inv), 2), within=10.0)
        await approve(r, "T-1")
        await eventually(lambda: _is(status(r, "T-1"), Status.COMPLETED), within=10.0)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5.0)
    assert r.dispatcher.performed == 2


async def _is(probe: Any, expected: Any) -> bool:
    return bool(await probe == expected)


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


async def test_a_dispatcher_killed_after_its_call_does_not_reserve_twice_once_restarted(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv)
    doomed = await replicas(KilledAfterCalling)
    await request_transfer(doomed, "T-1")
    with pytest.raises(ProcessKilled):
        await doomed.dispatcher.dispatch_once()
    assert await reserved(inv) == 2, "the call reached inventory before the process died"
    assert await saga_events(doomed, "T-1") == ["TransferRequested"]

    restarted = await replicas()
    assert await restarted.dispatcher.dispatch_once() == 0, "the dead one's lease still holds"
    clock.advance(restarted.dispatcher.lease)
    assert await restarted.dispatcher.dispatch_once() == 1

    assert await reserved(inv) == 2
    assert await inventory_events_of(inventory_service) == ["StockReceived", "StockReserved"]
    assert await saga_events(restarted, "T-1") == [
        "TransferRequested",
        "SourceReserved",
        "ApprovalRequested",
    ]

    # Killed again between the approval and the shipment: shipped once all the same.
    await approve(restarted, "T-1")
    doomed_again = await replicas(KilledAfterCalling)
    with pytest.raises(ProcessKilled):
        await doomed_again.dispatcher.dispatch_once()
    clock.advance(restarted.dispatcher.lease)
    assert await restarted.dispatcher.dispatch_once() == 1
    assert await status(restarted, "T-1") is Status.COMPLETED
    assert await inventory_events_of(inventory_service) == [
        "StockReceived",
        "StockReserved",
        "TransferShipped",
    ]
    position = await inv.GetStockPosition(store_id=SZ, part_number=PART)
    assert (position.on_hand, position.reserved, position.in_transit_out) == (8, 0, 2)


async def test_a_reservation_landing_after_its_deadline_is_released_all_the_same(
    replicas: Any, inv: InventoryClient, clock: ManualClock
) -> None:
    await stocked(inv)
    HeldBack.gate = asyncio.Event()
    r = await replicas(HeldBack, lease=timedelta(minutes=8))
    await request_transfer(r, "T-1")
    in_flight = asyncio.create_task(r.dispatcher.dispatch_once())

    async def claimed() -> bool:
        return [row.attempts for row in await outbox(r)] == [1]

    await eventually(claimed, within=10.0)
    clock.advance(timedelta(minutes=5))
    assert await r.timers.run_due() == 1
    assert await saga_events(r, "T-1") == ["TransferRequested", "SourceUnanswered"]
    [undo] = await outbox(r)
    assert (undo.call_key, undo.due_at) == ("reserve.undo", clock.now() + timedelta(minutes=3))

    HeldBack.gate.set()
    await asyncio.wait_for(in_flight, 10.0)
    assert await reserved(inv) == 2, "the late call still reserved"
    assert await saga_events(r, "T-1") == ["TransferRequested", "SourceUnanswered"]
    assert await r.dispatcher.dispatch_once() == 0, "the undo waits for the call's lease"
    clock.advance(timedelta(minutes=3))
    assert await r.dispatcher.dispatch_once() == 1
    assert await reserved(inv) == 0
    assert await status(r, "T-1") is Status.COMPENSATED


async def test_two_dispatchers_at_once_perform_each_call_once(
    replicas: Any, inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, quantity=100)
    first, second = await replicas(batch=4), await replicas(batch=4)
    transfers = [f"T-{n}" for n in range(12)]
    for transfer_id in transfers:
        await request_transfer(first, transfer_id, quantity=1)

    for _ in range(20):  # bounded: every call is due at once
        if not await outbox(first):
            break
        await asyncio.gather(first.dispatcher.dispatch_once(), second.dispatcher.dispatch_once())

    assert first.dispatcher.performed + second.dispatcher.performed == len(transfers)
    assert first.dispatcher.performed > 0 and second.dispatcher.performed > 0
    assert await reserved(inv) == len(transfers)
    assert (await inventory_events_of(inventory_service)).count("StockReserved") == len(transfers)
    for transfer_id in transfers:
        assert (await saga_events(first, transfer_id)).count("SourceReserved") == 1


class ReplyLostOnce(Participant):
    """The first attempt acts at the callee but its answer is lost (UNAVAILABLE)."""

    seen: ClassVar[list[str]] = []

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        self.seen.append(request_id)
        answer = await super().call(method, fields, request_id)
        if len(self.seen) == 1:
            return Answer(None, {}, "UNAVAILABLE: connection reset")
        return answer


async def test_a_call_whose_answer_was_lost_is_retried_with_its_request_id_and_acts_once(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv)
    ReplyLostOnce.seen = []
    r = await replicas(ReplyLostOnce)
    await request_transfer(r, "T-1")
    assert await r.dispatcher.dispatch_once() == 1
    [row] = await outbox(r)
    assert (row.attempts, row.last_error) == (1, "UNAVAILABLE: connection reset")
    assert await r.dispatcher.dispatch_once() == 0, "not before its backoff"
    clock.advance(timedelta(seconds=2))
    assert await r.dispatcher.dispatch_once() == 1

    assert ReplyLostOnce.seen == [request_id("transfer", "T-1", "reserve")] * 2
    assert await reserved(inv) == 2
    assert await inventory_events_of(inventory_service) == ["StockReceived", "StockReserved"]
    assert (await saga_events(r, "T-1"))[1:] == ["SourceReserved", "ApprovalRequested"]


async def test_a_participant_down_past_the_retries_ends_the_saga_failed(
    replicas: Any, clock: ManualClock
) -> None:
    nobody = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    try:
        r = await replicas(channel=nobody)
        await request_transfer(r, "T-1")
        for _ in range(12):  # bounded: 3 attempts of the reservation, 3 of its release
            if await status(r, "T-1") in (Status.COMPENSATED, Status.FAILED):
                break
            await r.dispatcher.dispatch_once()
            clock.advance(r.dispatcher.max_backoff)
        calls = await outbox(r)
    finally:
        await nobody.close()
    assert await status(r, "T-1") is Status.FAILED
    assert await saga_events(r, "T-1") == [
        "TransferRequested",
        "SourceUnanswered",
        "TransferFailed",
    ]
    assert calls == []
    assert r.dispatcher.performed == 6
    assert await index(r, Status.FAILED) == [("T-1", "", "reserve.undo failed")]


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
