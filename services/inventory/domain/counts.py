"""A store's whole stock count at once (a DMS joining the network or reconciling at night).

Each position is decided by the stock aggregate's own AdjustStock rule, so a synced count
records exactly what a single count records. What the batch adds: the request's own
faults refuse it whole (its fields named), a position's business refusal is reported for
that position alone, and a count older than the position's last movement (or last count)
is refused, as overwriting a shelf with it would bring back what moved since.

A line may carry the DMS's date of the position's last real movement (`last_moved_at`):
recorded on its StockAdjusted, it stands as the position's last movement unless StoreMesh
saw a later one (stock.moved_after_count), so a joining store's idle stock is stale stock
at once instead of 90 days after it joined.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kernel.errors import RuleViolated, Violations
from kernel.validation import MAX_QUANTITY, text
from services.inventory.domain import reasons
from services.inventory.domain.commands import AdjustStock
from services.inventory.domain.events import StockAdjusted, StockEvent
from services.inventory.domain.stock import StockPosition, decide, evolve, moved_after_count

MAX_COUNTS = 10_000
# A count is a fact about the past: a clock a little ahead at the DMS is not refused.
CLOCK_SKEW_SECONDS = 300
# A last movement further back than this before the count is a DMS's empty date
# (1900-01-01, 1970-01-01), not a part that has lain on a shelf since.
OLDEST_LAST_MOVED = timedelta(days=30 * 365)


@dataclass(frozen=True)
class StockCount:
    part_number: str
    counted_quantity: int
    # The DMS's date of the position's last receipt or issue before the count, if it sent one.
    last_moved_at: datetime | None = None


@dataclass(frozen=True)
class SyncStockCounts:
    """Counts of one store taken at `counted_at`; a batch or one chunk of it.

    `batch` is a digest of the whole batch, so every chunk's request fingerprint changes
    when any part of the batch does (the same request id with other content is refused
    at the first chunk, before anything is recorded).
    """

    store_id: str
    counted_at: datetime
    reason: str
    counts: tuple[StockCount, ...]
    at: datetime
    batch: str = ""

    def keyed(self) -> SyncStockCounts:
        """The batch as its request fingerprint sees it: the digest stands for the counts
        (fingerprinting 5,000 lines field by field costs more than the digest)."""
        return replace(self, counts=(), batch=batch_digest(self))

    def chunks(self, size: int) -> list[SyncStockCounts]:
        digest = batch_digest(self)
        return [
            replace(self, counts=self.counts[first : first + size], batch=digest)
            for first in range(0, len(self.counts), size)
        ]


@dataclass(frozen=True)
class ChunkedLine:
    """A line as the version that ran batches in chunks fingerprinted it (no date then)."""

    part_number: str
    counted_quantity: int


def as_chunked_before(chunk: SyncStockCounts) -> SyncStockCounts:
    """A chunk of a batch that version began, as it fingerprinted the chunk, so that the
    chunks it logged still match on retry. A line's date is left out here, not lost: the
    chunk's `batch` digest holds it, so the same request id with dates is still refused."""
    lines = tuple(ChunkedLine(c.part_number, c.counted_quantity) for c in chunk.counts)
    return replace(chunk, counts=lines)  # type: ignore[arg-type]


class Outcome(enum.IntEnum):
    ADJUSTED = 1
    UNCHANGED = 2
    REFUSED = 3


@dataclass(frozen=True)
class CountResult:
    part_number: str
    outcome: Outcome
    reason: str = ""
    message: str = ""
    on_hand: int = 0
    available: int = 0

    @classmethod
    def of(cls, position: StockPosition, part_number: str, events: Sequence[object]) -> CountResult:
        outcome = Outcome.ADJUSTED if events else Outcome.UNCHANGED
        return cls(part_number, outcome, on_hand=position.on_hand, available=position.available)

    @classmethod
    def refused(
        cls, position: StockPosition, part_number: str, reason: str, message: str
    ) -> CountResult:
        return cls(
            part_number,
            Outcome.REFUSED,
            reason,
            message,
            on_hand=position.on_hand,
            available=position.available,
        )


def validate(command: SyncStockCounts, now: datetime) -> None:
    """The batch's own faults, all at once: refused whole (INVALID_ARGUMENT)."""
    v = Violations()
    text(v, "reason", command.reason)
    if not command.counts:
        v.add("counts", "must hold at least one position")
    elif len(command.counts) > MAX_COUNTS:
        v.add("counts", f"must hold at most {MAX_COUNTS} positions")
    if (command.counted_at - now).total_seconds() > CLOCK_SKEW_SECONDS:
        v.add("counted_at", "must not be in the future")
    first_seen: dict[str, int] = {}
    for i, count in enumerate(command.counts):
        earlier = first_seen.setdefault(count.part_number, i)
        if earlier != i:
            v.add(f"counts[{i}].part_number", f"repeats counts[{earlier}]: one count per part")
    v.raise_if_any()


def count(command: SyncStockCounts, line: StockCount, position: StockPosition) -> list[StockEvent]:
    """The events one line of the count records at its position (none when it matches).

    Raises RuleViolated for a line refused on its own (INVALID_COUNT, INVALID_LAST_MOVED,
    MOVED_SINCE_COUNT).
    """
    subject = f"stock/{command.store_id}/{line.part_number}"
    counted_at, last_moved_at = command.counted_at, line.last_moved_at
    if not 0 <= line.counted_quantity <= MAX_QUANTITY:
        raise RuleViolated(
            reasons.INVALID_COUNT,
            f"counted_quantity must be between 0 and {MAX_QUANTITY}",
            subject,
            {"counted_quantity": str(line.counted_quantity)},
        )
    if last_moved_at is not None and not _plausible(last_moved_at, counted_at):
        raise RuleViolated(
            reasons.INVALID_LAST_MOVED,
            f"last_moved_at must lie between {OLDEST_LAST_MOVED.days} days before "
            "counted_at and counted_at",
            subject,
            {"last_moved_at": last_moved_at.isoformat()},
        )
    for moment, what in ((position.last_movement_at, "moved"), (position.counted_at, "counted")):
        if moment is not None and moment > counted_at:
            raise RuleViolated(
                reasons.MOVED_SINCE_COUNT,
                f"the position was {what} at {moment.isoformat()}, after the count",
                subject,
                {f"last_{what}_at": moment.isoformat()},
            )
    adjust = AdjustStock(
        command.store_id, line.part_number, line.counted_quantity, command.reason, counted_at
    )
    events = list(decide(adjust, position))
    first = events[0] if events else None
    if isinstance(first, StockAdjusted) and last_moved_at is not None:
        # The date is the sync's alone: AdjustStock (one count, no DMS ledger) has none.
        events[0] = replace(first, last_moved_at=last_moved_at)
    return events


def _plausible(last_moved_at: datetime, counted_at: datetime) -> bool:
    return counted_at - OLDEST_LAST_MOVED <= last_moved_at <= counted_at


@dataclass(frozen=True)
class CountedBatch:
    """A batch's reply as its command-log row keeps it, one column per field: 5,000 lines
    as one JSON object each cost more to write and read back than deciding them."""

    part_numbers: tuple[str, ...]
    outcomes: tuple[int, ...]
    on_hand: tuple[int, ...]
    available: tuple[int, ...]
    # (line, reason, message) of each refused line.
    refusals: tuple[tuple[int, str, str], ...]

    @classmethod
    def of(cls, results: Sequence[CountResult]) -> CountedBatch:
        return cls(
            tuple(r.part_number for r in results),
            tuple(int(r.outcome) for r in results),
            tuple(r.on_hand for r in results),
            tuple(r.available for r in results),
            tuple(
                (k, r.reason, r.message)
                for k, r in enumerate(results)
                if r.outcome is Outcome.REFUSED
            ),
        )

    def results(self) -> list[CountResult]:
        why = {k: (reason, message) for k, reason, message in self.refusals}
        return [
            CountResult(part, Outcome(outcome), *why.get(k, ("", "")), on_hand, available)
            for k, (part, outcome, on_hand, available) in enumerate(
                zip(self.part_numbers, self.outcomes, self.on_hand, self.available, strict=True)
            )
        ]


@dataclass(frozen=True)
class Change:
    """A line of the count that records events: its new events and the position after them."""

    part_number: str
    events: tuple[StockEvent, ...]
    state: StockPosition


@dataclass(frozen=True)
class Decided:
    """Every line's result, in the order counted, and the positions that change."""

    results: tuple[CountResult, ...]
    changes: tuple[Change, ...]


def decide_all(
    command: SyncStockCounts, known: Collection[str], positions: Mapping[str, StockPosition]
) -> Decided:
    """Each line of the batch (or chunk) on its position (`positions`: by part number, every
    known part's current state): a part outside the catalogue and a line refused by its
    own rules are reported for that line alone; nothing is read or written here.

    A line on a position that holds no reservation (nearly every line of a store's count)
    is decided here directly, by the same rules as `count` then `evolve` (one
    StockAdjusted, or nothing when the shelf matches): a store's whole count is thousands
    of them, and going through the command, the decider's match and the per-event evolve
    cost several times as much. Any other line takes `count` and `evolve` themselves
    (tests/unit/inventory/test_stock_count_bulk.py proves the two ways equal)."""
    results: list[CountResult] = []
    changes: list[Change] = []
    store, reason, counted_at = command.store_id, command.reason, command.counted_at
    oldest = counted_at - OLDEST_LAST_MOVED
    # A reason `decide` would refuse (InvalidArgument, the whole batch) takes the general path.
    direct = _reason_accepted(reason)
    for line in command.counts:
        part = line.part_number
        if part not in known:
            results.append(
                CountResult.refused(
                    StockPosition(),
                    part,
                    reasons.UNKNOWN_PART,
                    f"part {part!r} is not in the catalogue",
                )
            )
            continue
        position = positions[part]
        counted, dms = line.counted_quantity, line.last_moved_at
        moved, since = position.last_movement_at, position.counted_at
        if (
            direct
            and not position.reservations
            and 0 <= counted <= MAX_QUANTITY
            and (moved is None or moved <= counted_at)
            and (since is None or since <= counted_at)
            and (dms is None or oldest <= dms <= counted_at)
        ):
            on_hand = position.on_hand
            if counted == on_hand:
                results.append(CountResult(part, Outcome.UNCHANGED, "", "", on_hand, on_hand))
                continue
            event = StockAdjusted(
                store, part, on_hand, counted, counted - on_hand, reason, counted_at, dms
            )
            state = StockPosition(
                store,
                part,
                counted,
                (),
                position.outbound,
                position.inbound,
                moved_after_count(moved, counted_at, dms),
                position.received_transfers,
                counted_at,
            )
            changes.append(Change(part, (event,), state))
            results.append(CountResult(part, Outcome.ADJUSTED, "", "", counted, counted))
            continue
        try:
            new_events = count(command, line, position)
        except RuleViolated as refused:
            results.append(CountResult.refused(position, part, refused.reason, refused.message))
            continue
        state = position
        for e in new_events:
            state = evolve(state, e)
        if new_events:
            changes.append(Change(part, tuple(new_events), state))
        results.append(CountResult.of(state, part, new_events))
    return Decided(tuple(results), tuple(changes))


def _reason_accepted(reason: str) -> bool:
    v = Violations()
    text(v, "reason", reason)
    return not v.items


def batch_digest(command: SyncStockCounts) -> str:
    """A line without a DMS date is digested as before it could carry one, so a batch sent
    before this field existed and retried now is still the same request."""
    body = {
        "store_id": command.store_id,
        "counted_at": command.counted_at.isoformat(),
        "reason": command.reason,
        "counts": [
            [c.part_number, c.counted_quantity]
            if c.last_moved_at is None
            else [c.part_number, c.counted_quantity, c.last_moved_at.isoformat()]
            for c in command.counts
        ],
    }
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
