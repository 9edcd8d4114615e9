"""A joining store's count carrying its DMS's date of each position's last movement, over
real gRPC on PostgreSQL (the bulk path) and SQLite (the per-event projector): its idle
stock is stale stock at once, a receipt makes it move again, an impossible date refuses
its line alone, the date is part of the batch's identity, and replaying the recorded
events rebuilds the read model the sync wrote."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.clock import ManualClock
from kernel.codec import timestamp
from kernel.eventstore import events
from services.inventory import read_model
from services.inventory.application import POSITIONS
from services.inventory.domain.events import StockAdjusted
from services.inventory.domain.stock import stock
from services.inventory.read_model import PositionView
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, rid
from tests.integration.rich_errors import event_count, failure, reason, violated_fields
from tests.integration.test_inventory_stock_sync import (
    SZ,
    catalogue_of,
    hq,
    inventory_on,
    sync,
)

__all__ = ["hq", "inventory_on"]
Outcome = pb.StockCountResult


def dated(part: str, quantity: int, last_moved_at: datetime | None = None) -> pb.StockCount:
    line = pb.StockCount(part_number=part, counted_quantity=quantity)
    if last_moved_at is not None:
        line.last_moved_at.CopyFrom(timestamp(last_moved_at))
    return line


async def stale(client: InventoryClient) -> list[tuple[str, int, int]]:
    listed = await client.ListStaleStock(store_id=SZ)
    return [(i.part_number, i.on_hand, i.idle_days) for i in listed.items]


async def test_a_joining_stores_idle_stock_is_stale_at_once_until_it_moves(
    hq: InventoryClient, clock: ManualClock
) -> None:
    idle, busy, undated = await catalogue_of(hq, 3)
    now = clock.now()

    response = await sync(
        hq,
        clock,
        [
            dated(idle, 4, now - timedelta(days=200)),
            dated(busy, 2, now - timedelta(days=10)),
            dated(undated, 5),
        ],
        reason="joining the network",
    )

    assert (response.adjusted, response.unchanged, response.refused) == (3, 0, 0)
    assert await stale(hq) == [(idle, 4, 200)]
    position = await hq.GetStockPosition(store_id=SZ, part_number=idle)
    assert position.last_movement_at.ToDatetime(tzinfo=now.tzinfo) == now - timedelta(days=200)
    # Without the DMS's date the count is the movement, as before: idle from the count.
    clock.advance(timedelta(days=90))
    assert sorted(await stale(hq)) == sorted([(idle, 4, 290), (busy, 2, 100), (undated, 5, 90)])

    await hq.ReceiveStock(store_id=SZ, part_number=idle, quantity=1)

    assert idle not in [part for part, _, _ in await stale(hq)]


async def test_an_impossible_dms_date_refuses_its_line_and_records_the_rest(
    hq: InventoryClient, clock: ManualClock
) -> None:
    early, late, fine = await catalogue_of(hq, 3)
    epoch, now = datetime(1970, 1, 1, tzinfo=clock.now().tzinfo), clock.now()
    lines = [dated(early, 1, epoch), dated(late, 1, now + timedelta(seconds=1))]

    response = await sync(hq, clock, [*lines, dated(fine, 1, now - timedelta(days=1))])

    assert [(r.part_number, r.outcome, r.reason) for r in response.results] == [
        (early, Outcome.OUTCOME_REFUSED, "INVALID_LAST_MOVED"),
        (late, Outcome.OUTCOME_REFUSED, "INVALID_LAST_MOVED"),
        (fine, Outcome.OUTCOME_ADJUSTED, ""),
    ]
    assert (await hq.GetStockPosition(store_id=SZ, part_number=late)).on_hand == 0


async def test_a_timestamp_out_of_the_calendar_refuses_the_batch_naming_its_line(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    (part,) = await catalogue_of(hq, 1)
    recorded = await event_count(inventory_on)
    year_one = pb.StockCount(
        part_number=part, counted_quantity=1, last_moved_at=Timestamp(seconds=-62_135_596_800)
    )
    bad_nanos = pb.StockCount(
        part_number="P-other", counted_quantity=1, last_moved_at=Timestamp(nanos=-1)
    )

    err = await failure(sync(hq, clock, [year_one, bad_nanos]))

    assert violated_fields(err) == ["counts[0].last_moved_at", "counts[1].last_moved_at"]
    assert await event_count(inventory_on) == recorded


async def test_the_same_request_id_with_another_dms_date_is_refused_and_records_nothing(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    (part,) = await catalogue_of(hq, 1)
    now, request_id = clock.now(), rid()
    first = await sync(
        hq, clock, [dated(part, 3, now - timedelta(days=100))], request_id=request_id
    )
    recorded = await event_count(inventory_on)

    again = await sync(
        hq, clock, [dated(part, 3, now - timedelta(days=100))], request_id=request_id
    )
    err = await failure(
        sync(hq, clock, [dated(part, 3, now - timedelta(days=101))], request_id=request_id)
    )
    undated = await failure(sync(hq, clock, [dated(part, 3)], request_id=request_id))

    assert again == first
    for refused in (err, undated):
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(refused) == "REQUEST_ID_REUSED"
    assert await event_count(inventory_on) == recorded


async def test_replaying_the_recorded_events_rebuilds_the_positions_the_sync_wrote(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 40)
    now = clock.now()
    await hq.ReceiveStock(store_id=SZ, part_number=numbers[0], quantity=2)
    await hq.ReceiveStock(store_id=SZ, part_number=numbers[1], quantity=3)
    await hq.ReserveStock(store_id=SZ, part_number=numbers[1], reservation_id="R-1", quantity=1)
    clock.advance(timedelta(minutes=1))
    lines = [
        dated(n, k % 5, None if k % 3 == 0 else now - timedelta(days=30 * k))
        for k, n in enumerate(numbers)
    ]

    await sync(hq, clock, lines)

    replayed = await _replayed(inventory_on)
    async with inventory_on.service.db.transaction("test.rows") as conn:
        written = [await read_model.get_position(conn, SZ, n) for n in replayed]
    assert written == list(replayed.values())
    assert any(
        view.last_movement_at is not None and view.last_movement_at < now
        for view in replayed.values()
    )


async def _replayed(run: Running) -> dict[str, PositionView]:
    """Each stock position of SZ as folding its stored events gives it (no snapshot)."""
    registry = run.service.app.registry
    async with run.service.db.transaction("test.replay") as conn:
        rows = await conn.execute(
            select(events.c.stream_id, events.c.event_type, events.c.payload)
            .where(events.c.stream_id.like(POSITIONS.stream_id(SZ, "%")))
            .order_by(events.c.position)
        )
        by_stream: dict[str, list[Any]] = {}
        for row in rows:
            by_stream.setdefault(row.stream_id, []).append(
                registry.decode(row.event_type, row.payload)
            )
    assert any(
        isinstance(e, StockAdjusted) and e.last_moved_at is not None
        for history in by_stream.values()
        for e in history
    )
    folded = {s: stock.fold(history) for s, history in by_stream.items()}
    return {p.part_number: PositionView.of(p) for p in folded.values()}
