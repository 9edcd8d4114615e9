"""SyncStockCounts end to end over real gRPC on PostgreSQL and SQLite, with JetStream:
a store's whole count recorded as ordinary events, per-position refusals, idempotent
batches and store scope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from storemesh.inventory.events.v1 import events_pb2
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.application import UnitOfWork
from kernel.clock import ManualClock
from kernel.codec import timestamp
from kernel.eventstore import events
from kernel.messaging import NatsConnection
from kernel.testing.servers import Endpoints, create_database, drop_database
from services.inventory.application import PARTS, CountedChunk, Inventory
from services.inventory.bootstrap import build
from services.inventory.domain import counts as counts_module
from services.inventory.domain.catalogue import RegisterPart
from services.inventory.grpc_messages import sync_command
from tests.integration.conftest import Running, delete_streams, running, running_on, settings_for
from tests.integration.inventory_fixtures import InventoryClient, rid
from tests.integration.rich_errors import event_count, failure, reason, violated_fields

SZ, GZ = "SZ01", "GZ01"
BATCH = 5_000
# Generous bounds for a shared machine running other suites (a 5,000-position sync took
# 5-11 s there, its relay to JetStream as long again); the bench measures the rate.
BATCH_SECONDS = 120.0
RELAY_SECONDS = 120.0
Outcome = pb.StockCountResult


@pytest.fixture(params=["postgresql", "sqlite"])
async def inventory_on(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
) -> AsyncIterator[Running]:
    async with running_on(
        request.param,
        build,
        "inventory",
        tmp_path=tmp_path,
        endpoints=endpoints,
        namespace=namespace,
        clock=clock,
        verifier=verifier,
    ) as run:
        yield run


@pytest.fixture
async def hq(inventory_on: Running, mint: Callable[..., str]) -> InventoryClient:
    return InventoryClient(inventory_on, mint("hq"))


async def catalogue_of(hq: InventoryClient, count: int) -> list[str]:
    """`count` parts registered through the catalogue aggregate, 200 per transaction
    (5,000 RegisterPart calls would take most of the test's time). Short transactions:
    on SQLite one holding the write lock past its busy timeout (kernel.db_engines) while
    the service starts leaves its relay dead (kernel/relay.py's start-up is outside its
    retry loop)."""
    numbers = [f"P-{k:05d}" for k in range(count)]
    app = hq.run.service.app

    for first in range(0, count, 200):

        async def register(
            uow: UnitOfWork, batch: list[str] = numbers[first : first + 200]
        ) -> None:
            for n in batch:
                command = RegisterPart(n, f"Part {n}", "bench", "pcs", 1_000, app.clock.now())
                await uow.execute(PARTS, PARTS.stream_id(n), command)

        await app.handle(None, register)
    return numbers


def counts(*lines: tuple[str, int]) -> list[pb.StockCount]:
    return [pb.StockCount(part_number=p, counted_quantity=q) for p, q in lines]


async def sync(
    client: InventoryClient, clock: ManualClock, lines: list[pb.StockCount], **kw: Any
) -> Any:
    fields: dict[str, Any] = dict(
        store_id=SZ, counted_at=timestamp(clock.now()), reason="nightly count", counts=lines
    )
    fields.update(kw)
    return await client.SyncStockCounts(**fields)


async def outcomes(response: Any) -> list[tuple[str, int, str]]:
    return [(r.part_number, r.outcome, r.reason) for r in response.results]


async def test_a_whole_store_count_is_recorded_as_ordinary_events_seen_on_jetstream(
    hq: InventoryClient,
    inventory_on: Running,
    clock: ManualClock,
    nats_client: NatsConnection,
    namespace: str,
) -> None:
    numbers = await catalogue_of(hq, BATCH)
    await hq.ReceiveStock(store_id=SZ, part_number=numbers[0], quantity=7)
    clock.advance(timedelta(minutes=5))
    before = await event_count(inventory_on)
    lines = counts(*((n, 7 if k == 0 else k % 9 + 1) for k, n in enumerate(numbers)))

    started = time.monotonic()
    response = await sync(hq, clock, lines)
    elapsed = time.monotonic() - started

    assert elapsed < BATCH_SECONDS
    assert (response.adjusted, response.unchanged, response.refused) == (BATCH - 1, 1, 0)
    assert [r.part_number for r in response.results] == numbers
    assert response.results[1].on_hand == 2 and response.results[1].available == 2
    assert await event_count(inventory_on) == before + BATCH - 1
    single = await hq.GetStockPosition(store_id=SZ, part_number=numbers[4999])
    assert single.on_hand == 4999 % 9 + 1

    js = (await nats_client.client()).jetstream()
    stream = f"{namespace.upper()}_INVENTORY"
    subject = f"{namespace}.inventory.v1.{SZ}.StockAdjusted"
    published = 0
    deadline = time.monotonic() + RELAY_SECONDS
    while time.monotonic() < deadline:  # bounded: the relay publishes the backlog in batches
        try:
            info = await js.stream_info(stream, subjects_filter=subject)
            published = (info.state.subjects or {}).get(subject, 0)
        except NotFoundError:
            published = 0
        if published >= BATCH - 1:
            break
        await asyncio.sleep(0.2)
    assert published == BATCH - 1
    sub = await js.subscribe(subject, stream=stream)
    try:
        msg = await sub.next_msg(timeout=5)
    finally:
        await sub.unsubscribe()
    body = events_pb2.StockAdjusted.FromString(msg.data)
    assert (body.store_id, body.part_number, body.counted, body.reason) == (
        SZ,
        numbers[1],
        2,
        "nightly count",
    )


async def test_refused_positions_are_reported_and_the_rest_recorded(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    a, b, c = await catalogue_of(hq, 3)
    await hq.ReceiveStock(store_id=SZ, part_number=a, quantity=10)
    await hq.ReserveStock(store_id=SZ, part_number=a, reservation_id="R-1", quantity=6)
    counted_at = clock.now()
    clock.advance(timedelta(minutes=1))
    await hq.ReceiveStock(store_id=SZ, part_number=c, quantity=1)  # moves after the count

    response = await sync(
        hq,
        clock,
        counts((a, 4), ("NO-SUCH", 1), (b, -1), (c, 3)),
        counted_at=timestamp(counted_at),
    )

    assert await outcomes(response) == [
        (a, Outcome.OUTCOME_ADJUSTED, ""),
        ("NO-SUCH", Outcome.OUTCOME_REFUSED, "UNKNOWN_PART"),
        (b, Outcome.OUTCOME_REFUSED, "INVALID_COUNT"),
        (c, Outcome.OUTCOME_REFUSED, "MOVED_SINCE_COUNT"),
    ]
    assert (response.adjusted, response.unchanged, response.refused) == (1, 0, 3)
    # Below the reserved quantity: the reservation is given up, as AdjustStock does.
    after = await hq.GetStockPosition(store_id=SZ, part_number=a)
    assert (after.on_hand, after.reserved, after.available) == (4, 0, 4)
    assert (await hq.GetStockPosition(store_id=SZ, part_number=c)).on_hand == 1


async def test_a_position_past_its_snapshot_is_counted_from_snapshot_and_later_events(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    busy, quiet = await catalogue_of(hq, 2)
    for _ in range(23):  # the stock aggregate snapshots every 20 events
        await hq.ReceiveStock(store_id=SZ, part_number=busy, quantity=1)
    await hq.ReceiveStock(store_id=SZ, part_number=quiet, quantity=4)
    clock.advance(timedelta(minutes=1))

    response = await sync(hq, clock, counts((busy, 20), (quiet, 4)))

    assert await outcomes(response) == [
        (busy, Outcome.OUTCOME_ADJUSTED, ""),
        (quiet, Outcome.OUTCOME_UNCHANGED, ""),
    ]
    async with inventory_on.service.db.transaction("test.adjusted") as conn:
        payload = await conn.scalar(
            select(events.c.payload).where(events.c.event_type.like("%.StockAdjusted"))
        )
    adjusted = events_pb2.StockAdjusted.FromString(payload)
    assert (adjusted.previous_on_hand, adjusted.counted, adjusted.delta) == (23, 20, -3)
    assert (await hq.GetStockPosition(store_id=SZ, part_number=busy)).on_hand == 20


async def test_a_retried_batch_changes_nothing_and_answers_the_same(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 1_200)  # three chunks
    lines = counts(*((n, 3) for n in numbers))
    request_id = rid()
    first = await sync(hq, clock, lines, request_id=request_id)
    recorded = await event_count(inventory_on)

    again = await sync(hq, clock, lines, request_id=request_id)

    assert again == first
    assert first.adjusted == 1_200
    assert await event_count(inventory_on) == recorded


async def test_a_batch_that_stopped_half_way_runs_only_the_rest_on_retry(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 1_000)
    lines = counts(*((n, 2) for n in numbers))
    request_id = rid()
    # The first chunk alone, as if the call had died after committing it.
    inventory = Inventory(inventory_on.service.app)
    command = sync_command(
        pb.SyncStockCountsRequest(
            request_id=request_id,
            store_id=SZ,
            counted_at=timestamp(clock.now()),
            reason="nightly count",
            counts=lines,
        ),
        clock.now(),
    )
    first_chunk = command.chunks(500)[0]
    await inventory.app.handle(
        counts_module.as_chunked_before(first_chunk),  # as that version fingerprinted it
        inventory._count_chunk(first_chunk),
        request_id=f"{request_id}/0",
        result_type=CountedChunk,
    )
    assert await _adjusted_count(inventory_on) == 500

    response = await sync(hq, clock, lines, request_id=request_id)

    assert response.adjusted == 1_000
    assert await _adjusted_count(inventory_on) == 1_000


async def test_the_same_request_id_with_other_counts_is_refused_and_records_nothing(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 600)
    request_id = rid()
    await sync(hq, clock, counts(*((n, 1) for n in numbers[:500])), request_id=request_id)
    recorded = await event_count(inventory_on)

    # The first 500 lines unchanged, 100 more: only the batch digest tells them apart.
    err = await failure(sync(hq, clock, counts(*((n, 1) for n in numbers)), request_id=request_id))

    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err) == "REQUEST_ID_REUSED"
    assert await event_count(inventory_on) == recorded


async def test_another_stores_dms_is_refused_and_nothing_changes(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock, mint: Callable[..., str]
) -> None:
    (part,) = await catalogue_of(hq, 1)
    recorded = await event_count(inventory_on)
    other_dms = hq.as_(mint("dms", GZ))

    err = await failure(sync(other_dms, clock, counts((part, 5))))

    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(err) == "STORE_SCOPE"
    assert await event_count(inventory_on) == recorded
    own = await sync(hq.as_(mint("dms", SZ)), clock, counts((part, 5)))
    assert own.adjusted == 1


async def test_a_malformed_batch_is_refused_whole_naming_each_field(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    (part,) = await catalogue_of(hq, 1)
    recorded = await event_count(inventory_on)

    err = await failure(
        sync(
            hq,
            clock,
            counts((part, 1), ("", 2), (part, 3)),
            store_id="",
            counted_at=timestamp(clock.now() + timedelta(days=1)),
        )
    )

    assert violated_fields(err) == [
        "counted_at",
        "counts[1].part_number",
        "counts[2].part_number",
        "store_id",
    ]
    err = await failure(sync(hq, clock, counts((part, 1), ("P-X", 2), (part, 3))))
    assert violated_fields(err) == ["counts[2].part_number"]
    err = await failure(
        sync(hq, clock, counts((part, 1)), counted_at=timestamp(clock.now() + timedelta(days=1)))
    )
    assert violated_fields(err) == ["counted_at"]
    too_many = counts(*((f"P-{k}", 1) for k in range(10_001)))
    err = await failure(sync(hq, clock, too_many))
    assert violated_fields(err) == ["counts"]
    assert await event_count(inventory_on) == recorded


async def _adjusted_count(run: Running) -> int:
    async with run.service.db.transaction("test.adjusted") as conn:
        query = (
            select(func.count())
            .select_from(events)
            .where(events.c.event_type.like("%.StockAdjusted"))
        )
        return int(await conn.scalar(query) or 0)
