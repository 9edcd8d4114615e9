"""Collab read models, kept in the same transaction as the events that change them.

- `collab_transfers`: where each transfer stands (stage, source, deadlines, settlement);
- `collab_cost_ledger`: HQ's collaboration costs, one row per saga and kind;
- `collab_contributions`: contribution points per store and saga;
- `collab_part_demand`: parts issued per store, part and day, from inventory's PartsIssued
  events (the giver's recent demand the ranking weighs).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy import text as sql_text

from kernel.application import UnitOfWork
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from kernel.saga import SagaState, Status
from services.collab.domain.events import (
    ApprovalRequested,
    CollaborationCostRecorded,
    ContributionRecorded,
    TransferRequested,
)
from services.collab.domain.settlement import response_time, within_sla
from services.collab.domain.transfer import SAGA, Transfer

metadata = MetaData()

transfers = Table(
    "collab_transfers",
    metadata,
    Column("transfer_id", String(128), primary_key=True),
    Column("requesting_store_id", String(32), nullable=False),
    Column("source_store_id", String(32), nullable=False),
    Column("part_number", String(128), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("customer_waiting", Boolean, nullable=False),
    Column("repair_order", String(200), nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("requested_at", UtcDateTime(timezone=True), nullable=False),
    Column("approval_due_at", UtcDateTime(timezone=True), nullable=True),
    Column("received_at", UtcDateTime(timezone=True), nullable=True),
    Column("response_seconds", BigInteger, nullable=False),
    Column("within_sla", Boolean, nullable=False),
    Column("freight_fen", BigInteger, nullable=False),
    # emergency or revitalisation: set from TransferRequested (the saga's data has no use
    # for it, the API shows it).
    Column("transfer_reason", String(32), nullable=False, server_default="emergency"),
    Index("ix_collab_transfers_requester", "requesting_store_id", "transfer_id"),
    Index("ix_collab_transfers_source", "source_store_id", "transfer_id"),
)

cost_ledger = Table(
    "collab_cost_ledger",
    metadata,
    Column("saga", String(100), primary_key=True),
    Column("saga_id", String(200), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("month", String(7), nullable=False),
    Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_collab_cost_ledger_month", "month", "kind", "store_id"),
)

contributions = Table(
    "collab_contributions",
    metadata,
    Column("saga", String(100), primary_key=True),
    Column("saga_id", String(200), primary_key=True),
    Column("store_id", String(32), primary_key=True),
    Column("act", String(32), nullable=False),
    Column("points", Integer, nullable=False),
    Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
)

part_demand = Table(
    "collab_part_demand",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("issued", BigInteger, nullable=False),
)


# Units each store ran short of, per part and business day: inventory's ShortageRecorded
# (requested beyond available), for stale stock revitalisation (domain/revitalisation.py).
part_shortage = Table(
    "collab_part_shortage",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("short", BigInteger, nullable=False),
)


# The waiting customer of a transfer, name and phone as sealed in TransferRequested: read
# back through kernel/personal_data.py, so forgetting the customer reaches this copy too.
transfer_customers = Table(
    "collab_transfer_customers",
    metadata,
    Column("transfer_id", String(200), primary_key=True),
    Column("customer_ref", String(128), nullable=False),
    Column("name", Text, nullable=False),
    Column("phone", Text, nullable=False),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


def _create_revitalisation_and_customers(conn: Connection) -> None:
    part_shortage.create(conn, checkfirst=True)
    transfer_customers.create(conn, checkfirst=True)
    # Databases made by migration 1 before the column existed get it here.
    if "transfer_reason" not in {c["name"] for c in inspect(conn).get_columns("collab_transfers")}:
        conn.execute(
            sql_text(
                "ALTER TABLE collab_transfers ADD COLUMN transfer_reason VARCHAR(32) "
                "NOT NULL DEFAULT 'emergency'"
            )
        )


MIGRATIONS = (
    Migration(1, "collab read models", _create),
    Migration(
        2,
        "part shortages (revitalisation), transfers' sealed customers",
        _create_revitalisation_and_customers,
    ),
)

# The saga's step, as the API names the stage a transfer is at.
_STAGE_OF_STEP = {
    "reserve": "RESERVING",
    "approval": "AWAITING_APPROVAL",
    "pickup": "AWAITING_PICKUP",
    "ship": "SHIPPING",
    "delivery": "IN_TRANSIT",
    "receive": "RECEIVING",
}
_STAGE_OF_END = {
    Status.COMPENSATING: "UNDOING",
    Status.COMPLETED: "COMPLETED",
    Status.COMPENSATED: "NO_SOURCE",
    Status.FAILED: "STUCK",
    Status.RESOLVED: "RESOLVED_BY_HAND",
}
STEPS = tuple(_STAGE_OF_STEP)


def stage(state: SagaState[Transfer]) -> str:
    if state.status is Status.RUNNING:
        return _STAGE_OF_STEP[STEPS[min(state.step, len(STEPS) - 1)]]
    return _STAGE_OF_END.get(state.status, "RESERVING")


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if isinstance(event, ContributionRecorded):
        await upsert(
            uow.conn,
            contributions,
            {
                "saga": event.saga,
                "saga_id": event.saga_id,
                "store_id": event.store_id,
                "act": event.act,
                "points": event.points,
                "occurred_at": event.occurred_at,
            },
            ["saga", "saga_id", "store_id"],
        )
    elif isinstance(event, CollaborationCostRecorded):
        await upsert(
            uow.conn,
            cost_ledger,
            {
                "saga": event.saga,
                "saga_id": event.saga_id,
                "kind": event.kind,
                "store_id": event.store_id,
                "amount_fen": event.amount_fen,
                "month": event.month,
                "occurred_at": event.occurred_at,
            },
            ["saga", "saga_id", "kind"],
        )
    if isinstance(event, TransferRequested) and event.customer_ref:
        await upsert(
            uow.conn,
            transfer_customers,
            {
                "transfer_id": event.transfer_id,
                "customer_ref": event.customer_ref,
                "name": event.customer_name,
                "phone": event.customer_phone,
            },
            ["transfer_id"],
        )
    if not recorded.stream_id.startswith(f"{SAGA}/") or not isinstance(state, SagaState):
        return
    t: Transfer | None = state.data
    if t is None:
        return
    if not isinstance(event, TransferRequested) and _overwritten_in_batch(uow, recorded):
        # The row is a function of the state after the stream's last event of this
        # transaction (and of that event): the upsert for that event writes every column.
        return
    taken = None
    if state.status is Status.COMPLETED and t.received_at is not None:
        taken = response_time(t.requested_at, t.received_at)
    await upsert(
        uow.conn,
        transfers,
        {
            "transfer_id": t.transfer_id,
            "requesting_store_id": t.requesting_store_id,
            "source_store_id": t.source_store_id,
            "part_number": t.part_number,
            "quantity": t.quantity,
            "urgency": t.urgency,
            "customer_waiting": t.customer_waiting,
            "repair_order": t.repair_order,
            "candidates": list(t.candidate_store_ids),
            "stage": stage(state),
            "reason": t.reason,
            "requested_at": t.requested_at,
            "approval_due_at": event.due_at if isinstance(event, ApprovalRequested) else None,
            "received_at": t.received_at,
            "response_seconds": int(taken.total_seconds()) if taken is not None else 0,
            "within_sla": taken is not None and within_sla(taken),
            "freight_fen": t.freight_fen,
        },
        ["transfer_id"],
    )
    if isinstance(event, TransferRequested):
        await uow.conn.execute(
            transfers.update()
            .where(transfers.c.transfer_id == event.transfer_id)
            .values(transfer_reason=event.reason)
        )


def _overwritten_in_batch(uow: UnitOfWork, recorded: RecordedEvent) -> bool:
    """A later event of the same stream is recorded in this unit of work already (the
    events of one append are all in `uow.recorded` before the first is projected)."""
    for later in reversed(uow.recorded):
        if later is recorded:
            return False
        if later.stream_id == recorded.stream_id and later.stream_version > recorded.stream_version:
            return True
    return False


async def count_issued(uow: UnitOfWork, store_id: str, part_number: str, day: date, n: int) -> None:
    await upsert(
        uow.conn,
        part_demand,
        {"store_id": store_id, "part_number": part_number, "day": day, "issued": n},
        ["store_id", "part_number", "day"],
        increment=["issued"],
    )


async def count_short(uow: UnitOfWork, store_id: str, part_number: str, day: date, n: int) -> None:
    await upsert(
        uow.conn,
        part_shortage,
        {"store_id": store_id, "part_number": part_number, "day": day, "short": n},
        ["store_id", "part_number", "day"],
        increment=["short"],
    )


async def transfer_customer(conn: Any, transfer_id: str) -> Any:
    query = select(transfer_customers).where(transfer_customers.c.transfer_id == transfer_id)
    return (await conn.execute(query)).first()
