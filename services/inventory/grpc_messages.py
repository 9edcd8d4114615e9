"""Proto <-> domain for the inventory API: the replies built from the read side's views."""

from __future__ import annotations

from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.codec import timestamp
from services.inventory.read_model import (
    MatrixRowView,
    PartView,
    PositionView,
    StaleItemView,
    StoreStockView,
)


def position_message(p: PositionView) -> pb.StockPosition:
    return pb.StockPosition(
        store_id=p.store_id,
        part_number=p.part_number,
        on_hand=p.on_hand,
        reserved=p.reserved,
        available=p.available,
        in_transit_out=p.in_transit_out,
        in_transit_in=p.in_transit_in,
        last_movement_at=timestamp(p.last_movement_at),
        reservations=[
            pb.Reservation(
                reservation_id=r.reservation_id,
                quantity=r.quantity,
                expires_at=timestamp(r.expires_at),
                reference=r.reference,
            )
            for r in p.reservations
        ],
    )


def part_message(p: PartView) -> pb.Part:
    return pb.Part(
        part_number=p.part_number,
        name=p.name,
        category=p.category,
        unit=p.unit,
        unit_cost_fen=p.unit_cost_fen,
    )


def store_stock_message(p: StoreStockView) -> pb.StoreStock:
    return pb.StoreStock(
        store_id=p.store_id,
        available=p.available,
        on_hand=p.on_hand,
        last_movement_at=timestamp(p.last_movement_at),
    )


def matrix_row_message(r: MatrixRowView) -> pb.MatrixRow:
    return pb.MatrixRow(
        part_number=r.part_number,
        name=r.name,
        issued_in_window=r.issued_in_window,
        available=list(r.available),
    )


def stale_item_message(i: StaleItemView) -> pb.StaleStockItem:
    return pb.StaleStockItem(
        store_id=i.store_id,
        part_number=i.part_number,
        name=i.name,
        on_hand=i.on_hand,
        unit_cost_fen=i.unit_cost_fen,
        value_fen=i.value_fen,
        last_movement_at=timestamp(i.last_movement_at),
        idle_days=i.idle_days,
    )
