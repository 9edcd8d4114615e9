"""Proto <-> domain for collab: requests parsed into commands (all faults at once), rows and
candidates into replies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb

from kernel import validation
from kernel.codec import timestamp
from kernel.errors import Violations
from services.collab.domain.commands import (
    ApproveTransfer,
    CourierProgress,
    Customer,
    ForgetCustomer,
    RejectTransfer,
    ReportCourierProgress,
    RequestTransfer,
    TransferReason,
    Urgency,
)
from services.collab.domain.revitalisation import (
    DEFAULT_MIN_IDLE_DAYS,
    DEFAULT_RECEIVERS,
    MAX_RECEIVERS,
    Receiver,
    StaleLot,
)
from services.collab.domain.sourcing import MAX_LIMIT, Candidate
from services.collab.queries import CostLine

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,30}$")
# A courier's bill above this is a typo, not a same-city run (fen: 10,000 CNY).
MAX_FREIGHT_FEN = 1_000_000
MAX_TRANSFER_QUANTITY = 10_000

_URGENCY = {
    pb.URGENCY_NORMAL: Urgency.NORMAL,
    pb.URGENCY_URGENT: Urgency.URGENT,
    pb.URGENCY_CRITICAL: Urgency.CRITICAL,
}
_REASON = {
    pb.TRANSFER_REASON_UNSPECIFIED: TransferReason.EMERGENCY,
    pb.TRANSFER_REASON_EMERGENCY: TransferReason.EMERGENCY,
    pb.TRANSFER_REASON_REVITALISATION: TransferReason.REVITALISATION,
}
_REASON_MESSAGE = {
    TransferReason.EMERGENCY.value: pb.TRANSFER_REASON_EMERGENCY,
    TransferReason.REVITALISATION.value: pb.TRANSFER_REASON_REVITALISATION,
}
# A write-down above this is a typo (fen: 1,000,000 CNY).
MAX_WRITE_DOWN_FEN = 100_000_000
_PROGRESS = {
    pb.COURIER_PROGRESS_PICKED_UP: CourierProgress.PICKED_UP,
    pb.COURIER_PROGRESS_DELIVERED: CourierProgress.DELIVERED,
    pb.COURIER_PROGRESS_LOST: CourierProgress.LOST,
}


def request_transfer(r: pb.RequestTransferRequest, at: datetime) -> RequestTransfer:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    validation.identifier(v, "part_number", r.part_number)
    validation.positive_quantity(v, "quantity", r.quantity, MAX_TRANSFER_QUANTITY)
    reason = validation.enum_choice(v, "reason", r.reason, _REASON, pb.TransferReason.Name)
    urgency = (
        Urgency.NORMAL  # moving stale stock is no emergency: it needs no urgency
        if reason is TransferReason.REVITALISATION and r.urgency == pb.URGENCY_UNSPECIFIED
        else validation.enum_choice(v, "urgency", r.urgency, _URGENCY, pb.Urgency.Name)
    )
    validation.text(v, "repair_order", r.repair_order, required=False)
    if reason is TransferReason.REVITALISATION:
        validation.store_code(v, "source_store_id", r.source_store_id)
        if r.source_store_id == r.store_id:
            v.add("source_store_id", "must differ from store_id (the receiving store)")
        if not 0 <= r.write_down_fen <= MAX_WRITE_DOWN_FEN:
            v.add("write_down_fen", f"must be between 0 and {MAX_WRITE_DOWN_FEN}")
    elif reason is not None:
        if r.source_store_id:
            v.add("source_store_id", "only for TRANSFER_REASON_REVITALISATION")
        if r.write_down_fen:
            v.add("write_down_fen", "only for TRANSFER_REASON_REVITALISATION")
    customer = r.customer
    if customer.customer_ref or customer.name or customer.phone:
        validation.identifier(v, "customer.customer_ref", customer.customer_ref)
    validation.text(v, "customer.name", customer.name, required=False)
    if customer.phone and not PHONE.match(customer.phone):
        v.add("customer.phone", "must be digits, optionally with a leading + and - or spaces")
    v.raise_if_any()
    assert reason is not None and urgency is not None
    return RequestTransfer(
        r.request_id,
        r.store_id,
        r.part_number,
        r.quantity,
        urgency,
        r.customer_waiting,
        r.repair_order,
        at,
        reason,
        r.source_store_id,
        r.write_down_fen,
        customer.customer_ref,
        customer.name,
        customer.phone,
    )


def recommend(r: pb.RecommendSourcesRequest) -> tuple[str, str, int, int]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    validation.identifier(v, "part_number", r.part_number)
    validation.positive_quantity(v, "quantity", r.quantity, MAX_TRANSFER_QUANTITY)
    if not 0 <= r.limit <= MAX_LIMIT:
        v.add("limit", f"must be between 0 (the default, 5) and {MAX_LIMIT}")
    v.raise_if_any()
    return r.store_id, r.part_number, r.quantity, r.limit or 5


def transfer_id(v: Violations, r: Any) -> None:
    validation.identifier(v, "transfer_id", r.transfer_id)


def lookup(r: Any) -> None:
    v = Violations()
    transfer_id(v, r)
    v.raise_if_any()


def answer(r: Any) -> None:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    transfer_id(v, r)
    if isinstance(r, pb.RejectTransferRequest):
        validation.text(v, "reason", r.reason)
    v.raise_if_any()


def approve(r: pb.ApproveTransferRequest, by: str, at: datetime) -> ApproveTransfer:
    answer(r)
    return ApproveTransfer(r.transfer_id, by, at)


def reject(r: pb.RejectTransferRequest, by: str, at: datetime) -> RejectTransfer:
    answer(r)
    return RejectTransfer(r.transfer_id, r.reason, by, at)


def courier(r: pb.ReportCourierProgressRequest, at: datetime) -> ReportCourierProgress:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    transfer_id(v, r)
    progress = validation.enum_choice(v, "progress", r.progress, _PROGRESS, pb.CourierProgress.Name)
    validation.non_negative(v, "freight_fen", r.freight_fen, MAX_FREIGHT_FEN)
    if r.freight_fen and r.progress != pb.COURIER_PROGRESS_DELIVERED:
        v.add("freight_fen", "is charged on delivery only")
    validation.text(v, "note", r.note, required=False)
    v.raise_if_any()
    assert progress is not None
    return ReportCourierProgress(r.transfer_id, progress, r.freight_fen, r.note, at)


def month(r: pb.GetCostSettlementRequest) -> str:
    v = Violations()
    if not MONTH.match(r.month):
        v.add("month", "must be YYYY-MM")
    v.raise_if_any()
    return r.month


def transfer_message(row: Any) -> pb.Transfer:
    return pb.Transfer(
        transfer_id=row.transfer_id,
        requesting_store_id=row.requesting_store_id,
        part_number=row.part_number,
        quantity=row.quantity,
        urgency=pb.Urgency.Value(f"URGENCY_{row.urgency.upper()}"),
        customer_waiting=row.customer_waiting,
        repair_order=row.repair_order,
        source_store_id=row.source_store_id,
        candidate_store_ids=list(row.candidates),
        stage=pb.TransferStage.Value(f"TRANSFER_STAGE_{row.stage}"),
        reason=row.reason,
        requested_at=timestamp(row.requested_at),
        approval_due_at=timestamp(row.approval_due_at),
        received_at=timestamp(row.received_at),
        response_seconds=row.response_seconds,
        within_sla=row.within_sla,
        freight_fen=row.freight_fen,
        transfer_reason=_REASON_MESSAGE[row.transfer_reason],
    )


def candidate_message(c: Candidate) -> pb.SourceCandidate:
    return pb.SourceCandidate(
        store_id=c.store_id,
        available=c.available,
        distance_km=-1.0 if c.distance_km is None else round(c.distance_km, 1),
        available_after=c.available_after,
        recent_demand=c.recent_demand,
        idle_days=c.idle_days,
        score=c.score,
        reasons=list(c.reasons),
    )


def settlement_message(month: str, lines: list[CostLine]) -> pb.CostSettlement:
    return pb.CostSettlement(
        month=month,
        lines=[
            pb.CostLine(
                kind=c.kind, store_id=c.store_id, amount_fen=c.amount_fen, entries=c.entries
            )
            for c in lines
        ],
        total_fen=sum(c.amount_fen for c in lines),
    )


# ---- Stale stock revitalisation ----


def recommend_revitalisation(r: pb.RecommendRevitalisationRequest) -> tuple[str, str, int, int]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    if r.part_number:
        validation.identifier(v, "part_number", r.part_number)
    if not 0 <= r.min_idle_days <= 3650:
        v.add("min_idle_days", f"must be between 1 and 3650 (0: {DEFAULT_MIN_IDLE_DAYS})")
    if not 0 <= r.limit <= MAX_RECEIVERS:
        v.add("limit", f"must be between 0 (the default, {DEFAULT_RECEIVERS}) and {MAX_RECEIVERS}")
    v.raise_if_any()
    return (
        r.store_id,
        r.part_number,
        r.min_idle_days or DEFAULT_MIN_IDLE_DAYS,
        r.limit or DEFAULT_RECEIVERS,
    )


def _stale_reason(lot: StaleLot) -> pb.StaleReason.ValueType:
    if lot.idle and lot.overstock:
        return pb.STALE_REASON_IDLE_AND_OVERSTOCK
    return pb.STALE_REASON_IDLE if lot.idle else pb.STALE_REASON_OVERSTOCK


def stale_lot_message(lot: StaleLot, receivers: list[Receiver]) -> pb.StaleLot:
    return pb.StaleLot(
        part_number=lot.part_number,
        name=lot.name,
        on_hand=lot.on_hand,
        value_fen=lot.value_fen,
        idle_days=lot.idle_days,
        reason=_stale_reason(lot),
        stale_quantity=lot.stale_quantity,
        stale_value_fen=lot.stale_value_fen,
        cover_quantity=lot.cover_quantity,
        receivers=[
            pb.RevitalisationReceiver(
                store_id=r.store_id,
                quantity=r.quantity,
                recent_demand=r.recent_demand,
                shortages=r.shortages,
                distance_km=-1.0 if r.distance_km is None else round(r.distance_km, 1),
                reasons=list(r.reasons),
            )
            for r in receivers
        ],
    )


# ---- Customers' personal data ----


def forget_customer(r: pb.ForgetCustomerRequest, at: datetime) -> ForgetCustomer:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.identifier(v, "customer_ref", r.customer_ref)
    v.raise_if_any()
    return ForgetCustomer(r.customer_ref, at)


def customer_message(c: Customer, personal: bool) -> pb.Customer:
    """The customer; name and phone only for callers who may see them (`personal`)."""
    if not personal:
        return pb.Customer(customer_ref=c.customer_ref)
    return pb.Customer(customer_ref=c.customer_ref, name=c.name, phone=c.phone)
