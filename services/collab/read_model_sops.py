"""Read models of SOP 2 and SOP 3, kept in the same transaction as the saga's events:
`collab_supports` and `collab_diversions`, where each stands (stage, who is asked now,
deadlines, settlement). HQ's ledger and the points are read_model.py's, as for SOP 1.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    MetaData,
    String,
    Table,
)

from kernel.application import UnitOfWork
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from kernel.saga import SagaState, Status
from services.collab.domain import diversion as sop3
from services.collab.domain import support as sop2
from services.collab.domain.diversion_events import DiversionOffered
from services.collab.domain.support_events import SupportApprovalRequested

metadata = MetaData()

supports = Table(
    "collab_supports",
    metadata,
    Column("support_id", String(128), primary_key=True),
    Column("requesting_store_id", String(32), nullable=False),
    Column("lending_store_id", String(32), nullable=False),
    Column("technician_id", String(128), nullable=False),
    Column("specialty", String(64), nullable=False),
    Column("minimum_level", String(4), nullable=False),
    Column("starts_at", UtcDateTime(timezone=True), nullable=False),
    Column("ends_at", UtcDateTime(timezone=True), nullable=False),
    Column("fault", String(400), nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("requested_at", UtcDateTime(timezone=True), nullable=False),
    Column("approval_due_at", UtcDateTime(timezone=True), nullable=True),
    Column("subsidy_fen", BigInteger, nullable=False),
    Column("travel_and_lodging_paid", Boolean, nullable=False),
    Column("distance_km", Float, nullable=False),
    Column("hours_worked", Float, nullable=False),
    Column("fault_solved", Boolean, nullable=False),
    Column("travel_and_lodging_fen", BigInteger, nullable=False),
    Column("rated_by", JSON, nullable=False),
    Index("ix_collab_supports_requester", "requesting_store_id", "support_id"),
    Index("ix_collab_supports_lender", "lending_store_id", "support_id"),
)

diversions = Table(
    "collab_diversions",
    metadata,
    Column("diversion_id", String(128), primary_key=True),
    Column("origin_store_id", String(32), nullable=False),
    Column("receiving_store_id", String(32), nullable=False),
    Column("origin_appointment_id", String(128), nullable=False),
    Column("origin_day", String(10), nullable=False),
    Column("customer_ref", String(200), nullable=False),
    Column("vehicle", String(200), nullable=False),
    Column("service_type", String(200), nullable=False),
    Column("expected_labour_hours", Float, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("distance_km", Float, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("requested_at", UtcDateTime(timezone=True), nullable=False),
    Column("offer_due_at", UtcDateTime(timezone=True), nullable=True),
    Column("slot_at", UtcDateTime(timezone=True), nullable=False),
    Column("appointment_id", String(128), nullable=False),
    Column("compensation_fen", BigInteger, nullable=False),
    Column("transport_voucher_fen", BigInteger, nullable=False),
    Index("ix_collab_diversions_origin", "origin_store_id", "diversion_id"),
    Index("ix_collab_diversions_receiver", "receiving_store_id", "diversion_id"),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


# Numbered apart from read_model.py's, so other work on collab's tables keeps its own.
MIGRATIONS = (Migration(20, "SOP 2 and SOP 3 read models", _create),)

_SUPPORT_STAGES = {
    "hold": "HOLDING",
    "approval": "AWAITING_APPROVAL",
    "order_day": "SCHEDULED",
    "confirm": "CONFIRMING",
    "arrival": "AWAITING_ARRIVAL",
    "check_in": "CHECKING_IN",
    "work": "ON_SITE",
    "complete": "RECORDING",
}
_SUPPORT_ENDS = {
    Status.COMPENSATING: "UNDOING",
    Status.COMPLETED: "COMPLETED",
    Status.COMPENSATED: "NO_TECHNICIAN",
    Status.FAILED: "STUCK",
    Status.RESOLVED: "RESOLVED_BY_HAND",
}
_DIVERSION_STAGES = {
    "hold": "HOLDING",
    "offer": "AWAITING_CUSTOMER",
    "book": "BOOKING",
    "cancel_origin": "CANCELLING_ORIGIN",
}
_DIVERSION_ENDS = {
    Status.COMPENSATING: "UNDOING",
    Status.COMPLETED: "COMPLETED",
    Status.COMPENSATED: "NOT_MADE",
    Status.FAILED: "STUCK",
    Status.RESOLVED: "RESOLVED_BY_HAND",
}


def _stage(state: SagaState[Any], steps: dict[str, str], ends: dict[Status, str]) -> str:
    names = tuple(steps)
    if state.status is Status.RUNNING:
        return steps[names[min(state.step, len(names) - 1)]]
    return ends.get(state.status, steps[names[0]])


def support_stage(state: SagaState[Any]) -> str:
    return _stage(state, _SUPPORT_STAGES, _SUPPORT_ENDS)


def diversion_stage(state: SagaState[Any]) -> str:
    return _stage(state, _DIVERSION_STAGES, _DIVERSION_ENDS)


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if not isinstance(state, SagaState) or state.data is None:
        return
    if recorded.stream_id.startswith(f"{sop2.SAGA}/"):
        await _support(uow, event, state)
    elif recorded.stream_id.startswith(f"{sop3.SAGA}/"):
        await _diversion(uow, event, state)


async def _support(uow: UnitOfWork, event: Any, state: SagaState[sop2.Support]) -> None:
    s = state.data
    assert s is not None
    due = event.due_at if isinstance(event, SupportApprovalRequested) else None
    await upsert(
        uow.conn,
        supports,
        {
            "support_id": s.support_id,
            "requesting_store_id": s.requesting_store_id,
            "lending_store_id": s.lending_store_id,
            "technician_id": s.technician_id,
            "specialty": s.specialty,
            "minimum_level": s.minimum_level,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "fault": s.fault,
            "urgent": s.urgent,
            "candidates": list(s.candidate_technician_ids),
            "stage": support_stage(state),
            "reason": s.reason,
            "requested_at": s.requested_at,
            "approval_due_at": due,
            "subsidy_fen": s.subsidy_fen,
            "travel_and_lodging_paid": s.travel_and_lodging_paid,
            "distance_km": s.distance_km,
            "hours_worked": s.hours_worked,
            "fault_solved": s.fault_solved,
            "travel_and_lodging_fen": s.travel_and_lodging_fen,
            "rated_by": list(s.rated_by),
        },
        ["support_id"],
    )


async def _diversion(uow: UnitOfWork, event: Any, state: SagaState[sop3.Diversion]) -> None:
    d = state.data
    assert d is not None
    due = event.due_at if isinstance(event, DiversionOffered) else None
    stage = diversion_stage(state)
    booked = stage in ("CANCELLING_ORIGIN", "COMPLETED")
    await upsert(
        uow.conn,
        diversions,
        {
            "diversion_id": d.diversion_id,
            "origin_store_id": d.origin_store_id,
            "receiving_store_id": d.receiving_store_id,
            "origin_appointment_id": d.origin_appointment_id,
            "origin_day": d.origin_day,
            "customer_ref": d.customer_ref,
            "vehicle": d.vehicle,
            "service_type": d.service_type,
            "expected_labour_hours": d.expected_labour_hours,
            "trigger": d.trigger,
            "candidates": list(d.candidate_store_ids),
            "distance_km": d.distance_km,
            "stage": stage,
            "reason": d.reason,
            "requested_at": d.requested_at,
            "offer_due_at": due,
            "slot_at": d.slot_at,
            "appointment_id": d.diversion_id if booked else "",
            "compensation_fen": d.compensation_fen,
            "transport_voucher_fen": d.transport_voucher_fen,
        },
        ["diversion_id"],
    )


# Today's booked, not yet arrived appointments per store, from capacity's events: whom a
# WaitThresholdExceeded can offer another store (the customer booked latest waits longest).
open_appointments = Table(
    "collab_open_appointments",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("appointment_id", String(128), primary_key=True),
    Column("customer_ref", String(200), nullable=False),
    Column("vehicle", String(200), nullable=False),
    Column("service_type", String(200), nullable=False),
    Column("expected_labour_hours", Float, nullable=False),
    Column("requested_at", UtcDateTime(timezone=True), nullable=False),
)
