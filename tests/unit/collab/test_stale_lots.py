"""Inventory's stale stock items as collab's lots: the stale units a revitalisation may
move, from an inventory that judges overstock and from one that knew only idle stock."""

from __future__ import annotations

from storemesh.inventory.v1 import inventory_pb2 as pb

from services.collab.inventory_client import stale_lot_of

ITEM = dict(store_id="FS01", part_number="HL-200", name="Headlamp", on_hand=69, value_fen=690)


def test_an_overstocked_item_gives_only_its_excess() -> None:
    lot = stale_lot_of(
        pb.StaleStockItem(
            **ITEM,
            reason=pb.STALE_REASON_OVERSTOCK,
            stale_quantity=9,
            stale_value_fen=90,
            cover_quantity=60,
        )
    )
    assert (lot.idle, lot.overstock, lot.stale_quantity, lot.stale_value_fen) == (
        False,
        True,
        9,
        90,
    )
    assert lot.cover_quantity == 60


def test_an_item_idle_and_overstocked_is_stale_whole() -> None:
    lot = stale_lot_of(
        pb.StaleStockItem(
            **ITEM, reason=pb.STALE_REASON_IDLE_AND_OVERSTOCK, stale_quantity=69, idle_days=120
        )
    )
    assert (lot.idle, lot.overstock, lot.stale_quantity) == (True, True, 69)


def test_an_item_from_an_inventory_before_overstock_is_idle_and_stale_whole() -> None:
    lot = stale_lot_of(pb.StaleStockItem(**ITEM, idle_days=120))
    assert (lot.idle, lot.overstock, lot.stale_quantity, lot.stale_value_fen) == (
        True,
        False,
        69,
        690,
    )
