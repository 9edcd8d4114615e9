"""Commands on a stock position: each names its position and the business time it happens at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_RESERVATION = timedelta(days=14)


@dataclass(frozen=True)
class ReceiveStock:
    store_id: str
    part_number: str
    quantity: int
    reference: str
    at: datetime


@dataclass(frozen=True)
class RequestParts:
    store_id: str
    part_number: str
    repair_order: str
    quantity: int
    customer_waiting: bool
    at: datetime


@dataclass(frozen=True)
class ReturnParts:
    store_id: str
    part_number: str
    repair_order: str
    quantity: int
    at: datetime


@dataclass(frozen=True)
class AdjustStock:
    store_id: str
    part_number: str
    counted_quantity: int
    reason: str
    at: datetime


@dataclass(frozen=True)
class ReserveStock:
    store_id: str
    part_number: str
    reservation_id: str
    quantity: int
    # A hold time, not an expiry moment: a retry later in time is still the same command.
    ttl: timedelta
    reference: str
    at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.at + self.ttl


@dataclass(frozen=True)
class ReleaseReservation:
    store_id: str
    part_number: str
    reservation_id: str
    at: datetime


@dataclass(frozen=True)
class ExpireReservation:
    store_id: str
    part_number: str
    reservation_id: str
    at: datetime


@dataclass(frozen=True)
class ShipTransfer:
    store_id: str
    part_number: str
    transfer_id: str
    reservation_id: str
    destination_store_id: str
    quantity: int  # 0: the whole reservation
    at: datetime


@dataclass(frozen=True)
class RecordInboundTransfer:
    store_id: str
    part_number: str
    transfer_id: str
    source_store_id: str
    quantity: int
    at: datetime


@dataclass(frozen=True)
class ReceiveTransfer:
    store_id: str
    part_number: str
    transfer_id: str
    quantity: int  # 0: everything outstanding
    at: datetime


@dataclass(frozen=True)
class ConfirmDelivery:
    store_id: str
    part_number: str
    transfer_id: str
    quantity: int
    at: datetime


@dataclass(frozen=True)
class ReportShipmentLost:
    store_id: str
    part_number: str
    transfer_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class RecordInboundLost:
    store_id: str
    part_number: str
    transfer_id: str
    quantity: int
    reason: str
    at: datetime


StockCommand = (
    ReceiveStock
    | RequestParts
    | ReturnParts
    | AdjustStock
    | ReserveStock
    | ReleaseReservation
    | ExpireReservation
    | ShipTransfer
    | RecordInboundTransfer
    | ReceiveTransfer
    | ConfirmDelivery
    | ReportShipmentLost
    | RecordInboundLost
)
