"""Proto <-> domain for the inventory API: the replies built from the read side's views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel import validation
from kernel.codec import set_moment, timestamp
from kernel.errors import InvalidArgument, Violations
from services.inventory.domain import counts
from services.inventory.domain.counts import CountResult, Outcome, StockCount, SyncStockCounts
from services.inventory.domain.stale import (
    DEFAULT_COVER_DAYS,
    DEFAULT_MIN_IDLE_DAYS,
    DEFAULT_USAGE_DAYS,
    MAX_RULE_DAYS,
    StaleRule,
)
from services.inventory.read_model import (
    MatrixRowView,
    PartView,
    PositionView,
    StaleItemView,
    StoreStockView,
)


def position_message(p: PositionView) -> pb.StockPosition:
    """Every command on a position answers with it: its reservations are added in place
    and their moments set field by field (a Timestamp and a Reservation built per
    reservation, then copied in, were most of the reply's CPU)."""
    message = pb.StockPosition(
        store_id=p.store_id,
        part_number=p.part_number,
        on_hand=p.on_hand,
        reserved=p.reserved,
        available=p.available,
        in_transit_out=p.in_transit_out,
        in_transit_in=p.in_transit_in,
    )
    if p.last_movement_at is not None:
        set_moment(message.last_movement_at, p.last_movement_at)
    add = message.reservations.add
    for r in p.reservations:
        held = add(reservation_id=r.reservation_id, quantity=r.quantity, reference=r.reference)
        set_moment(held.expires_at, r.expires_at)
    return message


def part_message(p: PartView) -> pb.Part:
    return pb.Part(
        part_number=p.part_number,
        name=p.name,
        category=p.category,
        unit=p.unit,
        unit_cost_fen=p.unit_cost_fen,
    )


def find_stock_response(page: Sequence[StoreStockView], token: str) -> pb.FindStockResponse:
    """The lookup's answer, each store added in place with its moment set field by field:
    a third of the CPU of a message per store with a Timestamp built by FromDatetime."""
    response = pb.FindStockResponse(next_page_token=token)
    add = response.stores.add
    for store_id, available, on_hand, moved in page:
        message = add(store_id=store_id, available=available, on_hand=on_hand)
        if moved is not None:
            set_moment(message.last_movement_at, moved)
    return response


def matrix_row_message(r: MatrixRowView) -> pb.MatrixRow:
    return pb.MatrixRow(
        part_number=r.part_number,
        name=r.name,
        issued_in_window=r.issued_in_window,
        available=list(r.available),
    )


# The request's criterion as the read model names it ("": either).
_CRITERIA = {
    pb.STALE_REASON_UNSPECIFIED: "",
    pb.STALE_REASON_IDLE_AND_OVERSTOCK: "",
    pb.STALE_REASON_IDLE: "idle",
    pb.STALE_REASON_OVERSTOCK: "overstock",
}
_RULE_DAYS = (
    ("min_idle_days", DEFAULT_MIN_IDLE_DAYS),
    ("usage_days", DEFAULT_USAGE_DAYS),
    ("cover_days", DEFAULT_COVER_DAYS),
)


def stale_request(request: pb.ListStaleStockRequest) -> tuple[StaleRule, str]:
    """The stale rule a ListStaleStock asks for (0: each default), every fault named."""
    v = Violations()
    if request.store_id:
        validation.store_code(v, "store_id", request.store_id)
    days = {}
    for field, default in _RULE_DAYS:
        value = getattr(request, field)
        if not 0 <= value <= MAX_RULE_DAYS:
            v.add(field, f"must be between 1 and {MAX_RULE_DAYS} (0 for the default {default})")
        days[field] = value or default
    if request.criterion not in _CRITERIA:
        v.add("criterion", "must be a StaleReason")
    v.raise_if_any()
    return StaleRule(**days), _CRITERIA[request.criterion]


def _reason(i: StaleItemView) -> pb.StaleReason.ValueType:
    if i.idle and i.overstock:
        return pb.STALE_REASON_IDLE_AND_OVERSTOCK
    return pb.STALE_REASON_IDLE if i.idle else pb.STALE_REASON_OVERSTOCK


def stale_item_message(i: StaleItemView, rule: StaleRule) -> pb.StaleStockItem:
    return pb.StaleStockItem(
        store_id=i.store_id,
        part_number=i.part_number,
        name=i.name,
        on_hand=i.on_hand,
        unit_cost_fen=i.unit_cost_fen,
        value_fen=i.value_fen,
        last_movement_at=timestamp(i.last_movement_at),
        idle_days=i.idle_days,
        reason=_reason(i),
        stale_quantity=i.stale_quantity,
        stale_value_fen=i.stale_value_fen,
        issued_in_window=i.issued_in_window,
        used_per_30_days=round(i.issued_in_window * 30 / rule.usage_days, 2),
        cover_quantity=i.cover_quantity,
    )


def sync_command(request: pb.SyncStockCountsRequest, now: datetime) -> SyncStockCounts:
    """The batch's wire format, every fault named at once (counts[3].part_number)."""
    v = Violations()
    validation.request_id(v, "request_id", request.request_id)
    validation.store_code(v, "store_id", request.store_id)
    counted_at = validation.moment(v, request, "counted_at")
    lines = []
    for i, line in enumerate(request.counts):
        validation.identifier(v, f"counts[{i}].part_number", line.part_number)
        last_moved_at = (
            validation.moment(
                v, line, "last_moved_at", required=False, path=f"counts[{i}].last_moved_at"
            )
            if line.HasField("last_moved_at")
            else None
        )
        lines.append(StockCount(line.part_number, line.counted_quantity, last_moved_at))
    command = SyncStockCounts(
        request.store_id, counted_at or now, request.reason, tuple(lines), now
    )
    if v.items:
        # The batch's own rules too, so that one refusal names every field.
        try:
            counts.validate(command, now)
        except InvalidArgument as more:
            v.items.extend(more.violations)
        v.raise_if_any()
    return command


_OUTCOMES = {
    Outcome.ADJUSTED: pb.StockCountResult.OUTCOME_ADJUSTED,
    Outcome.UNCHANGED: pb.StockCountResult.OUTCOME_UNCHANGED,
    Outcome.REFUSED: pb.StockCountResult.OUTCOME_REFUSED,
}


def sync_response(request_id: str, results: Sequence[CountResult]) -> pb.SyncStockCountsResponse:
    tally = {outcome: 0 for outcome in Outcome}
    for r in results:
        tally[r.outcome] += 1
    return pb.SyncStockCountsResponse(
        request_id=request_id,
        adjusted=tally[Outcome.ADJUSTED],
        unchanged=tally[Outcome.UNCHANGED],
        refused=tally[Outcome.REFUSED],
        results=[
            pb.StockCountResult(
                part_number=r.part_number,
                outcome=_OUTCOMES[r.outcome],
                reason=r.reason,
                message=r.message,
                on_hand=r.on_hand,
                available=r.available,
            )
            for r in results
        ],
    )
