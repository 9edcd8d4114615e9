"""Stale stock revitalisation end to end: inventory's stale stock, collab's demand and
shortages from inventory's events, the recommendation, the transfer with reason
REVITALISATION over the SOP 1 saga, and its settlement (10 points, HQ's write-down)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    at_stage,
    collab_db_url,
    position,
    saga_events,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, reason, violated_fields

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]


async def delivered(hq: Any, foshan: Any, dongguan: Any, transfer_id: str) -> None:
    """Foshan approves and ships, Dongguan receives (freight 20 CNY): the transfer completes."""
    await at_stage(hq, transfer_id, pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
    await foshan.ApproveTransfer(request_id=f"a-{transfer_id}", transfer_id=transfer_id)
    await foshan.ReportCourierProgress(
        request_id=f"c-{transfer_id}",
        transfer_id=transfer_id,
        progress=pb.COURIER_PROGRESS_PICKED_UP,
    )
    await at_stage(hq, transfer_id, pb.TRANSFER_STAGE_IN_TRANSIT)
    await dongguan.ReportCourierProgress(
        request_id=f"d-{transfer_id}",
        transfer_id=transfer_id,
        progress=pb.COURIER_PROGRESS_DELIVERED,
        freight_fen=2_000,
    )
    await at_stage(hq, transfer_id, pb.TRANSFER_STAGE_COMPLETED)


async def test_stale_stock_goes_to_the_store_that_uses_it_and_earns_the_giver_ten_points(
    start_collab: Any, inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    # Foshan's 6 headlamps lie idle for 120 days; meanwhile Guangzhou fits one a month
    # and Dongguan ran short of two on a repair order.
    await stocked(inv, FS01=6)
    clock.advance(timedelta(days=120))
    await inv.ReceiveStock(store_id=GZ, part_number=PART, quantity=1)
    async with start_collab() as collab:
        await inv.RequestParts(store_id=GZ, part_number=PART, repair_order="RO-1", quantity=1)
        await inv.RequestParts(store_id=DG, part_number=PART, repair_order="RO-2", quantity=2)
        foshan = collab.client(mint("manager", FS))
        hq = collab.client(mint("hq"))

        async def recommended() -> Any:
            got = await foshan.RecommendRevitalisation(store_id=FS)
            receivers = got.lots[0].receivers if got.lots else []
            return got if {r.store_id for r in receivers} == {GZ, DG} else None

        got = await eventually(recommended)
        (lot,) = got.lots
        assert (lot.part_number, lot.on_hand, lot.idle_days) == (PART, 6, 120)
        assert [(r.store_id, r.quantity, r.recent_demand, r.shortages) for r in lot.receivers] == [
            (DG, 2, 0, 2),
            (GZ, 1, 1, 0),
        ]
        assert lot.receivers[0].reasons[:2] == [
            "would use 2 of the 6 idle 120 days",
            "ran short of 2 in the last 30 days",
        ]

        # Dongguan asks for Foshan's stale headlamps; Foshan is the only source asked. A
        # revitalisation is no emergency: it needs no urgency and is NORMAL.
        dongguan = collab.client(mint("dms", DG))
        asked = await dongguan.RequestTransfer(
            request_id="R-1",
            store_id=DG,
            part_number=PART,
            quantity=2,
            reason=pb.TRANSFER_REASON_REVITALISATION,
            source_store_id=FS,
            write_down_fen=9_600,
        )
        assert list(asked.candidate_store_ids) == [FS]
        assert asked.urgency == pb.URGENCY_NORMAL
        assert asked.transfer_reason == pb.TRANSFER_REASON_REVITALISATION
        await delivered(hq, foshan, dongguan, "R-1")
        assert (await position(inv, DG)).on_hand == 2
        assert (await position(inv, FS)).on_hand == 4

        recorded = await saga_events(collab, "R-1")
        assert recorded[0].reason == "revitalisation"
        points = [e for e in recorded if type(e).__name__ == "ContributionRecorded"]
        assert [(p.store_id, p.act, p.points) for p in points] == [(FS, "revitalisation", 10)]
        settlement = await hq.GetCostSettlement(month=clock.now().strftime("%Y-%m"))
        assert sorted((c.kind, c.store_id, c.amount_fen) for c in settlement.lines) == [
            ("freight", DG, 2_000),
            ("write_down", FS, 9_600),
        ]


async def test_a_revitalisation_of_stock_that_is_not_stale_is_refused_and_starts_nothing(
    start_collab: Any, inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    await stocked(inv, FS01=6)
    clock.advance(timedelta(days=20))  # idle, but not for 90 days
    async with start_collab() as collab:
        dongguan = collab.client(mint("dms", DG))
        ask = dict(
            request_id="R-1",
            store_id=DG,
            part_number=PART,
            quantity=2,
            urgency=pb.URGENCY_NORMAL,
            reason=pb.TRANSFER_REASON_REVITALISATION,
        )
        missing = await failure(dongguan.RequestTransfer(**ask))
        assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(missing) == ["source_store_id"]

        refused = await failure(dongguan.RequestTransfer(**ask, source_store_id=FS))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(refused) == "NOT_STALE_STOCK"
        assert (await position(inv, FS)).reserved == 0
        hq = collab.client(mint("hq"))
        assert not (await hq.ListTransfers()).transfers

        emergency_with_source = await failure(
            dongguan.RequestTransfer(
                request_id="R-2",
                store_id=DG,
                part_number=PART,
                quantity=1,
                urgency=pb.URGENCY_URGENT,
                source_store_id=FS,
            )
        )
        assert violated_fields(emergency_with_source) == ["source_store_id"]


async def test_an_overstocked_lot_s_excess_is_revitalised_and_no_more(
    start_collab: Any, inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    # Foshan has fitted headlamps for 100 days, 30 in the last 90 (60 cover 180 days), and
    # holds 69: 9 beyond its cover, though they moved today. Dongguan ran short of 12.
    await stocked(inv, FS01=100)
    await inv.RequestParts(store_id=FS, part_number=PART, repair_order="RO-0", quantity=1)
    clock.advance(timedelta(days=100))
    await inv.RequestParts(store_id=FS, part_number=PART, repair_order="RO-1", quantity=30)
    async with start_collab() as collab:
        await inv.RequestParts(store_id=DG, part_number=PART, repair_order="RO-2", quantity=12)
        foshan = collab.client(mint("manager", FS))
        hq = collab.client(mint("hq"))

        async def recommended() -> Any:
            got = await foshan.RecommendRevitalisation(store_id=FS)
            return got if got.lots and got.lots[0].receivers else None

        (lot,) = (await eventually(recommended)).lots
        assert (lot.reason, lot.on_hand, lot.stale_quantity, lot.cover_quantity) == (
            pb.STALE_REASON_OVERSTOCK,
            69,
            9,
            60,
        )
        assert lot.stale_value_fen == 9 * 48_000
        assert [(r.store_id, r.quantity, r.shortages) for r in lot.receivers] == [(DG, 9, 12)]
        assert lot.receivers[0].reasons[0] == "would use 9 of the 9 beyond the giver's cover of 60"

        dongguan = collab.client(mint("dms", DG))
        ask = dict(
            store_id=DG,
            part_number=PART,
            urgency=pb.URGENCY_NORMAL,
            reason=pb.TRANSFER_REASON_REVITALISATION,
            source_store_id=FS,
        )
        beyond = await failure(dongguan.RequestTransfer(request_id="R-1", quantity=10, **ask))
        assert beyond.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(beyond) == "NOT_STALE_STOCK"
        assert (await position(inv, FS)).reserved == 0

        await dongguan.RequestTransfer(request_id="R-2", quantity=9, **ask)
        await delivered(hq, foshan, dongguan, "R-2")
        assert (await position(inv, FS)).on_hand == 60
        points = [
            e
            for e in await saga_events(collab, "R-2")
            if type(e).__name__ == "ContributionRecorded"
        ]
        assert [(p.store_id, p.act, p.points) for p in points] == [(FS, "revitalisation", 10)]
