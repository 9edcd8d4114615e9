"""The bulk paths of a store's count decide exactly what the one-by-one rules decide.

`counts.decide_all` decides most lines directly (no command, no decider match, no
per-event evolve) and `stock.evolve` builds the position with its constructor: both are
checked here against the reference on random inputs, the reference being the rules as
they were written first (`count` then `evolve` line by line, and an evolve that steps
with dataclasses.replace).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kernel.errors import RuleViolated
from services.inventory.domain import counts, reasons
from services.inventory.domain.counts import CountResult, StockCount, SyncStockCounts
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
from services.inventory.domain.stock import Reservation, Shipment, StockPosition, evolve

NOW = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
STORE = "SZ01"


def reference_evolve(position: StockPosition, event: StockEvent) -> StockPosition:
    """The position after `event` as the aggregate first computed it (replace per step)."""
    p = replace(position, store_id=event.store_id, part_number=event.part_number)
    at = event.occurred_at
    match event:
        case StockReceived() | PartsIssued() | PartsReturned():
            return replace(p, on_hand=event.on_hand_after, last_movement_at=at)
        case ShortageRecorded():
            return p
        case StockAdjusted(last_moved_at=None):
            return replace(p, on_hand=event.counted, last_movement_at=at, counted_at=at)
        case StockAdjusted(last_moved_at=dms):
            known = [m for m in (p.last_movement_at, dms) if m is not None]
            return replace(p, on_hand=event.counted, last_movement_at=max(known), counted_at=at)
        case StockReserved():
            held = Reservation(
                event.reservation_id, event.quantity, event.expires_at, event.reference
            )
            return replace(p, reservations=(*p.reservations, held))
        case ReservationReleased() | ReservationExpired():
            return replace(p, reservations=_without(p.reservations, event.reservation_id))
        case TransferShipped():
            return replace(
                p,
                on_hand=p.on_hand - event.quantity,
                reservations=_without(p.reservations, event.reservation_id),
                outbound=(
                    *p.outbound,
                    Shipment(event.transfer_id, event.destination_store_id, event.quantity),
                ),
                last_movement_at=at,
            )
        case InboundTransferRecorded():
            shipment = Shipment(event.transfer_id, event.source_store_id, event.quantity)
            return replace(p, inbound=(*p.inbound, shipment))
        case TransferReceived():
            inbound = _less(p.inbound, event.transfer_id, event.quantity)
            done = all(s.transfer_id != event.transfer_id for s in inbound)
            return replace(
                p,
                on_hand=event.on_hand_after,
                inbound=inbound,
                last_movement_at=at,
                received_transfers=(
                    (*p.received_transfers, event.transfer_id) if done else p.received_transfers
                ),
            )
        case TransferDelivered() | ShipmentLost():
            return replace(p, outbound=_less(p.outbound, event.transfer_id, event.quantity))
        case InboundTransferLost():
            return replace(p, inbound=_less(p.inbound, event.transfer_id, event.quantity))
    raise TypeError(event)


def _without(reservations: tuple[Reservation, ...], rid: str) -> tuple[Reservation, ...]:
    return tuple(r for r in reservations if r.reservation_id != rid)


def _less(shipments: tuple[Shipment, ...], tid: str, qty: int) -> tuple[Shipment, ...]:
    kept = [replace(s, quantity=s.quantity - qty) if s.transfer_id == tid else s for s in shipments]
    return tuple(s for s in kept if s.transfer_id != tid or s.quantity > 0)


def reference_decide_all(
    command: SyncStockCounts, known: set[str], positions: dict[str, StockPosition]
) -> counts.Decided:
    """Every line through `count` and `evolve`, one by one."""
    results: list[CountResult] = []
    changes: list[counts.Change] = []
    for line in command.counts:
        if line.part_number not in known:
            message = f"part {line.part_number!r} is not in the catalogue"
            results.append(
                CountResult.refused(
                    StockPosition(), line.part_number, reasons.UNKNOWN_PART, message
                )
            )
            continue
        position = positions[line.part_number]
        try:
            new_events = counts.count(command, line, position)
        except RuleViolated as refused:
            results.append(
                CountResult.refused(position, line.part_number, refused.reason, refused.message)
            )
            continue
        state = position
        for event in new_events:
            state = reference_evolve(state, event)
        if new_events:
            changes.append(counts.Change(line.part_number, tuple(new_events), state))
        results.append(CountResult.of(state, line.part_number, new_events))
    return counts.Decided(tuple(results), tuple(changes))


def random_event(rng: random.Random, position: StockPosition, part: str) -> StockEvent:
    at = NOW - timedelta(minutes=rng.randint(-30, 600))
    qty = rng.randint(1, 9)
    tid = f"T-{rng.randint(1, 3)}"
    rid = rng.choice([r.reservation_id for r in position.reservations] or ["R-9"])
    on_hand = rng.randint(0, 40)
    other = rng.choice(["GZ01", "BJ02"])
    return rng.choice(
        [
            StockReceived(STORE, part, qty, "PO", on_hand, at),
            PartsIssued(STORE, part, "RO-1", qty, on_hand, at),
            PartsReturned(STORE, part, "RO-1", qty, on_hand, at),
            ShortageRecorded(STORE, part, "RO-2", qty, on_hand, rng.random() < 0.5, at),
            StockAdjusted(
                STORE,
                part,
                position.on_hand,
                on_hand,
                on_hand - position.on_hand,
                "c",
                at,
                random_last_moved(rng, at),
            ),
            StockReserved(STORE, part, f"R-{rng.randint(1, 99)}", qty, at, "ref", at),
            ReservationReleased(STORE, part, rid, qty, "released", at),
            ReservationExpired(STORE, part, rid, qty, at),
            TransferShipped(STORE, part, tid, rid, other, qty, 0, at),
            InboundTransferRecorded(STORE, part, tid, other, qty, at),
            TransferReceived(STORE, part, tid, other, qty, on_hand, at),
            TransferDelivered(STORE, part, tid, other, qty, at),
            ShipmentLost(STORE, part, tid, other, qty, "lost", at),
            InboundTransferLost(STORE, part, tid, other, qty, "lost", at),
        ]
    )


def random_last_moved(rng: random.Random, counted_at: datetime) -> datetime | None:
    """None (a count without the DMS's date), a date months before, one after the count
    (refused) or one too old to be true (refused)."""
    return rng.choice(
        [
            None,
            None,
            counted_at - timedelta(days=rng.randint(0, 400)),
            counted_at + timedelta(seconds=1),
            counted_at - counts.OLDEST_LAST_MOVED - timedelta(days=1),
        ]
    )


def random_history(rng: random.Random, part: str) -> list[StockEvent]:
    position, events = StockPosition(), []
    for _ in range(rng.choice([0, 0, 1, 2, 5, 12])):
        event = random_event(rng, position, part)
        events.append(event)
        position = reference_evolve(position, event)
    return events


@pytest.mark.parametrize("seed", range(20))
def test_evolve_equals_the_replace_by_replace_reference(seed: int) -> None:
    rng = random.Random(seed)
    for k in range(50):
        state = expected = StockPosition()
        for event in random_history(rng, f"P-{k}"):
            state, expected = evolve(state, event), reference_evolve(expected, event)
            assert state == expected


@pytest.mark.parametrize("seed", range(20))
def test_decide_all_equals_counting_line_by_line(seed: int) -> None:
    rng = random.Random(seed)
    parts = [f"P-{k}" for k in range(rng.randint(1, 60))]
    known = {p for p in parts if rng.random() < 0.9}
    positions: dict[str, StockPosition] = {}
    for part in known:
        state = StockPosition()
        for event in random_history(rng, part):
            state = reference_evolve(state, event)
        positions[part] = state
    lines = tuple(
        StockCount(
            p,
            rng.choice([-1, 0, 1, 3, 7, 20, 40, counts.MAX_QUANTITY + 1]),
            random_last_moved(rng, NOW),
        )
        for p in parts
    )
    command = SyncStockCounts(STORE, NOW, rng.choice(["night", "cycle count"]), lines, NOW)

    decided = counts.decide_all(command, known, positions)

    assert decided == reference_decide_all(command, known, positions)
    assert decided.changes  # the seeds all exercise recording, not only refusals


def test_a_blank_reason_is_refused_as_the_line_by_line_rules_refuse_it() -> None:
    command = SyncStockCounts(STORE, NOW, " ", (StockCount("P-1", 3),), NOW)
    positions = {"P-1": StockPosition(STORE, "P-1", 1)}

    with pytest.raises(Exception) as bulk:
        counts.decide_all(command, {"P-1"}, positions)
    with pytest.raises(Exception) as one_by_one:
        reference_decide_all(command, {"P-1"}, positions)

    assert type(bulk.value) is type(one_by_one.value)
    assert str(bulk.value) == str(one_by_one.value)
