"""SOP 1 end to end: collab and the real inventory service over gRPC, PostgreSQL and NATS.

Time moves only on the shared ManualClock; deadlines fire through `timers.run_due()`. The
saga's calls are performed by collab's dispatcher in the background, so each step is
awaited (bounded) until the transfer reaches the next stage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from storemesh.collab.events.v1 import events_pb2
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from kernel.db import upsert
from kernel.directory_memory import StoreChange, memory_of
from kernel.saga import pending_calls
from kernel.store_directory import store_directory
from kernel.testing.servers import free_port
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    CollabRun,
    at_stage,
    collab_db_url,
    position,
    saga_event_types,
    saga_events,
    start_collab,
    stocked,
)
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import all_messages, eventually
from tests.integration.rich_errors import failure

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]


async def request(client: Any, request_id: str = "T-1", quantity: int = 1) -> Any:
    return await client.RequestTransfer(
        request_id=request_id,
        store_id=GZ,
        part_number=PART,
        quantity=quantity,
        urgency=pb.URGENCY_URGENT,
        customer_waiting=True,
        repair_order="RO-7",
    )


async def test_sop1_end_to_end_received_into_stock_with_a_point_and_the_freight_on_hq(
    start_collab: Any, inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        foshan = collab.client(mint("manager", FS))
        hq = collab.client(mint("hq"))

        ranked = await guangzhou.RecommendSources(store_id=GZ, part_number=PART, quantity=1)
        assert [c.store_id for c in ranked.candidates] == [FS, DG]
        assert ranked.candidates[0].reasons[0] == "has 5 available, enough for 1"

        asked = await request(guangzhou)
        assert (asked.transfer_id, list(asked.candidate_store_ids)) == ("T-1", [FS, DG])
        assert asked.transfer_reason == pb.TRANSFER_REASON_EMERGENCY
        waiting = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL)
        assert waiting.approval_due_at.ToDatetime(tzinfo=clock.now().tzinfo) == clock.now() + (
            timedelta(minutes=10)
        )
        assert (await position(inv, FS)).reserved == 1
        # Foshan's partner app is told on Foshan's subject, with what it needs to decide.
        (asked_foshan,) = await eventually(
            lambda: published(collab, f"collab.v1.{FS}.ApprovalRequested")
        )
        message = events_pb2.ApprovalRequested.FromString(asked_foshan.data)
        assert (message.requesting_store_id, message.part_number, message.quantity) == (
            GZ,
            PART,
            1,
        )
        assert message.customer_waiting and message.urgency == "urgent"

        approved = await foshan.ApproveTransfer(request_id="a-1", transfer_id="T-1")
        assert approved.stage == pb.TRANSFER_STAGE_AWAITING_PICKUP
        await foshan.ReportCourierProgress(
            request_id="c-1", transfer_id="T-1", progress=pb.COURIER_PROGRESS_PICKED_UP
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_IN_TRANSIT)
        source = await position(inv, FS)
        assert (source.on_hand, source.reserved, source.in_transit_out) == (4, 0, 1)

        clock.advance(timedelta(minutes=50))
        await guangzhou.ReportCourierProgress(
            request_id="c-2",
            transfer_id="T-1",
            progress=pb.COURIER_PROGRESS_DELIVERED,
            freight_fen=3_500,
        )
        done = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_COMPLETED)
        assert (done.response_seconds, done.within_sla, done.freight_fen) == (3000, True, 3_500)
        assert (await position(inv, GZ)).on_hand == 1
        assert (await position(inv, FS)).in_transit_out == 0

        settlement = await hq.GetCostSettlement(month="2026-11")
        assert [(c.kind, c.store_id, c.amount_fen, c.entries) for c in settlement.lines] == [
            ("freight", GZ, 3_500, 1)
        ]
        assert settlement.total_fen == 3_500
        recorded = await saga_events(collab, "T-1")
        points = [e for e in recorded if type(e).__name__ == "ContributionRecorded"]
        assert [(p.store_id, p.act, p.points, p.saga_id) for p in points] == [
            (FS, "transfer", 1, "T-1")
        ]
        for progress in ("PickupRequested", "TransferShipped", "TransferArriving"):
            assert await eventually(lambda p=progress: published(collab, f"collab.v1.{GZ}.{p}"))
        assert await eventually(lambda: published(collab, f"collab.v1.{FS}.ContributionRecorded"))
        assert (await saga_event_types(collab, "T-1"))[-3:] == [
            "TransferCompleted",
            "ContributionRecorded",
            "CollaborationCostRecorded",
        ]


async def test_silence_past_the_approval_deadline_releases_and_asks_the_next_source(
    start_collab: Any, inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await request(collab.client(mint("dms", GZ)))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)

        clock.advance(timedelta(minutes=9, seconds=59))
        assert await collab.parts.service.timers.run_due() == 0
        clock.advance(timedelta(seconds=1))
        assert await collab.parts.service.timers.run_due() == 1

        moved = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)
        assert moved.source_store_id == DG
        assert ((await position(inv, FS)).reserved, (await position(inv, DG)).reserved) == (0, 1)
        assert "ApprovalExpired" in await saga_event_types(collab, "T-1")

        # The silent store answering late is refused by name, and changes nothing.
        late = await failure(
            collab.client(mint("manager", FS)).ApproveTransfer(request_id="late", transfer_id="T-1")
        )
        assert late.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (await hq.GetTransfer(transfer_id="T-1")).source_store_id == DG


async def test_collab_restarted_between_two_steps_completes_with_one_reservation(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    inventory_service: Running,
) -> None:
    await stocked(inv, FS01=5)
    # First life: the saga's calls cannot reach inventory, so the reservation call is
    # committed in the outbox but never performed before the process goes away.
    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with start_collab(saga_channel=dead) as collab:
        await request(collab.client(mint("dms", GZ)))
        async with collab.parts.service.db.transaction() as conn:
            assert [row.call_key for row in await pending_calls(conn)] == ["reserve"]
        assert (await position(inv, FS)).reserved == 0
    await dead.close()

    clock.advance(timedelta(minutes=1))  # past the first retry's backoff
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
        foshan = collab.client(mint("manager", FS))
        await foshan.ApproveTransfer(request_id="a-1", transfer_id="T-1")
        await foshan.ReportCourierProgress(
            request_id="c-1", transfer_id="T-1", progress=pb.COURIER_PROGRESS_PICKED_UP
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_IN_TRANSIT)

    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await collab.client(mint("dms", GZ)).ReportCourierProgress(
            request_id="c-2", transfer_id="T-1", progress=pb.COURIER_PROGRESS_DELIVERED
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_COMPLETED)

    assert (await position(inv, GZ)).on_hand == 1
    assert await inventory_events_of_part(inventory_service, FS) == [
        "StockReceived",
        "StockReserved",
        "TransferShipped",
        "TransferDelivered",
    ]


async def published(run: CollabRun, subject: str) -> list[Any]:
    """The messages on the COLLAB stream with this subject (namespaced for the test run)."""
    nats = run.parts.service.nats
    js = await nats.jetstream()
    return [
        m
        for m in await all_messages(js, nats.stream("COLLAB"))
        if m.subject == nats.subject(subject)
    ]


async def inventory_events_of_part(run: Running, store: str) -> list[str]:
    from sqlalchemy import select

    from kernel.eventstore import events

    async with run.service.db.transaction() as conn:
        rows = (
            await conn.execute(
                select(events.c.event_type)
                .where(events.c.stream_id == f"stock/{store}/{PART}")
                .order_by(events.c.stream_version)
            )
        ).scalars()
        return [name.rsplit(".", 1)[-1] for name in rows]


async def test_a_givers_recent_demand_reaches_the_ranking_through_inventorys_events(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    # Foshan is nearest but issues the part every day; Dongguan holds it idle.
    await stocked(inv, FS01=4, DG01=4)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        before = await guangzhou.RecommendSources(store_id=GZ, part_number=PART, quantity=1)
        assert [c.store_id for c in before.candidates] == [FS, DG]

        await inv.RequestParts(store_id=FS, part_number=PART, repair_order="RO-1", quantity=3)

        async def ranked() -> Any:
            got = await guangzhou.RecommendSources(store_id=GZ, part_number=PART, quantity=1)
            return got if got.candidates[-1].recent_demand == 3 else None

        after = await eventually(ranked)
        assert [c.store_id for c in after.candidates] == [DG, FS]
        assert "it may run short" in after.candidates[-1].reasons[2]


async def in_transit_from_foshan(collab: Any, hq: Any, mint: Mint) -> None:
    """GZ01's transfer T-1, approved at FS01 and picked up: on its way to Guangzhou."""
    await request(collab.client(mint("dms", GZ)))
    await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
    await hq.ApproveTransfer(request_id="a-1", transfer_id="T-1")
    await hq.ReportCourierProgress(
        request_id="c-1", transfer_id="T-1", progress=pb.COURIER_PROGRESS_PICKED_UP
    )
    await at_stage(hq, "T-1", pb.TRANSFER_STAGE_IN_TRANSIT, FS)


async def lost_from_foshan(collab: Any, hq: Any, mint: Mint, note: str) -> None:
    """GZ01's transfer T-1, approved at FS01 and picked up, then reported lost with `note`."""
    await in_transit_from_foshan(collab, hq, mint)
    await hq.ReportCourierProgress(
        request_id="c-2", transfer_id="T-1", progress=pb.COURIER_PROGRESS_LOST, note=note
    )


async def test_a_lost_shipment_is_written_off_at_inventory_and_the_next_source_delivers(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    inventory_service: Running,
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await lost_from_foshan(collab, hq, mint, "van broke down, box gone")
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)
        foshan = await position(inv, FS)
        assert (foshan.on_hand, foshan.reserved, foshan.in_transit_out) == (4, 0, 0)
        assert (await position(inv, GZ)).in_transit_in == 0
        assert (await inventory_events_of_part(inventory_service, FS))[-1] == "ShipmentLost"

        # The same transfer, from the next source, all the way into stock.
        await hq.ApproveTransfer(request_id="a-2", transfer_id="T-1")
        await hq.ReportCourierProgress(
            request_id="c-3", transfer_id="T-1", progress=pb.COURIER_PROGRESS_PICKED_UP
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_IN_TRANSIT, DG)
        await hq.ReportCourierProgress(
            request_id="c-4", transfer_id="T-1", progress=pb.COURIER_PROGRESS_DELIVERED
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_COMPLETED, DG)
        assert (await position(inv, GZ)).on_hand == 1
        assert (await position(inv, DG)).on_hand == 4
        recorded = await saga_events(collab, "T-1")
        points = [e for e in recorded if type(e).__name__ == "ContributionRecorded"]
        assert [(p.store_id, p.points) for p in points] == [(DG, 1)]
        lost = [e for e in recorded if type(e).__name__ == "ShipmentLost"]
        assert [(e.source_store_id, e.reason) for e in lost] == [(FS, "van broke down, box gone")]


async def test_a_loss_reported_with_a_blank_note_is_still_written_off_and_the_next_source_asked(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    inventory_service: Running,
) -> None:
    # The note was the write-off's reason at inventory, which requires one: a note of
    # blanks had the write-off refused and the transfer stuck with the part in transit.
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await lost_from_foshan(collab, hq, mint, " \n ")

        async def moved_on() -> Any:
            found = await hq.GetTransfer(transfer_id="T-1")
            final = (pb.TRANSFER_STAGE_AWAITING_APPROVAL, pb.TRANSFER_STAGE_STUCK)
            return found if found.stage in final else None

        found = await eventually(moved_on)
        assert (found.stage, found.source_store_id) == (pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)
        foshan = await position(inv, FS)
        assert (foshan.on_hand, foshan.reserved, foshan.in_transit_out) == (4, 0, 0)
        lost = [e for e in await saga_events(collab, "T-1") if type(e).__name__ == "ShipmentLost"]
        assert [e.reason for e in lost] == ["lost in transit"]


async def receipt_refused(
    collab: CollabRun, inv: InventoryClient, mint: Mint, freight_fen: int = 0
) -> None:
    """T-1 from Foshan, delivered to Guangzhou, whose receipt inventory refuses: stuck."""
    hq = collab.client(mint("hq"))
    await in_transit_from_foshan(collab, hq, mint)
    # The reports disagree: Foshan's own DMS wrote the shipment off at inventory, then
    # the courier says it was delivered. Nothing is in transit to Guangzhou any more,
    # so inventory refuses the receipt (NOTHING_IN_TRANSIT): a case for an operator.
    await inv.ReportShipmentLost(
        request_id="fs-dms-lost",
        store_id=FS,
        part_number=PART,
        transfer_id="T-1",
        reason="the van's scanner lost the box",
    )
    await hq.ReportCourierProgress(
        request_id="c-2",
        transfer_id="T-1",
        progress=pb.COURIER_PROGRESS_DELIVERED,
        freight_fen=freight_fen,
    )
    stuck = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_STUCK, FS)
    assert stuck.reason == "NOTHING_IN_TRANSIT"


async def test_a_delivered_part_whose_receipt_is_refused_is_left_to_an_operator_not_written_off(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    inventory_service: Running,
) -> None:
    # The receipt was compensated like any step: the part lying at the requester was
    # reported lost at the source and the next source asked to give another.
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await receipt_refused(collab, inv, mint)
        foshan = await position(inv, FS)
        assert (foshan.on_hand, foshan.in_transit_out) == (4, 0)  # the DMS's write-off only
        assert (await position(inv, DG)).reserved == 0  # nobody else asked
        assert (await saga_event_types(collab, "T-1"))[-2:] == ["ReceiptRefused", "TransferStuck"]
