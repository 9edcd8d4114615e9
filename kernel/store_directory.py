"""A service's local copy of the network's store directory, kept from capacity's store events.

Capacity owns the stores; every other service keeps this table from the public contract
(storemesh.capacity.events.v1 StoreRegistered / StoreUpdated / StoreClosed) and checks
store codes against it. Until the directory holds any store (capacity not deployed yet,
or its first events still on their way) every well-formed code is accepted; from then on
an unknown code is NOT_FOUND.

Wiring: `keeps_store_directory=True` in a service's ServiceDefinition; kernel.service
then migrates the table and subscribes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    exists,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from storemesh.capacity.events.v1 import events_pb2

from kernel.application import UnitOfWork
from kernel.db import Migration
from kernel.errors import NotFound, RuleViolated
from kernel.messaging import InboundEvent
from kernel.subscriptions import PoisonMessage, Subscription

COMPONENT = "store_directory"
STREAM = "CAPACITY"
SUBJECTS = (
    "capacity.v1.*.StoreRegistered",
    "capacity.v1.*.StoreUpdated",
    "capacity.v1.*.StoreClosed",
)

metadata = MetaData()

store_directory = Table(
    "store_directory",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region", String(200), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("closed", Boolean, nullable=False),
    # Version of the store's stream the row reflects: a late redelivery never rolls back.
    Column("version", Integer, nullable=False),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(1, "store directory kept from capacity's store events", _create),)

_PROFILE_EVENTS: dict[str, type[Any]] = {
    events_pb2.StoreRegistered.DESCRIPTOR.full_name: events_pb2.StoreRegistered,
    events_pb2.StoreUpdated.DESCRIPTOR.full_name: events_pb2.StoreUpdated,
}
_CLOSED = events_pb2.StoreClosed.DESCRIPTOR.full_name


def subscription(service: str) -> Subscription:
    """The durable consumer keeping `service`'s directory (one per service on CAPACITY)."""
    return Subscription(
        name=f"{service}-store-directory",
        stream=STREAM,
        subjects=SUBJECTS,
        handler=apply_store_event,
    )


async def apply_store_event(uow: UnitOfWork, event: InboundEvent) -> None:
    version = _stream_version(event)
    if event.event_type in _PROFILE_EVENTS:
        changed = _decode(_PROFILE_EVENTS[event.event_type], event)
        profile = changed.profile
        await _upsert(
            uow.conn,
            {
                "store_id": changed.store_id,
                "name": profile.name,
                "region": profile.region,
                "latitude": profile.latitude,
                "longitude": profile.longitude,
                "closed": False,
                "version": version,
            },
            keep_newer=True,
        )
    elif event.event_type == _CLOSED:
        closed = _decode(events_pb2.StoreClosed, event)
        # Version 0: a close seen before the registration still lets the profile fill in.
        await _upsert(
            uow.conn,
            {
                "store_id": closed.store_id,
                "name": closed.store_id,
                "region": "",
                "latitude": None,
                "longitude": None,
                "closed": True,
                "version": 0,
            },
            keep_newer=False,
        )
    else:
        raise PoisonMessage(f"not a store event: {event.event_type!r}")


def _decode(message_type: type[Any], event: InboundEvent) -> Any:
    try:
        message = message_type.FromString(event.payload)
    except DecodeError as exc:
        raise PoisonMessage(f"undecodable {event.event_type}: {exc}") from exc
    if not message.store_id:
        raise PoisonMessage(f"{event.event_type} without a store_id")
    return message


def _stream_version(event: InboundEvent) -> int:
    try:
        return int(event.headers.get("ce-streamversion", "0"))
    except ValueError:
        return 0


async def _upsert(conn: AsyncConnection, values: dict[str, Any], *, keep_newer: bool) -> None:
    """Profile events replace name and place unless the row is newer; a close only closes."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(store_directory).values(**values)
    if keep_newer:
        statement = statement.on_conflict_do_update(
            index_elements=["store_id"],
            set_={
                name: statement.excluded[name]
                for name in ("name", "region", "latitude", "longitude", "version")
            },
            where=store_directory.c.version <= statement.excluded.version,
        )
    else:
        statement = statement.on_conflict_do_update(
            index_elements=["store_id"], set_={"closed": True}
        )
    await conn.execute(statement)


async def store_status(conn: AsyncConnection, store_id: str) -> tuple[bool, bool]:
    """(known, closed). Until the directory holds any store, every well-formed code is known."""
    closed, anyone = (await conn.execute(_STORE_STATUS, {"store_id": store_id})).one()
    if closed is not None:
        return True, bool(closed)
    return not anyone, False


# One round trip on the hot path of every stock command.
_STORE_STATUS = select(
    select(store_directory.c.closed)
    .where(store_directory.c.store_id == bindparam("store_id"))
    .scalar_subquery(),
    exists().where(store_directory.c.store_id.is_not(None)),
)


async def require_open_store(conn: AsyncConnection, store_id: str, field: str) -> None:
    """NOT_FOUND for an unknown store, STORE_CLOSED for a closed one; `field` names the input."""
    known, closed = await store_status(conn, store_id)
    if not known:
        raise NotFound("store", store_id)
    if closed:
        raise RuleViolated(
            "STORE_CLOSED",
            f"store {store_id} is closed",
            subject=f"store/{store_id}",
            metadata={"field": field},
        )


async def store_location(conn: AsyncConnection, store_id: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a store the directory knows, else None."""
    row = (
        await conn.execute(
            select(store_directory.c.latitude, store_directory.c.longitude).where(
                store_directory.c.store_id == store_id
            )
        )
    ).first()
    if row is None or row.latitude is None or row.longitude is None:
        return None
    return float(row.latitude), float(row.longitude)
