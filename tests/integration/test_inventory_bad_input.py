"""Inventory refuses bad input over real gRPC: INVALID_ARGUMENT naming every field, NOT_FOUND
for what does not exist, and nothing changes (the commands themselves: test_inventory_api.py)."""

from __future__ import annotations

from typing import Any

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb

from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    GZ,
    PART,
    SZ,
    InventoryClient,
    inv,
    inventory_service,
    position,
    stocked,
)
from tests.integration.rich_errors import event_count, failure, resource, violated_fields

# Bad input: INVALID_ARGUMENT naming the field, NOT_FOUND for what does not exist


VALID: dict[str, dict[str, Any]] = {
    "ReceiveStock": dict(store_id=SZ, part_number=PART, quantity=1, reference="PO-1"),
    "RequestParts": dict(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=1),
    "ReturnParts": dict(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=1),
    "AdjustStock": dict(store_id=SZ, part_number=PART, counted_quantity=5, reason="count"),
    "ReserveStock": dict(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=1),
    "ReleaseReservation": dict(store_id=SZ, part_number=PART, reservation_id="R-1"),
    "ShipTransfer": dict(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R-1",
        destination_store_id=GZ,
    ),
    "ReceiveTransfer": dict(store_id=GZ, part_number=PART, transfer_id="T-1"),
    "ReportShipmentLost": dict(store_id=SZ, part_number=PART, transfer_id="T-1", reason="gone"),
}
TOO_LONG = "x" * 5_000


async def assert_invalid(
    inv: InventoryClient, inventory_service: Running, cases: list[tuple[str, dict[str, Any], str]]
) -> None:
    """Each call fails with INVALID_ARGUMENT naming exactly its field; nothing changes."""
    await stocked(inv, 10)
    before = (await event_count(inventory_service), await position(inv), await position(inv, GZ))
    wrong: list[tuple[Any, ...]] = []
    for method, override, field in cases:
        try:
            await getattr(inv, method)(**{**VALID.get(method, {}), **override})
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.INVALID_ARGUMENT or violated_fields(err) != [field]:
                wrong.append((method, override, err.code(), err.details()))
        else:
            wrong.append((method, override, "accepted"))
    assert wrong == []
    after = (await event_count(inventory_service), await position(inv), await position(inv, GZ))
    assert after == before


async def test_malformed_store_codes_are_invalid_and_change_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    bad_codes = ["SZ 01", "a.b", "", "S" * 40, "-SZ01", "深圳01"]
    cases = [(method, {"store_id": code}, "store_id") for method in VALID for code in bad_codes[:4]]
    cases += [("ReceiveStock", {"store_id": code}, "store_id") for code in bad_codes[4:]]
    cases += [
        ("ShipTransfer", {"destination_store_id": code}, "destination_store_id")
        for code in bad_codes
    ]
    await assert_invalid(inv, inventory_service, cases)


async def test_missing_or_malformed_ids_are_invalid_and_change_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    cases = [(method, {"part_number": ""}, "part_number") for method in VALID]
    cases += [(method, {"request_id": ""}, "request_id") for method in VALID]
    cases += [
        ("ReceiveStock", {"part_number": "P 100"}, "part_number"),
        ("ReceiveStock", {"part_number": "P" * 200}, "part_number"),
        ("ReceiveStock", {"request_id": "not a request id"}, "request_id"),
        ("RequestParts", {"repair_order": ""}, "repair_order"),
        ("ReturnParts", {"repair_order": "RO 1"}, "repair_order"),
        ("ReserveStock", {"reservation_id": "R 1"}, "reservation_id"),
        ("ReleaseReservation", {"reservation_id": ""}, "reservation_id"),
        ("ShipTransfer", {"transfer_id": ""}, "transfer_id"),
        ("ShipTransfer", {"reservation_id": ""}, "reservation_id"),
        ("ReceiveTransfer", {"transfer_id": ""}, "transfer_id"),
        ("ReportShipmentLost", {"transfer_id": "T 1"}, "transfer_id"),
    ]
    await assert_invalid(inv, inventory_service, cases)


async def test_zero_negative_and_absurd_quantities_are_invalid_and_change_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    cases = [
        (method, {"quantity": quantity}, "quantity")
        for method in ("ReceiveStock", "RequestParts", "ReturnParts", "ReserveStock")
        for quantity in (0, -1, 1_000_001, 2**62)
    ]
    cases += [
        (method, {"quantity": quantity}, "quantity")
        for method in ("ShipTransfer", "ReceiveTransfer")
        for quantity in (-1, 1_000_001)
    ]
    cases += [
        ("AdjustStock", {"counted_quantity": -1}, "counted_quantity"),
        ("AdjustStock", {"counted_quantity": 1_000_001}, "counted_quantity"),
        ("ReserveStock", {"ttl_seconds": -1}, "ttl_seconds"),
        ("ReserveStock", {"ttl_seconds": 15 * 24 * 3600}, "ttl_seconds"),
        ("ReserveStock", {"ttl_seconds": 2**62}, "ttl_seconds"),
    ]
    await assert_invalid(inv, inventory_service, cases)


async def test_oversized_and_missing_texts_are_invalid_and_change_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    cases = [
        ("ReceiveStock", {"reference": TOO_LONG}, "reference"),
        ("ReserveStock", {"reference": TOO_LONG}, "reference"),
        ("AdjustStock", {"reason": TOO_LONG}, "reason"),
        ("AdjustStock", {"reason": ""}, "reason"),
        ("ReportShipmentLost", {"reason": TOO_LONG}, "reason"),
        ("ReportShipmentLost", {"reason": "  "}, "reason"),
        ("RequestParts", {"repair_order": TOO_LONG}, "repair_order"),
    ]
    await assert_invalid(inv, inventory_service, cases)


async def test_a_part_missing_or_malformed_is_invalid_naming_the_field(
    inv: InventoryClient, inventory_service: Running
) -> None:
    def part(**fields: Any) -> pb.Part:
        valid = dict(part_number="P-300", name="Wiper", category="body", unit="pc")
        return pb.Part(**{**valid, **fields})

    cases: list[tuple[str, dict[str, Any], str]] = [
        ("RegisterPart", {}, "part"),
        ("UpdatePart", {}, "part"),
        ("RegisterPart", {"part": part(part_number="")}, "part.part_number"),
        ("RegisterPart", {"part": part(part_number="P 300")}, "part.part_number"),
        ("RegisterPart", {"part": part(name=TOO_LONG)}, "part.name"),
        ("RegisterPart", {"part": part(name="")}, "part.name"),
        ("RegisterPart", {"part": part(category="")}, "part.category"),
        ("RegisterPart", {"part": part(unit_cost_fen=-1)}, "part.unit_cost_fen"),
        ("RegisterPart", {"part": part(unit_cost_fen=2**62)}, "part.unit_cost_fen"),
        ("UpdatePart", {"part": part(part_number=PART, name="")}, "part.name"),
    ]
    await assert_invalid(inv, inventory_service, cases)
    err = await failure(inv.GetPart(part_number="P-300"))
    assert resource(err) == ("part", "P-300")


async def test_every_fault_of_a_request_is_named_at_once(inv: InventoryClient) -> None:
    err = await failure(inv.ReceiveStock(request_id="", store_id="SZ 01", part_number=""))
    assert violated_fields(err) == ["part_number", "quantity", "request_id", "store_id"]


async def test_the_request_s_faults_and_the_command_rules_come_in_one_refusal(
    inv: InventoryClient, inventory_service: Running
) -> None:
    """The identifiers every position command has, the request's own fields and the
    rules the domain applies to the command's fields (quantity, TTL, the destination):
    one refusal names them all, each field once, and nothing is recorded."""
    before = await event_count(inventory_service)
    reserve = await failure(
        inv.ReserveStock(store_id="", part_number=PART, quantity=-1, ttl_seconds=30 * 86_400)
    )
    ship = await failure(
        inv.ShipTransfer(
            store_id=SZ,
            part_number="",
            transfer_id="",
            reservation_id="R-1",
            destination_store_id=SZ,
            quantity=-2,
        )
    )
    requested = await failure(
        inv.RequestParts(store_id=SZ, part_number="", repair_order="", quantity=0)
    )

    assert violated_fields(reserve) == ["quantity", "store_id", "ttl_seconds"]
    assert violated_fields(ship) == [
        "destination_store_id",
        "part_number",
        "quantity",
        "transfer_id",
    ]
    assert violated_fields(requested) == ["part_number", "quantity", "repair_order"]
    assert await event_count(inventory_service) == before


async def test_an_unknown_part_or_reservation_is_not_found_and_changes_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, 10)
    before = await event_count(inventory_service)
    unknown = "P-404"
    calls = [
        inv.ReceiveStock(store_id=SZ, part_number=unknown, quantity=1),
        inv.RequestParts(store_id=SZ, part_number=unknown, repair_order="RO-1", quantity=1),
        inv.ReserveStock(store_id=SZ, part_number=unknown, quantity=1),
        inv.GetPart(part_number=unknown),
        inv.GetStockPosition(store_id=SZ, part_number=unknown),
        inv.FindStock(part_number=unknown),
        inv.UpdatePart(part=pb.Part(part_number=unknown, name="Ghost", category="x", unit="pc")),
    ]
    for call in calls:
        assert resource(await failure(call)) == ("part", unknown)
    release = await failure(
        inv.ReleaseReservation(store_id=SZ, part_number=PART, reservation_id="R-404")
    )
    assert resource(release)[0] == "reservation"
    assert await event_count(inventory_service) == before
