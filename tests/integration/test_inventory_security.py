"""Who may do what: a token names a role and its stores; one store cannot touch another."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.auth import TokenIssuer, generate_keys
from kernel.clock import ManualClock
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)
from tests.integration.rich_errors import event_count, failure, reason

SZ, GZ, DG, PART = "SZ01", "GZ01", "DG01", "P-100"
Mint = Callable[..., str]


async def network_with_a_transfer_to_guangzhou(inv: InventoryClient) -> None:
    """SZ01 and GZ01 hold stock and a reservation each; transfer T-1 is on its way to GZ01."""
    await register_part(inv)
    for store in (SZ, GZ):
        await inv.ReceiveStock(store_id=store, part_number=PART, quantity=10)
        await inv.ReserveStock(
            store_id=store, part_number=PART, reservation_id=f"R-{store}", quantity=2
        )
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-T1", quantity=3)
    await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R-T1",
        destination_store_id=GZ,
    )


def mutations_of(store: str, other: str) -> list[tuple[str, dict[str, Any]]]:
    """Every stock command, aimed at `store` (`other` is the far end of a transfer)."""
    position = dict(store_id=store, part_number=PART)
    return [
        ("ReceiveStock", dict(position, quantity=5)),
        ("RequestParts", dict(position, repair_order="RO-1", quantity=1)),
        ("ReturnParts", dict(position, repair_order="RO-1", quantity=1)),
        ("AdjustStock", dict(position, counted_quantity=1, reason="count")),
        ("ReserveStock", dict(position, reservation_id="R-X", quantity=1)),
        ("ReleaseReservation", dict(position, reservation_id=f"R-{store}")),
        (
            "ShipTransfer",
            dict(
                position,
                transfer_id="T-X",
                reservation_id=f"R-{store}",
                destination_store_id=other,
            ),
        ),
        ("ReceiveTransfer", dict(position, transfer_id="T-1")),
        ("ReportShipmentLost", dict(position, transfer_id="T-1", reason="lost")),
    ]


async def assert_all_denied(
    client: InventoryClient, run: Running, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    before = await event_count(run)
    positions = [await client.GetStockPosition(store_id=s, part_number=PART) for s in (SZ, GZ)]
    outcomes = []
    for method, fields in calls:
        err = await failure(getattr(client, method)(**fields))
        outcomes.append((method, err.code(), reason(err)))
    assert outcomes == [(m, grpc.StatusCode.PERMISSION_DENIED, "STORE_SCOPE") for m, _ in calls]
    assert await event_count(run) == before
    after = [await client.GetStockPosition(store_id=s, part_number=PART) for s in (SZ, GZ)]
    assert after == positions


async def test_a_call_without_a_valid_token_is_unauthenticated(
    inventory_service: Running, issuer: TokenIssuer, tmp_path: Path
) -> None:
    stub = pb_grpc.InventoryServiceStub(inventory_service.channel)
    request = pb.GetStockPositionRequest(store_id=SZ, part_number=PART)
    stranger = TokenIssuer.from_file(generate_keys(tmp_path)[0]).mint("x", "hq")
    expired = issuer.mint("x", "hq", now=datetime.now(UTC) - timedelta(hours=13))
    for metadata in [
        (),
        (("authorization", "Bearer "),),
        (("authorization", "Basic dXNlcjpwYXNz"),),
        (("authorization", "Bearer not-a-jwt"),),
        (("authorization", f"Bearer {stranger}"),),
        (("authorization", f"Bearer {expired}"),),
    ]:
        err = await failure(stub.GetStockPosition(request, metadata=metadata))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
    receive = pb.ReceiveStockRequest(request_id="r-1", store_id=SZ, part_number=PART, quantity=1)
    err = await failure(stub.ReceiveStock(receive))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await event_count(inventory_service) == 0


async def test_a_store_token_cannot_move_stock_of_another_store(
    inv: InventoryClient, inventory_service: Running, mint: Mint
) -> None:
    await network_with_a_transfer_to_guangzhou(inv)
    shenzhen_dms = inv.as_(mint("dms", SZ))
    await assert_all_denied(shenzhen_dms, inventory_service, mutations_of(GZ, SZ))
    shenzhen_manager = inv.as_(mint("manager", SZ, DG))
    await assert_all_denied(shenzhen_manager, inventory_service, mutations_of(GZ, SZ))


async def test_a_store_token_moves_its_own_stock_and_ships_to_another_store(
    inv: InventoryClient, mint: Mint
) -> None:
    await network_with_a_transfer_to_guangzhou(inv)
    shenzhen, guangzhou = inv.as_(mint("dms", SZ)), inv.as_(mint("dms", GZ))
    await shenzhen.ReceiveStock(store_id=SZ, part_number=PART, quantity=5)
    await shenzhen.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-2",
        reservation_id=f"R-{SZ}",
        destination_store_id=GZ,
    )
    denied = await failure(
        shenzhen.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-2")
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    received = await guangzhou.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-2")
    assert (received.on_hand, received.in_transit_in) == (12, 3)


async def test_a_partner_token_reads_but_cannot_change_anything(
    inv: InventoryClient, inventory_service: Running, mint: Mint
) -> None:
    await network_with_a_transfer_to_guangzhou(inv)
    partner = inv.as_(mint("partner", SZ, GZ))
    await assert_all_denied(partner, inventory_service, mutations_of(SZ, GZ))
    err = await failure(
        partner.RegisterPart(part=pb.Part(part_number="P-9", name="x", category="y", unit="pc"))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await partner.GetStockPosition(store_id=SZ, part_number=PART)).on_hand == 7
    assert len((await partner.FindStock(part_number=PART)).stores) == 2


async def test_only_hq_and_services_may_change_the_catalogue(
    inv: InventoryClient, inventory_service: Running, mint: Mint
) -> None:
    await register_part(inv)
    before = await event_count(inventory_service)
    part = pb.Part(part_number="P-9", name="Wiper", category="body", unit="pc", unit_cost_fen=1)
    for role in ("dms", "manager", "partner"):
        client = inv.as_(mint(role, SZ))
        for err in [
            await failure(client.RegisterPart(part=part)),
            await failure(client.UpdatePart(part=pb.Part(part_number=PART, name="x", unit="pc"))),
        ]:
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED, role
    assert await event_count(inventory_service) == before
    registered = await inv.as_(mint("service")).RegisterPart(part=part)
    assert registered.part_number == "P-9"


async def test_hq_and_services_act_on_every_store(inv: InventoryClient, mint: Mint) -> None:
    await register_part(inv)
    service = inv.as_(mint("service"))
    for client, store in [(inv, SZ), (inv, GZ), (service, DG)]:
        await client.ReceiveStock(store_id=store, part_number=PART, quantity=4)
        await client.ReserveStock(store_id=store, part_number=PART, reservation_id="R", quantity=1)
    await service.ShipTransfer(
        store_id=DG,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R",
        destination_store_id=SZ,
    )
    received = await inv.ReceiveTransfer(store_id=SZ, part_number=PART, transfer_id="T-1")
    assert (received.on_hand, received.reserved) == (5, 1)


async def test_a_store_token_reads_the_whole_network(
    inv: InventoryClient, mint: Mint, clock: ManualClock
) -> None:
    await register_part(inv)
    for store, quantity in [(SZ, 1), (GZ, 6), (DG, 3)]:
        await inv.ReceiveStock(store_id=store, part_number=PART, quantity=quantity)
    await inv.RequestParts(store_id=GZ, part_number=PART, repair_order="RO-1", quantity=2)
    shenzhen = inv.as_(mint("dms", SZ))

    found = await shenzhen.FindStock(part_number=PART, min_available=2, exclude_store_id=SZ)
    assert [(s.store_id, s.available) for s in found.stores] == [(GZ, 4), (DG, 3)]
    matrix = await shenzhen.GetSharingMatrix()
    assert list(matrix.store_ids) == [DG, GZ, SZ]
    assert list(matrix.rows[0].available) == [3, 4, 1]
    assert (await shenzhen.GetStockPosition(store_id=GZ, part_number=PART)).available == 4
    assert (await shenzhen.GetFillRate()).requests == 1
    clock.advance(timedelta(days=91))
    assert len((await shenzhen.ListStaleStock()).items) == 3
