"""What collab refuses, and that a refusal changes nothing: another store's approval,
malformed input, a transfer nobody can give, an answer out of turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.directory_memory import StoreChange, memory_of
from kernel.store_directory import store_directory
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    at_stage,
    collab_db_url,
    position,
    saga_event_types,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.rich_errors import event_count, failure, reason, violated_fields

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]


async def request(client: Any, request_id: str = "T-1") -> Any:
    return await client.RequestTransfer(
        request_id=request_id,
        store_id=GZ,
        part_number=PART,
        quantity=1,
        urgency=pb.URGENCY_NORMAL,
    )


async def test_only_the_source_store_approves_and_a_refused_approval_changes_nothing(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await request(collab.client(mint("dms", GZ)))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
        before = await saga_event_types(collab, "T-1")

        for token in (
            mint("manager", DG),  # another store
            mint("dms", GZ),  # the requesting store approving its own request
            mint("partner", FS),  # a partner app of the source: sees, never decides
            mint("service"),  # services act through sagas, not approvals
        ):
            err = await failure(
                collab.client(token).ApproveTransfer(request_id="a-x", transfer_id="T-1")
            )
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED, token
        err = await failure(
            collab.client(mint("manager", DG)).RejectTransfer(
                request_id="r-x", transfer_id="T-1", reason="not ours"
            )
        )
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED

        assert await saga_event_types(collab, "T-1") == before
        assert (await hq.GetTransfer(transfer_id="T-1")).stage == (
            pb.TRANSFER_STAGE_AWAITING_APPROVAL
        )
        assert (await position(inv, FS)).reserved == 1
        # And another store cannot even see it.
        err = await failure(collab.client(mint("dms", DG)).GetTransfer(transfer_id="T-1"))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_input_is_refused_naming_every_field_with_nothing_recorded(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        err = await failure(
            hq.RequestTransfer(request_id="", store_id="", part_number="", quantity=0, urgency=9)
        )
        assert violated_fields(err) == [
            "part_number",
            "quantity",
            "request_id",
            "store_id",
            "urgency",
        ]
        err = await failure(
            hq.RecommendSources(store_id="G Z", part_number=PART, quantity=-1, limit=99)
        )
        assert violated_fields(err) == ["limit", "quantity", "store_id"]
        err = await failure(hq.GetCostSettlement(month="2026-13"))
        assert violated_fields(err) == ["month"]
        assert await event_count(collab.running) == 0

        await request(collab.client(mint("dms", GZ)))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL)
        recorded = await event_count(collab.running)
        err = await failure(
            hq.ReportCourierProgress(
                request_id="c-1",
                transfer_id="T-1",
                progress=pb.COURIER_PROGRESS_PICKED_UP,
                freight_fen=100,
            )
        )
        assert violated_fields(err) == ["freight_fen"]
        err = await failure(hq.RejectTransfer(request_id="r-1", transfer_id="T-1", reason=" "))
        assert violated_fields(err) == ["reason"]
        err = await failure(hq.ListTransfers(page_token="nonsense"))
        assert violated_fields(err) == ["page_token"]
        assert await event_count(collab.running) == recorded


async def test_a_part_nobody_can_give_is_refused_by_name(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=1)
    async with start_collab() as collab:
        err = await failure(
            collab.client(mint("dms", GZ)).RequestTransfer(
                request_id="T-9", store_id=GZ, part_number=PART, quantity=2, urgency=1
            )
        )
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(err) == "NO_SOURCE_AVAILABLE"
        assert await event_count(collab.running) == 0


async def test_a_part_inventory_does_not_know_is_refused_as_unknown_not_as_out_of_stock(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=1)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        # A mistyped part number: no store holds it because no catalogue has it.
        unknown = await failure(
            guangzhou.RequestTransfer(
                request_id="T-7", store_id=GZ, part_number="HL-2OO", quantity=1, urgency=1
            )
        )
        # A part in the catalogue that only the asking store's neighbours ran out of.
        await inv.RegisterPart(
            part=inv.messages.Part(
                part_number="HL-300",
                name="Tail lamp",
                category="body",
                unit="pc",
                unit_cost_fen=30_000,
            )
        )
        out = await failure(
            guangzhou.RequestTransfer(
                request_id="T-8", store_id=GZ, part_number="HL-300", quantity=1, urgency=1
            )
        )
        recorded = await event_count(collab.running)
    assert unknown.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(unknown) == "PART_UNKNOWN"
    assert "HL-2OO" in (unknown.details() or "")
    assert (out.code(), reason(out)) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_SOURCE_AVAILABLE")
    assert recorded == 0


async def test_an_answer_out_of_turn_is_refused_and_a_retry_acts_once(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=1)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        guangzhou = collab.client(mint("dms", GZ))
        first = await request(guangzhou)
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL)
        # The retry is the same transfer, although the first took the only unit there was.
        again = await request(guangzhou)
        assert (again.transfer_id, again.requested_at) == (first.transfer_id, first.requested_at)
        assert (await position(inv, FS)).reserved == 1

        err = await failure(
            guangzhou.ReportCourierProgress(
                request_id="c-1", transfer_id="T-1", progress=pb.COURIER_PROGRESS_DELIVERED
            )
        )
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(err) == "TRANSFER_NOT_AWAITING"

        foshan = collab.client(mint("dms", FS))
        await foshan.ApproveTransfer(request_id="a-1", transfer_id="T-1")
        replayed = await foshan.ApproveTransfer(request_id="a-1", transfer_id="T-1")
        assert replayed.stage == pb.TRANSFER_STAGE_AWAITING_PICKUP
        assert (await saga_event_types(collab, "T-1")).count("TransferApproved") == 1


async def test_transfers_are_listed_in_pages_and_per_store(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        for n in (1, 2, 3):
            await request(guangzhou, f"T-{n}")
        first = await guangzhou.ListTransfers(store_id=GZ, page_size=2)
        second = await guangzhou.ListTransfers(
            store_id=GZ, page_size=2, page_token=first.next_page_token
        )
        assert [t.transfer_id for t in first.transfers] == ["T-1", "T-2"]
        assert [t.transfer_id for t in second.transfers] == ["T-3"]
        assert second.next_page_token == ""
        err = await failure(guangzhou.ListTransfers(store_id=DG))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        err = await failure(guangzhou.ListTransfers())
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        everyone = await collab.client(mint("hq")).ListTransfers(page_size=10)
        assert len(everyone.transfers) == 3


async def test_a_transfer_to_a_store_unknown_or_closed_is_refused_and_reserves_nothing(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    # Inventory ships no transfer to such a store: each source in turn would reserve,
    # approve and hand the part to the courier, and only then have the shipment refused.
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        unknown = await failure(
            hq.RequestTransfer(
                request_id="T-9", store_id="GZ09", part_number=PART, quantity=1, urgency=1
            )
        )
        assert (unknown.code(), unknown.details()) == (
            grpc.StatusCode.NOT_FOUND,
            "store 'GZ09' not found",
        )

        # GZ01 closed, as capacity's StoreClosed leaves collab's copy (table and memory).
        async with collab.parts.service.db.transaction() as conn:
            await conn.execute(
                store_directory.update().where(store_directory.c.store_id == GZ).values(closed=True)
            )
            memory = memory_of(conn)
            if memory is not None:
                memory.apply(StoreChange(GZ, closed=True, version=0))
        closed = await failure(request(collab.client(mint("dms", GZ))))
        assert (closed.code(), reason(closed)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "STORE_CLOSED",
        )
        assert not (await hq.ListTransfers()).transfers
        assert [(await position(inv, s)).reserved for s in (FS, DG)] == [0, 0]
