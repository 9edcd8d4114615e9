"""A count that carries the DMS's date of the position's last real movement: a joining
store's idle stock is stale at once, StoreMesh's own later movement wins, the date is
checked per line, and an older count still cannot overwrite a newer one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from kernel.codec import from_json, to_json
from kernel.errors import RuleViolated
from kernel.fingerprint import fingerprint
from services.inventory.domain import counts, reasons
from services.inventory.domain.counts import Outcome, StockCount, SyncStockCounts
from services.inventory.domain.events import StockAdjusted, StockReceived
from services.inventory.domain.stock import StockPosition, evolve, stock

NOW = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
STORE = "SZ01"
A_YEAR_AGO = NOW - timedelta(days=365)


def batch(*lines: StockCount, counted_at: datetime = NOW) -> SyncStockCounts:
    return SyncStockCounts(STORE, counted_at, "joining", lines, NOW)


def decided(command: SyncStockCounts, position: StockPosition) -> counts.Decided:
    (line,) = command.counts
    return counts.decide_all(command, {line.part_number}, {line.part_number: position})


def test_a_joining_stores_idle_position_keeps_the_dms_date_as_its_last_movement() -> None:
    # given a position StoreMesh has never seen
    command = batch(StockCount("P-1", 6, A_YEAR_AGO))

    # when the joining store's count arrives with the DMS's date
    (change,) = decided(command, StockPosition()).changes

    # then the count is recorded with the date, and the position lies idle since then
    assert change.events == (StockAdjusted(STORE, "P-1", 0, 6, 6, "joining", NOW, A_YEAR_AGO),)
    assert (change.state.on_hand, change.state.last_movement_at) == (6, A_YEAR_AGO)


def test_storemeshs_own_later_movement_wins_over_an_older_dms_date() -> None:
    received = NOW - timedelta(days=10)
    position = stock.fold([StockReceived(STORE, "P-1", 4, "PO-1", 4, received)])

    (change,) = decided(batch(StockCount("P-1", 6, A_YEAR_AGO)), position).changes

    assert change.state.last_movement_at == received


def test_a_later_dms_date_than_storemeshs_last_movement_is_taken() -> None:
    position = stock.fold([StockReceived(STORE, "P-1", 4, "PO-1", 4, A_YEAR_AGO)])
    issued_at_the_dms = NOW - timedelta(days=3)

    (change,) = decided(batch(StockCount("P-1", 3, issued_at_the_dms)), position).changes

    assert change.state.last_movement_at == issued_at_the_dms


def test_a_count_without_a_date_is_a_movement_at_counted_at_as_before() -> None:
    (change,) = decided(batch(StockCount("P-1", 6)), StockPosition()).changes

    assert change.events == (StockAdjusted(STORE, "P-1", 0, 6, 6, "joining", NOW),)
    assert change.state.last_movement_at == NOW


def test_a_receipt_after_the_count_makes_the_position_move_again() -> None:
    (change,) = decided(batch(StockCount("P-1", 6, A_YEAR_AGO)), StockPosition()).changes
    later = NOW + timedelta(days=1)

    after = evolve(change.state, StockReceived(STORE, "P-1", 1, "PO-2", 7, later))

    assert after.last_movement_at == later


@pytest.mark.parametrize(
    "last_moved_at",
    [NOW + timedelta(seconds=1), NOW - counts.OLDEST_LAST_MOVED - timedelta(days=1)],
    ids=["after the count", "implausibly old"],
)
def test_an_impossible_dms_date_refuses_its_line_alone(last_moved_at: datetime) -> None:
    command = batch(StockCount("P-1", 6, last_moved_at))

    result = decided(command, StockPosition())

    assert [(r.outcome, r.reason) for r in result.results] == [
        (Outcome.REFUSED, reasons.INVALID_LAST_MOVED)
    ]
    assert result.changes == ()
    with pytest.raises(RuleViolated) as refused:
        counts.count(command, command.counts[0], StockPosition())
    assert refused.value.reason == reasons.INVALID_LAST_MOVED


def test_a_count_older_than_the_last_count_is_refused_though_its_dms_date_is_older() -> None:
    first = batch(StockCount("P-1", 6, A_YEAR_AGO))
    (change,) = decided(first, StockPosition()).changes

    older = batch(StockCount("P-1", 2), counted_at=NOW - timedelta(hours=1))
    result = decided(older, change.state)

    assert [(r.outcome, r.reason) for r in result.results] == [
        (Outcome.REFUSED, reasons.MOVED_SINCE_COUNT)
    ]


def test_an_unchanged_count_with_an_older_date_records_nothing() -> None:
    # The shelf matches: nothing is recorded, so the date is not either (documented).
    position = stock.fold([StockAdjusted(STORE, "P-1", 0, 6, 6, "joined", NOW - timedelta(days=1))])

    result = decided(batch(StockCount("P-1", 6, A_YEAR_AGO)), position)

    assert [r.outcome for r in result.results] == [Outcome.UNCHANGED]
    assert result.changes == ()


def test_the_batch_digest_tells_dates_apart_and_is_unchanged_without_them() -> None:
    plain = batch(StockCount("P-1", 6), StockCount("P-2", 1))
    dated = batch(StockCount("P-1", 6, A_YEAR_AGO), StockCount("P-2", 1))
    redated = batch(StockCount("P-1", 6, A_YEAR_AGO - timedelta(days=1)), StockCount("P-2", 1))

    as_before = {
        "store_id": STORE,
        "counted_at": NOW.isoformat(),
        "reason": "joining",
        "counts": [["P-1", 6], ["P-2", 1]],
    }
    body = json.dumps(as_before, separators=(",", ":")).encode()
    assert counts.batch_digest(plain) == hashlib.sha256(body).hexdigest()
    assert len({counts.batch_digest(c) for c in (plain, dated, redated)}) == 3


def test_a_snapshot_taken_before_positions_kept_their_count_time_still_loads() -> None:
    state = StockPosition(STORE, "P-1", 6, last_movement_at=NOW, counted_at=NOW)
    older = {k: v for k, v in to_json(state).items() if k != "counted_at"}

    assert from_json(older, StockPosition) == StockPosition(STORE, "P-1", 6, last_movement_at=NOW)


def test_a_chunk_is_fingerprinted_as_the_chunked_version_logged_it() -> None:
    # A batch that version ran half way is finished on retry only if its chunks'
    # fingerprints still match: lines as {part_number, counted_quantity}, nothing more.
    (chunk,) = batch(StockCount("P-1", 6), StockCount("P-2", 1)).chunks(500)
    logged_then = {
        "store_id": STORE,
        "counted_at": NOW.isoformat(),
        "reason": "joining",
        "counts": [
            {"part_number": "P-1", "counted_quantity": 6},
            {"part_number": "P-2", "counted_quantity": 1},
        ],
        "batch": chunk.batch,
    }
    raw = json.dumps({"type": "SyncStockCounts", "body": logged_then}, sort_keys=True)

    assert fingerprint(counts.as_chunked_before(chunk)) == hashlib.sha256(raw.encode()).hexdigest()
    (dated,) = batch(StockCount("P-1", 6, A_YEAR_AGO), StockCount("P-2", 1)).chunks(500)
    assert fingerprint(counts.as_chunked_before(dated)) != fingerprint(
        counts.as_chunked_before(chunk)
    )
