"""A store's whole stock count: the batch's rules, each line's decision, and the handler
recording only what differs, on a fake unit of work (no database)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kernel.clock import ManualClock
from kernel.codec import from_json, to_json
from kernel.errors import InvalidArgument, RuleViolated
from kernel.testing.fakes import FakeUnitOfWork
from kernel.testing.scenario import event_types
from services.inventory.application import POSITIONS, record_counts
from services.inventory.domain import counts, reasons
from services.inventory.domain.counts import Outcome, StockCount, SyncStockCounts
from services.inventory.domain.events import (
    ReservationReleased,
    StockAdjusted,
    StockReceived,
    StockReserved,
)
from services.inventory.domain.stock import stock

NOW = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
STORE = "SZ01"


def batch(
    *lines: tuple[str, int], counted_at: datetime = NOW, reason: str = "night"
) -> SyncStockCounts:
    return SyncStockCounts(
        STORE, counted_at, reason, tuple(StockCount(p, q) for p, q in lines), NOW
    )


def invalid_fields(command: SyncStockCounts) -> list[str]:
    with pytest.raises(InvalidArgument) as refused:
        counts.validate(command, NOW)
    return sorted(v.field for v in refused.value.violations)


# The batch: refused whole for its own faults, every field named


def test_a_part_counted_twice_is_named_at_each_repeat() -> None:
    command = batch(("P-1", 1), ("P-2", 2), ("P-1", 3), ("P-1", 4))

    assert invalid_fields(command) == ["counts[2].part_number", "counts[3].part_number"]


def test_an_empty_count_a_future_count_and_no_reason_are_refused_together() -> None:
    command = batch(counted_at=NOW + timedelta(hours=1), reason=" ")

    assert invalid_fields(command) == ["counted_at", "counts", "reason"]


def test_a_dms_clock_a_little_ahead_is_not_the_future() -> None:
    counts.validate(batch(("P-1", 1), counted_at=NOW + timedelta(minutes=4)), NOW)


def test_more_than_ten_thousand_positions_are_refused() -> None:
    command = batch(*((f"P-{k}", 1) for k in range(counts.MAX_COUNTS + 1)))

    assert invalid_fields(command) == ["counts"]


def test_every_chunk_carries_the_digest_of_the_whole_batch() -> None:
    command = batch(*((f"P-{k}", 1) for k in range(1_200)))
    longer = batch(*((f"P-{k}", 1) for k in range(1_201)))

    chunks = command.chunks(500)

    assert [len(c.counts) for c in chunks] == [500, 500, 200]
    assert len({c.batch for c in chunks}) == 1
    # Same first chunk, other batch: its request fingerprint must differ.
    assert longer.chunks(500)[0].counts == chunks[0].counts
    assert longer.chunks(500)[0].batch != chunks[0].batch


# One line: the stock position's own AdjustStock rule, plus the count's age


def test_a_line_that_differs_records_the_ordinary_stock_adjusted() -> None:
    position = stock.fold([StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1))])

    recorded = counts.count(batch(("P-1", 7)), StockCount("P-1", 7), position)

    assert recorded == [StockAdjusted(STORE, "P-1", 10, 7, -3, "night", NOW)]


def test_a_line_that_matches_records_nothing() -> None:
    position = stock.fold([StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1))])

    assert counts.count(batch(("P-1", 10)), StockCount("P-1", 10), position) == []


def test_a_count_below_the_reserved_quantity_gives_up_the_newest_reservations() -> None:
    position = stock.fold(
        [
            StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1)),
            StockReserved(STORE, "P-1", "R-1", 3, NOW + timedelta(hours=2), "", NOW),
            StockReserved(STORE, "P-1", "R-2", 4, NOW + timedelta(hours=2), "", NOW),
        ]
    )

    recorded = counts.count(batch(("P-1", 4)), StockCount("P-1", 4), position)

    assert event_types(recorded) == ["StockAdjusted", "ReservationReleased"]
    assert isinstance(recorded[1], ReservationReleased) and recorded[1].reservation_id == "R-2"


@pytest.mark.parametrize("quantity", [-1, 1_000_001])
def test_a_count_out_of_range_is_refused_for_its_line(quantity: int) -> None:
    with pytest.raises(RuleViolated) as refused:
        counts.count(batch(("P-1", quantity)), StockCount("P-1", quantity), stock.fold([]))

    assert refused.value.reason == reasons.INVALID_COUNT


def test_a_count_older_than_the_last_movement_is_refused_for_its_line() -> None:
    position = stock.fold([StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW + timedelta(minutes=1))])

    with pytest.raises(RuleViolated) as refused:
        counts.count(batch(("P-1", 4)), StockCount("P-1", 4), position)

    assert refused.value.reason == reasons.MOVED_SINCE_COUNT


# The handler: each line on its loaded position, only what differs recorded


async def test_a_chunk_records_what_differs_and_reports_every_line() -> None:
    uow = FakeUnitOfWork(ManualClock(NOW))
    at_p1, at_p2 = POSITIONS.stream_id(STORE, "P-1"), POSITIONS.stream_id(STORE, "P-2")
    uow.given(at_p1, StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1)))
    uow.given(at_p2, StockReceived(STORE, "P-2", 5, "PO-1", 5, NOW - timedelta(days=1)))
    chunk = replace(batch(("P-1", 8), ("P-2", 5), ("P-9", 1), ("P-3", -2), ("P-4", 6)), batch="d")
    known = {"P-1", "P-2", "P-3", "P-4"}
    loaded = {
        s: await uow.load(POSITIONS, s)
        for s in (POSITIONS.stream_id(STORE, p) for p in sorted(known))
    }

    done = await record_counts(uow, chunk, known, loaded)

    assert [(r.part_number, r.outcome, r.reason) for r in done.results] == [
        ("P-1", Outcome.ADJUSTED, ""),
        ("P-2", Outcome.UNCHANGED, ""),
        ("P-9", Outcome.REFUSED, reasons.UNKNOWN_PART),
        ("P-3", Outcome.REFUSED, reasons.INVALID_COUNT),
        ("P-4", Outcome.ADJUSTED, ""),
    ]
    assert (done.results[0].on_hand, done.results[0].available) == (8, 8)
    assert event_types(uow.streams[at_p1]) == ["StockReceived", "StockAdjusted"]
    assert event_types(uow.streams[at_p2]) == ["StockReceived"]
    assert event_types(uow.streams[POSITIONS.stream_id(STORE, "P-4")]) == ["StockAdjusted"]
    assert POSITIONS.stream_id(STORE, "P-3") not in uow.streams


def test_the_whole_batch_is_decided_without_reading_or_writing() -> None:
    received = stock.fold([StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1))])
    command = batch(("P-1", 7), ("P-2", 0), ("P-3", 4), ("P-X", 1))
    positions = {"P-1": received, "P-2": stock.fold([]), "P-3": stock.fold([])}

    decided = counts.decide_all(command, {"P-1", "P-2", "P-3"}, positions)

    assert [(r.part_number, r.outcome) for r in decided.results] == [
        ("P-1", Outcome.ADJUSTED),
        ("P-2", Outcome.UNCHANGED),
        ("P-3", Outcome.ADJUSTED),
        ("P-X", Outcome.REFUSED),
    ]
    assert [c.part_number for c in decided.changes] == ["P-1", "P-3"]
    assert decided.changes[0].state == stock.fold(decided.changes[0].events, received)
    assert (decided.changes[0].state.on_hand, decided.results[0].on_hand) == (7, 7)


def test_a_batch_reply_survives_the_command_log_unchanged() -> None:
    received = stock.fold([StockReceived(STORE, "P-1", 10, "PO-1", 10, NOW - timedelta(days=1))])
    command = batch(("P-1", 7), ("P-2", -1), ("P-3", 3), ("P-X", 1))
    positions = {"P-1": received, "P-2": stock.fold([]), "P-3": stock.fold([])}
    results = list(counts.decide_all(command, {"P-1", "P-2", "P-3"}, positions).results)

    logged = json.loads(json.dumps(to_json(counts.CountedBatch.of(results))))

    assert from_json(logged, counts.CountedBatch).results() == results
    assert [r.reason for r in results] == ["", reasons.INVALID_COUNT, "", reasons.UNKNOWN_PART]
