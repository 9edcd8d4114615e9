"""SyncStockCounts' bulk path on PostgreSQL (one transaction, events by COPY): a retried
batch answers its first reply after the stock moved on, refusals stay per line, a unary
ReceiveStock racing the batch is never lost, and the relay publishes the batch's events
exactly as stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select
from storemesh.inventory.events.v1 import events_pb2
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.clock import ManualClock
from kernel.eventstore import command_log, events
from kernel.messaging import NatsConnection
from services.inventory import application
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, rid
from tests.integration.rich_errors import event_count
from tests.integration.test_inventory_stock_sync import (
    SZ,
    catalogue_of,
    counts,
    hq,
    inventory_on,
    sync,
)

Outcome = pb.StockCountResult
RELAY_SECONDS = 60.0


# The existing module's service and client, on PostgreSQL only (the bulk path's database).
pytestmark = pytest.mark.parametrize("inventory_on", ["postgresql"], indirect=True)
__all__ = ["hq", "inventory_on"]


async def adjusted_events(run: Running) -> list[events_pb2.StockAdjusted]:
    async with run.service.db.transaction("test.adjusted") as conn:
        rows = await conn.execute(
            select(events.c.payload)
            .where(events.c.event_type.like("%.StockAdjusted"))
            .order_by(events.c.position)
        )
        return [events_pb2.StockAdjusted.FromString(r.payload) for r in rows]


async def test_a_retry_after_the_stock_moved_answers_the_first_reply_and_records_nothing(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    request_id, numbers = rid(), await catalogue_of(hq, 800)
    lines = counts(*((n, 4) for n in numbers))
    first = await sync(hq, clock, lines, request_id=request_id)
    # The stock moves on: deciding the batch again would now record 800 adjustments.
    second = await sync(hq, clock, counts(*((n, 9) for n in numbers)))
    assert second.adjusted == 800
    recorded = await event_count(inventory_on)

    again = await sync(hq, clock, lines, request_id=request_id)

    assert again == first
    assert (first.adjusted, first.unchanged, first.refused) == (800, 0, 0)
    assert await event_count(inventory_on) == recorded
    assert (await hq.GetStockPosition(store_id=SZ, part_number=numbers[0])).on_hand == 9
    async with inventory_on.service.db.transaction("test.log") as conn:
        logged = (
            await conn.execute(
                select(command_log.c.request_id).where(
                    command_log.c.request_id.like(f"{request_id}%")
                )
            )
        ).all()
    assert [row.request_id for row in logged] == [request_id]  # one row per batch


async def test_bad_lines_are_refused_with_reasons_and_every_other_line_recorded(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 1_000)
    lines = [(n, -5 if k % 100 == 7 else k % 9 + 1) for k, n in enumerate(numbers)] + [
        ("NOT-IN-CATALOGUE", 3)
    ]

    response = await sync(hq, clock, counts(*lines))

    refused = [
        (r.part_number, r.reason) for r in response.results if r.outcome == Outcome.OUTCOME_REFUSED
    ]
    assert refused == [(n, "INVALID_COUNT") for k, n in enumerate(numbers) if k % 100 == 7] + [
        ("NOT-IN-CATALOGUE", "UNKNOWN_PART")
    ]
    assert all(r.message for r in response.results if r.outcome == Outcome.OUTCOME_REFUSED)
    assert (response.adjusted, response.unchanged, response.refused) == (990, 0, 11)
    recorded = await adjusted_events(inventory_on)
    assert [e.part_number for e in recorded] == [n for k, n in enumerate(numbers) if k % 100 != 7]
    assert all(e.counted == e.delta and e.reason == "nightly count" for e in recorded)
    # The read model holds every recorded position, and none of the refused ones.
    listed = await hq.GetStockPosition(store_id=SZ, part_number=numbers[998])
    assert (listed.on_hand, listed.available) == (998 % 9 + 1, 998 % 9 + 1)


async def test_a_receipt_committed_while_the_batch_decides_is_not_lost(
    hq: InventoryClient,
    inventory_on: Running,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The receipt commits between the batch's load and its append: the append finds the
    position past the version it loaded, the whole batch is decided again on the new
    state, and the count's StockAdjusted starts from the quantity the receipt left."""
    busy, quiet = await catalogue_of(hq, 2)
    await hq.ReceiveStock(store_id=SZ, part_number=busy, quantity=3)
    loads = 0
    real_load_many = application.load_many

    async def load_then_race(*args: Any) -> Any:
        nonlocal loads
        loaded = await real_load_many(*args)
        loads += 1
        if loads == 1:  # a unary command on another connection, committed before we append
            await hq.ReceiveStock(store_id=SZ, part_number=busy, quantity=10)
        return loaded

    monkeypatch.setattr(application, "load_many", load_then_race)

    response = await sync(hq, clock, counts((busy, 12), (quiet, 2)))

    assert loads == 2  # the conflict made the batch load and decide again
    assert [(r.outcome, r.on_hand) for r in response.results] == [
        (Outcome.OUTCOME_ADJUSTED, 12),
        (Outcome.OUTCOME_ADJUSTED, 2),
    ]
    busy_adjusted = next(e for e in await adjusted_events(inventory_on) if e.part_number == busy)
    assert (busy_adjusted.previous_on_hand, busy_adjusted.delta) == (13, -1)
    assert (await hq.GetStockPosition(store_id=SZ, part_number=busy)).on_hand == 12
    async with inventory_on.service.db.transaction("test.versions") as conn:
        versions = (
            await conn.execute(
                select(events.c.stream_version, events.c.event_type)
                .where(events.c.stream_id == application.POSITIONS.stream_id(SZ, busy))
                .order_by(events.c.position)
            )
        ).all()
    assert [(v, t.rsplit(".", 1)[-1]) for v, t in versions] == [
        (1, "StockReceived"),
        (2, "StockReceived"),
        (3, "StockAdjusted"),
    ]


async def test_the_relay_publishes_every_event_of_the_batch_as_stored(
    hq: InventoryClient, nats_client: NatsConnection, namespace: str, clock: ManualClock
) -> None:
    numbers = await catalogue_of(hq, 300)
    request_id = rid()

    response = await sync(hq, clock, counts(*((n, 5) for n in numbers)), request_id=request_id)

    assert response.adjusted == 300
    async with hq.run.service.db.transaction("test.stored") as conn:
        stored = {
            str(row.event_id): (row.stream_id, row.stream_version)
            for row in await conn.execute(
                select(events.c.event_id, events.c.stream_id, events.c.stream_version).where(
                    events.c.event_type.like("%.StockAdjusted")
                )
            )
        }
    js = (await nats_client.client()).jetstream()
    subject = f"{namespace}.inventory.v1.{SZ}.StockAdjusted"
    sub = await js.subscribe(subject, stream=f"{namespace.upper()}_INVENTORY")
    published: dict[str, tuple[str, int]] = {}
    deadline = time.monotonic() + RELAY_SECONDS
    try:
        while len(published) < len(stored) and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=1)
            except TimeoutError:  # nats' own is one too
                continue
            headers = msg.headers or {}
            published[headers["ce-id"]] = (
                headers["ce-subject"],
                int(headers["ce-streamversion"]),
            )
            assert headers["ce-requestid"] == request_id
    finally:
        await sub.unsubscribe()
    assert published == stored


async def test_two_batches_of_one_store_in_opposite_orders_both_land(
    hq: InventoryClient, inventory_on: Running, clock: ManualClock
) -> None:
    """Both run at once over the same 2,000 streams: the one that appends second finds
    the other's versions (a conflict for its whole batch), is decided again on them and
    records nothing; no stream gets a count twice."""
    numbers = await catalogue_of(hq, 2_000)
    await sync(hq, clock, counts(*((n, 1) for n in numbers)))  # every stream exists
    forward = counts(*((n, 2) for n in numbers))
    backward = counts(*((n, 2) for n in reversed(numbers)))

    one, other = await asyncio.gather(sync(hq, clock, forward), sync(hq, clock, backward))

    assert sorted((one.adjusted, other.adjusted)) == [0, 2_000]
    assert sorted((one.unchanged, other.unchanged)) == [0, 2_000]
    assert len(await adjusted_events(inventory_on)) == 4_000
