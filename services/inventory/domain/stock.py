"""A stock position (store x part): on hand, reservations and transfers in transit.

Rules: on hand and available never go negative; reserve only what is available; ship
only what is reserved; receive only what was shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kernel.decider import Decider
from kernel.errors import AlreadyExists, NotFound, RuleViolated, Violations
from kernel.validation import identifier, non_negative, positive_quantity, text
from services.inventory.domain import reasons
from services.inventory.domain.commands import (
    MAX_RESERVATION,
    AdjustStock,
    ConfirmDelivery,
    ExpireReservation,
    ReceiveStock,
    ReceiveTransfer,
    RecordInboundLost,
    RecordInboundTransfer,
    ReleaseReservation,
    ReportShipmentLost,
    RequestParts,
    ReserveStock,
    ReturnParts,
    ShipTransfer,
    StockCommand,
)
from services.inventory.domain.events import (
    InboundTransferLost,
    InboundTransferRecorded,
    PartsIssued,
    PartsReturned,
    ReservationExpired,
    ReservationReleased,
    ShipmentLost,
    ShortageRecorded,
    StockAdjusted,
    StockEvent,
    StockReceived,
    StockReserved,
    TransferDelivered,
    TransferReceived,
    TransferShipped,
)


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    quantity: int
    expires_at: datetime
    reference: str


@dataclass(frozen=True)
class Shipment:
    """A transfer's quantity still in transit, seen from one end."""

    transfer_id: str
    counterpart_store_id: str
    quantity: int


@dataclass(frozen=True)
class StockPosition:
    store_id: str = ""
    part_number: str = ""
    on_hand: int = 0
    reservations: tuple[Reservation, ...] = ()
    outbound: tuple[Shipment, ...] = ()
    inbound: tuple[Shipment, ...] = ()
    last_movement_at: datetime | None = None
    # Transfers received here in full: receiving "the rest" of one again changes nothing.
    received_transfers: tuple[str, ...] = ()
    # When the shelf was last counted (StockAdjusted): an older count is refused even when
    # the count kept an earlier last movement, the DMS's (counts.py).
    counted_at: datetime | None = None

    @property
    def reserved(self) -> int:
        return sum(r.quantity for r in self.reservations)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def in_transit_out(self) -> int:
        return sum(s.quantity for s in self.outbound)

    @property
    def in_transit_in(self) -> int:
        return sum(s.quantity for s in self.inbound)

    def reservation(self, reservation_id: str) -> Reservation | None:
        return next((r for r in self.reservations if r.reservation_id == reservation_id), None)

    def shipment_out(self, transfer_id: str) -> Shipment | None:
        return next((s for s in self.outbound if s.transfer_id == transfer_id), None)

    def shipment_in(self, transfer_id: str) -> Shipment | None:
        return next((s for s in self.inbound if s.transfer_id == transfer_id), None)

    @property
    def subject(self) -> str:
        return f"stock/{self.store_id}/{self.part_number}"


def field_faults(command: StockCommand) -> Violations:
    """What is wrong with the command's own fields, whatever the position's state: every
    fault at once (the gRPC layer adds them to the request's, so a caller learns of all
    its faults in one refusal)."""
    v = Violations()
    match command:
        case ReceiveStock(quantity=qty, reference=reference):
            positive_quantity(v, "quantity", qty)
            text(v, "reference", reference, required=False)
        case (
            RequestParts(repair_order=ro, quantity=qty) | ReturnParts(repair_order=ro, quantity=qty)
        ):
            identifier(v, "repair_order", ro)
            positive_quantity(v, "quantity", qty)
        case AdjustStock(counted_quantity=counted, reason=reason):
            non_negative(v, "counted_quantity", counted)
            text(v, "reason", reason)
        case ReserveStock(reservation_id=rid, quantity=qty, ttl=ttl, reference=ref):
            identifier(v, "reservation_id", rid)
            positive_quantity(v, "quantity", qty)
            text(v, "reference", ref, required=False)
            if not timedelta(0) < ttl <= MAX_RESERVATION:
                v.add("ttl_seconds", "must put the expiry between now and 14 days ahead")
        case ShipTransfer(transfer_id=tid, destination_store_id=dest, quantity=qty):
            identifier(v, "transfer_id", tid)
            non_negative(v, "quantity", qty)
            if dest == command.store_id:
                v.add("destination_store_id", "must differ from the source store")
        case ReceiveTransfer(quantity=qty):
            non_negative(v, "quantity", qty)
        case ReportShipmentLost(reason=reason):
            text(v, "reason", reason)
    return v


def decide(command: StockCommand, position: StockPosition) -> Sequence[StockEvent]:
    field_faults(command).raise_if_any()
    at, store, part = command.at, command.store_id, command.part_number
    match command:
        case ReceiveStock(quantity=qty, reference=reference):
            return [StockReceived(store, part, qty, reference, position.on_hand + qty, at)]

        case RequestParts(repair_order=ro, quantity=qty, customer_waiting=waiting):
            if qty <= position.available:
                return [PartsIssued(store, part, ro, qty, position.on_hand - qty, at)]
            due, freed = _due(position, store, part, at)
            if qty <= position.available + freed:
                return [*due, PartsIssued(store, part, ro, qty, position.on_hand - qty, at)]
            available = position.available + freed
            return [*due, ShortageRecorded(store, part, ro, qty, available, waiting, at)]

        case ReturnParts(repair_order=ro, quantity=qty):
            return [PartsReturned(store, part, ro, qty, position.on_hand + qty, at)]

        case AdjustStock(counted_quantity=counted, reason=reason):
            if counted == position.on_hand:
                return []
            events: list[StockEvent] = [
                StockAdjusted(
                    store, part, position.on_hand, counted, counted - position.on_hand, reason, at
                )
            ]
            # A count is a fact: when fewer are on the shelf than reserved, the newest
            # reservations are given up so that available never goes negative.
            shortfall = position.reserved - counted
            for r in reversed(position.reservations):
                if shortfall <= 0:
                    break
                events.append(
                    ReservationReleased(
                        store,
                        part,
                        r.reservation_id,
                        r.quantity,
                        "stock count below reserved quantity",
                        at,
                    )
                )
                shortfall -= r.quantity
            return events

        case ReserveStock(reservation_id=rid, quantity=qty, reference=ref):
            if position.reservation(rid) is not None:
                raise AlreadyExists("reservation", rid)
            reserving = StockReserved(store, part, rid, qty, command.expires_at, ref, at)
            if qty <= position.available:
                return [reserving]
            due, freed = _due(position, store, part, at)
            if qty > position.available + freed:
                available = position.available + freed
                raise RuleViolated(
                    reasons.INSUFFICIENT_AVAILABLE_STOCK,
                    f"cannot reserve {qty}: only {available} available",
                    position.subject,
                    {"requested": str(qty), "available": str(available)},
                )
            return [*due, reserving]

        case ReleaseReservation(reservation_id=rid):
            reservation = _held(position, rid)
            return [ReservationReleased(store, part, rid, reservation.quantity, "released", at)]

        case ExpireReservation(reservation_id=rid):
            held = position.reservation(rid)
            if held is None or held.expires_at > at:
                return []  # shipped, released or extended meanwhile: nothing to expire
            return [ReservationExpired(store, part, rid, held.quantity, at)]

        case ShipTransfer(
            transfer_id=tid, reservation_id=rid, destination_store_id=dest, quantity=qty
        ):
            if position.shipment_out(tid) is not None:
                raise AlreadyExists("shipment", tid)
            reservation = _held(position, rid)
            shipped = qty or reservation.quantity
            if shipped > reservation.quantity:
                raise RuleViolated(
                    reasons.SHIP_EXCEEDS_RESERVATION,
                    f"cannot ship {shipped}: reservation {rid} holds {reservation.quantity}",
                    position.subject,
                    {"requested": str(shipped), "reserved": str(reservation.quantity)},
                )
            return [
                TransferShipped(
                    store, part, tid, rid, dest, shipped, reservation.quantity - shipped, at
                )
            ]

        case RecordInboundTransfer(transfer_id=tid, source_store_id=source, quantity=qty):
            if position.shipment_in(tid) is not None:
                raise AlreadyExists("inbound transfer", tid)
            return [InboundTransferRecorded(store, part, tid, source, qty, at)]

        case ReceiveTransfer(transfer_id=tid, quantity=qty):
            inbound = position.shipment_in(tid)
            if inbound is None and qty == 0 and tid in position.received_transfers:
                return []  # received in full already (its store's DMS, then the saga)
            if inbound is None:
                raise RuleViolated(
                    reasons.NOTHING_IN_TRANSIT,
                    f"transfer {tid} has nothing in transit to {store}",
                    position.subject,
                )
            received = qty or inbound.quantity
            if received > inbound.quantity:
                raise RuleViolated(
                    reasons.RECEIVE_EXCEEDS_SHIPPED,
                    f"cannot receive {received}: only {inbound.quantity} of {tid} in transit",
                    position.subject,
                    {"requested": str(received), "in_transit": str(inbound.quantity)},
                )
            return [
                TransferReceived(
                    store,
                    part,
                    tid,
                    inbound.counterpart_store_id,
                    received,
                    position.on_hand + received,
                    at,
                )
            ]

        case ConfirmDelivery(transfer_id=tid, quantity=qty):
            outbound = position.shipment_out(tid)
            if outbound is None:
                return []
            return [
                TransferDelivered(
                    store, part, tid, outbound.counterpart_store_id, min(qty, outbound.quantity), at
                )
            ]

        case ReportShipmentLost(transfer_id=tid, reason=reason):
            outbound = position.shipment_out(tid)
            if outbound is None:
                raise RuleViolated(
                    reasons.NOTHING_IN_TRANSIT,
                    f"transfer {tid} has nothing in transit from {store}",
                    position.subject,
                )
            return [
                ShipmentLost(
                    store, part, tid, outbound.counterpart_store_id, outbound.quantity, reason, at
                )
            ]

        case RecordInboundLost(transfer_id=tid, quantity=qty, reason=reason):
            inbound = position.shipment_in(tid)
            if inbound is None:
                return []
            return [
                InboundTransferLost(
                    store,
                    part,
                    tid,
                    inbound.counterpart_store_id,
                    min(qty, inbound.quantity),
                    reason,
                    at,
                )
            ]
    raise TypeError(f"unknown command {command!r}")


def evolve(position: StockPosition, event: StockEvent) -> StockPosition:
    """The position after `event`. Built with the constructor, not dataclasses.replace
    (five times its cost): loads fold up to `snapshot_every` events per position and a
    store's whole count evolves thousands of them in one call."""
    p = position
    store, part = event.store_id, event.part_number
    on_hand, reservations, moved = p.on_hand, p.reservations, p.last_movement_at
    outbound, inbound, received = p.outbound, p.inbound, p.received_transfers
    counted_at = p.counted_at
    match event:
        case (
            StockReceived(on_hand_after=on_hand)
            | PartsIssued(on_hand_after=on_hand)
            | PartsReturned(on_hand_after=on_hand)
        ):
            moved = event.occurred_at
        case ShortageRecorded():
            pass
        case StockAdjusted(counted=on_hand):
            counted_at = event.occurred_at
            moved = moved_after_count(moved, counted_at, event.last_moved_at)
        case StockReserved(reservation_id=rid, quantity=qty, expires_at=expires, reference=ref):
            reservations = (*reservations, Reservation(rid, qty, expires, ref))
        case ReservationReleased(reservation_id=rid) | ReservationExpired(reservation_id=rid):
            reservations = _without(reservations, rid)
        case TransferShipped(
            transfer_id=tid, reservation_id=rid, destination_store_id=dest, quantity=qty
        ):
            on_hand -= qty
            reservations = _without(reservations, rid)
            outbound = (*outbound, Shipment(tid, dest, qty))
            moved = event.occurred_at
        case InboundTransferRecorded(transfer_id=tid, source_store_id=source, quantity=qty):
            inbound = (*inbound, Shipment(tid, source, qty))
        case TransferReceived(transfer_id=tid, quantity=qty, on_hand_after=on_hand):
            inbound = _less(inbound, tid, qty)
            if not any(s.transfer_id == tid for s in inbound):
                received = (*received, tid)
            moved = event.occurred_at
        case (
            TransferDelivered(transfer_id=tid, quantity=qty)
            | ShipmentLost(transfer_id=tid, quantity=qty)
        ):
            outbound = _less(outbound, tid, qty)
        case InboundTransferLost(transfer_id=tid, quantity=qty):
            inbound = _less(inbound, tid, qty)
        case _:
            raise TypeError(f"unknown event {event!r}")
    return StockPosition(
        store, part, on_hand, reservations, outbound, inbound, moved, received, counted_at
    )


def moved_after_count(
    moved: datetime | None, counted_at: datetime, last_moved_at: datetime | None
) -> datetime:
    """A position's last movement once counted: the count itself, as a movement, when the
    DMS gave no date (as every count was before); else the later of StoreMesh's own last
    movement and the DMS's date, so stock idle at the store before it joined is stale at
    once and nothing StoreMesh saw move is made to look older."""
    if last_moved_at is None:
        return counted_at
    return last_moved_at if moved is None or moved < last_moved_at else moved


def _due(
    position: StockPosition, store: str, part: str, at: datetime
) -> tuple[list[StockEvent], int]:
    """The reservations past their expiry at `at`, expired now, and the units they free.

    A reservation past its expiry holds nothing against new demand: its durable timer
    expires it, but the timer runner may be behind (an outage, a backlog), so a command
    that needs the stock expires it first (a repair order left short even so too: its
    shortage counts those units as available). Only then: with stock enough, it is left
    to its timer (a command's events stay its own)."""
    due = [r for r in position.reservations if r.expires_at <= at]
    events: list[StockEvent] = [
        ReservationExpired(store, part, r.reservation_id, r.quantity, at) for r in due
    ]
    return events, sum(r.quantity for r in due)


def _without(reservations: tuple[Reservation, ...], rid: str) -> tuple[Reservation, ...]:
    return tuple(r for r in reservations if r.reservation_id != rid)


def _less(shipments: tuple[Shipment, ...], tid: str, qty: int) -> tuple[Shipment, ...]:
    result = []
    for s in shipments:
        if s.transfer_id == tid:
            if s.quantity - qty > 0:
                result.append(replace(s, quantity=s.quantity - qty))
        else:
            result.append(s)
    return tuple(result)


def _held(position: StockPosition, rid: str) -> Reservation:
    reservation = position.reservation(rid)
    if reservation is None:
        raise NotFound("reservation", f"{position.subject}/{rid}")
    return reservation


stock = Decider[StockPosition, StockCommand, StockEvent](StockPosition, decide, evolve)
