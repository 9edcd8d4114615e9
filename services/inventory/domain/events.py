"""Facts of the inventory context; each maps by name onto storemesh.inventory.events.v1."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

NETWORK = "_network"  # the subject token of catalogue events, which belong to no store


@dataclass(frozen=True)
class PartRegistered:
    store_id: str
    part_number: str
    name: str
    category: str
    unit: str
    unit_cost_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class PartUpdated:
    store_id: str
    part_number: str
    name: str
    category: str
    unit: str
    unit_cost_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class StockReceived:
    store_id: str
    part_number: str
    quantity: int
    reference: str
    on_hand_after: int
    occurred_at: datetime


@dataclass(frozen=True)
class PartsIssued:
    store_id: str
    part_number: str
    repair_order: str
    quantity: int
    on_hand_after: int
    occurred_at: datetime


@dataclass(frozen=True)
class ShortageRecorded:
    store_id: str
    part_number: str
    repair_order: str
    requested: int
    available: int
    customer_waiting: bool
    occurred_at: datetime


@dataclass(frozen=True)
class PartsReturned:
    store_id: str
    part_number: str
    repair_order: str
    quantity: int
    on_hand_after: int
    occurred_at: datetime


@dataclass(frozen=True)
class StockAdjusted:
    store_id: str
    part_number: str
    previous_on_hand: int
    counted: int
    delta: int
    reason: str
    occurred_at: datetime
    # The DMS's date of the position's last real movement before the count (a store's
    # synced count may carry it): the count then is no movement of its own (stock.evolve).
    last_moved_at: datetime | None = None


@dataclass(frozen=True)
class StockReserved:
    store_id: str
    part_number: str
    reservation_id: str
    quantity: int
    expires_at: datetime
    reference: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReservationReleased:
    store_id: str
    part_number: str
    reservation_id: str
    quantity: int
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReservationExpired:
    store_id: str
    part_number: str
    reservation_id: str
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True)
class TransferShipped:
    store_id: str
    part_number: str
    transfer_id: str
    reservation_id: str
    destination_store_id: str
    quantity: int
    remainder_released: int
    occurred_at: datetime


@dataclass(frozen=True)
class InboundTransferRecorded:
    store_id: str
    part_number: str
    transfer_id: str
    source_store_id: str
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True)
class TransferReceived:
    store_id: str
    part_number: str
    transfer_id: str
    source_store_id: str
    quantity: int
    on_hand_after: int
    occurred_at: datetime


@dataclass(frozen=True)
class TransferDelivered:
    store_id: str
    part_number: str
    transfer_id: str
    destination_store_id: str
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentLost:
    store_id: str
    part_number: str
    transfer_id: str
    destination_store_id: str
    quantity: int
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class InboundTransferLost:
    store_id: str
    part_number: str
    transfer_id: str
    source_store_id: str
    quantity: int
    reason: str
    occurred_at: datetime


CatalogueEvent = PartRegistered | PartUpdated
StockEvent = (
    StockReceived
    | PartsIssued
    | ShortageRecorded
    | PartsReturned
    | StockAdjusted
    | StockReserved
    | ReservationReleased
    | ReservationExpired
    | TransferShipped
    | InboundTransferRecorded
    | TransferReceived
    | TransferDelivered
    | ShipmentLost
    | InboundTransferLost
)


@dataclass(frozen=True)
class StaleStockValued:
    """A store's stale stock at the end of a business day (domain/stale.py): value_fen,
    positions and units are the whole of it (idle positions whole, overstocked ones'
    excess); the overstock_ figures are the part of them from positions overstocked but
    not idle (events recorded before overstock was valued say 0 there)."""

    store_id: str
    day: str
    min_idle_days: int
    value_fen: int
    positions: int
    units: int
    occurred_at: datetime
    usage_days: int = 0
    cover_days: int = 0
    overstock_value_fen: int = 0
    overstock_positions: int = 0
    overstock_units: int = 0


EVENT_TYPES: tuple[type, ...] = (
    PartRegistered,
    PartUpdated,
    StockReceived,
    PartsIssued,
    ShortageRecorded,
    PartsReturned,
    StockAdjusted,
    StockReserved,
    ReservationReleased,
    ReservationExpired,
    TransferShipped,
    InboundTransferRecorded,
    TransferReceived,
    TransferDelivered,
    ShipmentLost,
    InboundTransferLost,
    StaleStockValued,
)
