"""Collab's copy of HQ's pilot participation (domain/pilot.py), kept from analytics'
`PilotParticipationSet` events by the exactly-once subscription `collab-pilot`, as the
store directory is kept from capacity's: one row per store, its latest decision. The
event's stream version (`ce-streamversion`, the store's `pilot/<store>` stream) orders the
decisions, so a late redelivery of an older one never rolls a newer one back."""

from __future__ import annotations

from datetime import date
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import Column, Connection, Date, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from storemesh.analytics.events.v1 import events_pb2 as analytics_events

from kernel.application import Application, UnitOfWork
from kernel.db import Migration
from kernel.messaging import InboundEvent
from kernel.subscriptions import PoisonMessage, Subscription
from services.collab.domain.pilot import Participation, Pilot

PILOT_PARTICIPATION_SET = "storemesh.analytics.events.v1.PilotParticipationSet"

metadata = MetaData()

pilot = Table(
    "collab_pilot",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("joined_on", Date, nullable=False),
    Column("left_on", Date, nullable=True),
    Column("version", Integer, nullable=False),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(21, "the pilot participation copy", _create),)


def participation(event: InboundEvent) -> tuple[Participation, int]:
    """The decision an analytics event carries, and its version in the store's stream."""
    try:
        message = analytics_events.PilotParticipationSet.FromString(event.payload)
        joined = date.fromisoformat(message.joined_on)
        left = date.fromisoformat(message.left_on) if message.left_on else None
    except (DecodeError, ValueError) as exc:  # never decodes later either
        raise PoisonMessage(f"undecodable PilotParticipationSet: {exc}") from exc
    if not message.store_id:
        raise PoisonMessage("PilotParticipationSet without a store_id")
    try:
        version = int(event.headers.get("ce-streamversion", "0"))
    except ValueError:
        version = 0
    return Participation(message.store_id, joined, left), version


async def apply_participation(uow: UnitOfWork, event: InboundEvent) -> None:
    if event.event_type == PILOT_PARTICIPATION_SET:
        await keep(uow.conn, *participation(event))


async def keep(conn: AsyncConnection, p: Participation, version: int) -> None:
    """The store's decision, unless the copy holds a newer one."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(pilot).values(
        store_id=p.store_id, joined_on=p.joined_on, left_on=p.left_on, version=version
    )
    statement = statement.on_conflict_do_update(
        index_elements=["store_id"],
        set_={n: statement.excluded[n] for n in ("joined_on", "left_on", "version")},
        where=pilot.c.version <= statement.excluded.version,
    )
    await conn.execute(statement)


def pilot_subscription() -> Subscription:
    return Subscription(
        name="collab-pilot",
        stream="ANALYTICS",
        subjects=("analytics.v1.*.PilotParticipationSet",),
        handler=apply_participation,
    )


class PilotCopy:
    """The pilot as collab knows it now, read when recommending."""

    def __init__(self, app: Application) -> None:
        self.app = app

    async def now(self, conn: AsyncConnection | None = None) -> Pilot:
        """Read on `conn` when inside a transaction already (a subscription's handler)."""
        return await (read(conn) if conn is not None else self.app.query(read))


async def read(conn: AsyncConnection) -> Pilot:
    rows: Any = (await conn.execute(select(pilot))).all()
    return Pilot({r.store_id: Participation(r.store_id, r.joined_on, r.left_on) for r in rows})
