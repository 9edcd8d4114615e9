"""The stock position's past facts and commands, shared by its decider's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kernel.testing.scenario import Scenario
from services.inventory.domain.commands import (
    AdjustStock,
    ReceiveStock,
    ReceiveTransfer,
    RequestParts,
    ReserveStock,
    ReturnParts,
    ShipTransfer,
    StockCommand,
)
from services.inventory.domain.events import (
    InboundTransferRecorded,
    StockEvent,
    StockReceived,
    StockReserved,
    TransferShipped,
)
from services.inventory.domain.stock import StockPosition, stock

position: Scenario[StockPosition, StockCommand, StockEvent] = Scenario(stock)

SOURCE, DESTINATION, PART = "SZ01", "GZ01", "P-100"
EARLIER = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOLD = timedelta(hours=2)


# Past facts of the position SZ01 x P-100 (and of GZ01 for the destination end).


def received(quantity: int, on_hand_after: int | None = None) -> StockReceived:
    return StockReceived(SOURCE, PART, quantity, "PO-1", on_hand_after or quantity, EARLIER)


def reserved(rid: str, quantity: int, expires_at: datetime = NOW + HOLD) -> StockReserved:
    return StockReserved(SOURCE, PART, rid, quantity, expires_at, f"T-{rid}", EARLIER)


def shipped(quantity: int, reservation_quantity: int | None = None) -> TransferShipped:
    held = reservation_quantity or quantity
    return TransferShipped(
        SOURCE, PART, "T-1", "R-1", DESTINATION, quantity, held - quantity, EARLIER
    )


def inbound(quantity: int) -> InboundTransferRecorded:
    return InboundTransferRecorded(DESTINATION, PART, "T-1", SOURCE, quantity, EARLIER)


# Commands, at NOW.


def receive(quantity: int, reference: str = "PO-2") -> ReceiveStock:
    return ReceiveStock(SOURCE, PART, quantity, reference, NOW)


def request(quantity: int, repair_order: str = "RO-7", waiting: bool = True) -> RequestParts:
    return RequestParts(SOURCE, PART, repair_order, quantity, waiting, NOW)


def give_back(quantity: int, repair_order: str = "RO-7") -> ReturnParts:
    return ReturnParts(SOURCE, PART, repair_order, quantity, NOW)


def count(counted: int, reason: str = "monthly count") -> AdjustStock:
    return AdjustStock(SOURCE, PART, counted, reason, NOW)


def reserve(rid: str, quantity: int, ttl: timedelta = HOLD, reference: str = "T-1") -> ReserveStock:
    return ReserveStock(SOURCE, PART, rid, quantity, ttl, reference, NOW)


def ship(
    quantity: int = 0, rid: str = "R-1", tid: str = "T-1", to: str = DESTINATION
) -> ShipTransfer:
    return ShipTransfer(SOURCE, PART, tid, rid, to, quantity, NOW)


def receive_transfer(quantity: int = 0, tid: str = "T-1") -> ReceiveTransfer:
    return ReceiveTransfer(DESTINATION, PART, tid, quantity, NOW)
