"""Two collab replicas on one database at once: transfers requested, answered and carried
through either replica, both dispatchers, relays and consumers running, and every saga
still acts once (one reservation, one shipment, one completion, one point each)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from sqlalchemy import func, select
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from kernel.eventstore import events
from kernel.saga import pending_calls
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    SZ,
    CollabRun,
    collab_db_url,
    position,
    saga_event_types,
    start_collab,
    stocked,
)
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import all_messages, eventually

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]
TRANSFERS = 12
STOCK = 20


async def reached(run: CollabRun, client: Any, tid: str, stage: int, clock: ManualClock) -> Any:
    """The transfer at `stage`. Twelve transfers on one stock position make inventory answer
    ABORTED now and then (its own retries lost the race); the dispatcher retries after a
    backoff on the clock, so time is moved to the next retry of any call that failed."""

    async def probe() -> Any:
        t = await client.GetTransfer(transfer_id=tid)
        if t.stage == stage:
            return t
        async with run.parts.service.db.transaction() as conn:
            retrying = [c.due_at for c in await pending_calls(conn) if c.last_error]
        if retrying and min(retrying) > clock.now():
            clock.advance(min(retrying) - clock.now())
        return None

    return await eventually(probe)


async def test_two_replicas_carry_every_transfer_to_its_end_once_with_one_reservation_each(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    inventory_service: Running,
    clock: ManualClock,
) -> None:
    await stocked(inv, FS01=STOCK, DG01=STOCK, SZ01=STOCK)
    async with start_collab() as first, start_collab() as second:
        replicas = (first, second)
        hq = [r.client(mint("hq")) for r in replicas]
        guangzhou = [r.client(mint("dms", GZ)) for r in replicas]
        ids = [f"T-{k:02d}" for k in range(TRANSFERS)]

        # Requests land on either replica, all at once.
        await asyncio.gather(
            *(
                guangzhou[k % 2].RequestTransfer(
                    request_id=tid,
                    store_id=GZ,
                    part_number=PART,
                    quantity=1,
                    urgency=pb.URGENCY_URGENT,
                    customer_waiting=True,
                )
                for k, tid in enumerate(ids)
            )
        )
        waiting = await asyncio.gather(
            *(
                reached(replicas[k % 2], hq[k % 2], tid, pb.TRANSFER_STAGE_AWAITING_APPROVAL, clock)
                for k, tid in enumerate(ids)
            )
        )

        # Two managers of the source approve the same transfer through both replicas at
        # once: one answer wins, the other is refused as not awaited (or is the same).
        async def approve_twice(tid: str, source: str) -> list[str]:
            outcomes = await asyncio.gather(
                *(
                    r.client(mint("manager", source)).ApproveTransfer(
                        request_id=f"a-{tid}-{n}", transfer_id=tid
                    )
                    for n, r in enumerate(replicas)
                ),
                return_exceptions=True,
            )
            return [
                "ok" if not isinstance(o, BaseException) else o.code().name  # type: ignore[attr-defined]
                for o in outcomes
            ]

        answers = await asyncio.gather(
            *(approve_twice(t.transfer_id, t.source_store_id) for t in waiting)
        )
        for outcome in answers:
            assert "ok" in outcome
            assert set(outcome) <= {"ok", grpc.StatusCode.FAILED_PRECONDITION.name}

        await asyncio.gather(
            *(
                hq[(k + 1) % 2].ReportCourierProgress(
                    request_id=f"p-{tid}", transfer_id=tid, progress=pb.COURIER_PROGRESS_PICKED_UP
                )
                for k, tid in enumerate(ids)
            )
        )
        await asyncio.gather(
            *(
                reached(replicas[k % 2], hq[k % 2], tid, pb.TRANSFER_STAGE_IN_TRANSIT, clock)
                for k, tid in enumerate(ids)
            )
        )
        await asyncio.gather(
            *(
                hq[k % 2].ReportCourierProgress(
                    request_id=f"d-{tid}", transfer_id=tid, progress=pb.COURIER_PROGRESS_DELIVERED
                )
                for k, tid in enumerate(ids)
            )
        )
        done = await asyncio.gather(
            *(
                reached(replicas[k % 2], hq[(k + 1) % 2], tid, pb.TRANSFER_STAGE_COMPLETED, clock)
                for k, tid in enumerate(ids)
            )
        )

        # Each saga: one reservation, one approval, one shipment, one end, one point.
        for tid in ids:
            counted = Counter(await saga_event_types(first, tid))
            assert counted["SourceReserved"] == 1, (tid, counted)
            assert counted["TransferApproved"] == 1, (tid, counted)
            assert counted["TransferShipped"] == 1, (tid, counted)
            assert counted["TransferReceived"] == 1, (tid, counted)
            assert counted["TransferCompleted"] == 1, (tid, counted)
            assert counted["ContributionRecorded"] == 1, (tid, counted)
            assert counted["NextSourceChosen"] == 0, (tid, counted)
        async with first.parts.service.db.transaction() as conn:
            assert await pending_calls(conn) == []
        # Both dispatchers did part of the work (each is woken by its own commits).
        performed = [r.parts.collab.dispatcher.performed for r in replicas]  # type: ignore[union-attr]
        assert all(performed), performed

        # Inventory acted once per transfer: one reservation and one shipment each, and
        # every unit is where the transfers say.
        sources = Counter(t.source_store_id for t in done)
        assert sum(sources.values()) == TRANSFERS
        for store in (FS, DG, SZ):
            p = await position(inv, store)
            assert (p.on_hand, p.reserved, p.in_transit_out) == (STOCK - sources[store], 0, 0)
        assert (await position(inv, GZ)).on_hand == TRANSFERS
        async with inventory_service.service.db.transaction() as conn:
            kinds = Counter(
                {
                    name.rsplit(".", 1)[-1]: n
                    for name, n in await conn.execute(
                        select(events.c.event_type, func.count()).group_by(events.c.event_type)
                    )
                }
            )
        assert kinds["StockReserved"] == TRANSFERS
        assert kinds["TransferShipped"] == TRANSFERS
        assert kinds["TransferReceived"] == TRANSFERS

        # Partners were told of each completion once, whichever relay published it.
        nats = first.parts.service.nats
        js = await nats.jetstream()

        async def completions() -> list[str]:
            found = [
                m.headers.get("ce-id", "")
                for m in await all_messages(js, nats.stream("COLLAB"))
                if m.subject.endswith(".TransferCompleted")
            ]
            return found if len(found) >= TRANSFERS else []

        published = await eventually(completions)
        assert len(published) == len(set(published)) == TRANSFERS
