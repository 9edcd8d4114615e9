"""A service's local copy of the network's store directory, kept from capacity's store events.

Capacity owns the stores; every other service keeps this table from the public contract
(storemesh.capacity.events.v1 StoreRegistered / StoreUpdated / StoreClosed) and checks
store codes against it. Until the directory holds any store (capacity not deployed yet,
or its first events still on their way) every well-formed code is accepted; from then on
an unknown code is NOT_FOUND.

Every stock command checks its store, so each process also holds the directory in memory
(`DirectoryMemory`) and answers a known store from there without a round trip. The copy
is kept from the events, never from the table alone: replicas share the durable consumer
that writes the table, so each replica also follows the store subjects itself with an
ordered (ephemeral) consumer from the stream's start, and merges the table at start and
every `RELOAD_SECONDS` as a safety net. Both apply the table's own rules (a profile never
rolls back to an older version; a close is final), so it does not matter which arrives
first. A store the memory does not hold is looked up in the table as before: an unknown
code, the empty directory before capacity's first event, and rows written by other means
all keep their answers.

Wiring: `keeps_store_directory=True` in a service's ServiceDefinition; kernel.service
then migrates the table and runs a `DirectoryRunner` (the durable subscription plus the
follower).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from google.protobuf.message import DecodeError
from nats.js.api import DeliverPolicy
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

from kernel.application import Application, UnitOfWork
from kernel.db import Database, Migration
from kernel.directory_memory import DirectoryMemory, StoreChange, attach_memory, memory_of
from kernel.errors import NotFound, RuleViolated
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import PoisonMessage, Subscription, SubscriptionRunner

log = structlog.get_logger("storemesh.kernel.store_directory")

COMPONENT = "store_directory"
STREAM = "CAPACITY"
SUBJECTS = (
    "capacity.v1.*.StoreRegistered",
    "capacity.v1.*.StoreUpdated",
    "capacity.v1.*.StoreClosed",
)
# How often a replica merges the table into its memory, in case its follower missed
# something (e.g. a consumer lost with a NATS restart): the bound on a stale answer then.
RELOAD_SECONDS = 30.0
# The refusal of a command naming a closed store (capacity names its own the same).
STORE_CLOSED = "STORE_CLOSED"

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


def store_change(event: InboundEvent) -> StoreChange | None:
    """What a store event changes; None for capacity's other events (walk-ins,
    appointments...), which a consumer of the whole stream meets and passes over."""
    version = _stream_version(event)
    if event.event_type in _PROFILE_EVENTS:
        changed = _decode(_PROFILE_EVENTS[event.event_type], event)
        return StoreChange(changed.store_id, False, version, changed.profile)
    if event.event_type == _CLOSED:
        closed = _decode(events_pb2.StoreClosed, event)
        # Version 0: a close seen before the registration still lets the profile fill in.
        return StoreChange(closed.store_id, True, 0)
    return None


async def apply_store_event(uow: UnitOfWork, event: InboundEvent) -> None:
    change = store_change(event)
    if change is None:
        log.debug("store_directory.skipped", event_type=event.event_type)
        return
    if change.closed:
        await _upsert(
            uow.conn,
            {
                "store_id": change.store_id,
                "name": change.store_id,
                "region": "",
                "latitude": None,
                "longitude": None,
                "closed": True,
                "version": change.version,
            },
            keep_newer=False,
        )
    else:
        profile = change.profile
        await _upsert(
            uow.conn,
            {
                "store_id": change.store_id,
                "name": profile.name,
                "region": profile.region,
                "latitude": profile.latitude,
                "longitude": profile.longitude,
                "closed": False,
                "version": change.version,
            },
            keep_newer=True,
        )
    # Before the commit: memory may run ahead of the table, never behind it (the event is
    # capacity's fact either way; a rolled-back write is redelivered).
    memory = memory_of(uow.conn)
    if memory is not None:
        memory.apply(change)


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


async def require_open_store(
    conn: AsyncConnection, store_id: str, field: str, *, closed_ok: bool = False
) -> None:
    """NOT_FOUND for an unknown store, STORE_CLOSED for a closed one; `field` names the input.
    `closed_ok`: a known store is enough (what closes out work already under way there).

    A store this process's memory holds is answered from there; any other is looked up.
    """
    memory = memory_of(conn)
    closed = memory.closed(store_id) if memory is not None else None
    if closed is None:
        closed_in_table, version, anyone = (
            await conn.execute(_STORE_ROW, {"store_id": store_id})
        ).one()
        if closed_in_table is None:
            if anyone:
                raise NotFound("store", store_id)
            return  # an empty directory accepts every well-formed code
        closed = bool(closed_in_table)
        if memory is not None:
            memory.apply(StoreChange(store_id, closed, int(version)))
    if closed and not closed_ok:
        raise RuleViolated(
            STORE_CLOSED,
            f"store {store_id} is closed",
            subject=f"store/{store_id}",
            metadata={"field": field},
        )


# One round trip for a store the memory does not hold.
_STORE_ROW = select(
    select(store_directory.c.closed)
    .where(store_directory.c.store_id == bindparam("store_id"))
    .scalar_subquery(),
    select(store_directory.c.version)
    .where(store_directory.c.store_id == bindparam("store_id"))
    .scalar_subquery(),
    exists().where(store_directory.c.store_id.is_not(None)),
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


_ALL_STORES = select(
    store_directory.c.store_id, store_directory.c.closed, store_directory.c.version
)


class DirectoryFollower:
    """Keeps one replica's memory from capacity's store events: an ordered consumer per
    store subject from the stream's start (store events are few), plus table merges."""

    def __init__(
        self,
        memory: DirectoryMemory,
        db: Database,
        nats: NatsConnection,
        *,
        reload_seconds: float = RELOAD_SECONDS,
    ) -> None:
        self.memory = memory
        self.db = db
        self.nats = nats
        self.reload_seconds = reload_seconds
        self.applied = 0

    async def run(self, stop: asyncio.Event) -> None:
        subscriptions: list[Any] = []
        retry = 0.2
        try:
            while not stop.is_set():
                if not subscriptions:
                    try:
                        subscriptions = await self._follow()
                        retry = 0.2
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        # Capacity's stream may not exist yet, or NATS is away: merge the
                        # table meanwhile and try again.
                        log.info("store_directory.not_following", reason=repr(exc))
                        retry = min(retry * 2, 5.0)
                await self._reload()
                wait = self.reload_seconds if subscriptions else retry
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _follow(self) -> list[Any]:
        js = await self.nats.jetstream()
        stream = self.nats.stream(STREAM)
        subscriptions: list[Any] = []
        try:
            for subject in SUBJECTS:
                subscriptions.append(
                    await js.subscribe(
                        self.nats.subject(subject),
                        stream=stream,
                        cb=self._on_message,
                        ordered_consumer=True,
                        deliver_policy=DeliverPolicy.ALL,
                    )
                )
        except BaseException:
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
            raise
        return subscriptions

    async def _on_message(self, msg: Any) -> None:
        try:
            change = store_change(InboundEvent.from_message(msg))
            if change is not None:
                self.memory.apply(change)
                self.applied += 1
        except PoisonMessage as exc:
            # The durable subscription parks it; here there is nothing to remember.
            log.warning("store_directory.ignored", reason=str(exc))

    async def _reload(self) -> None:
        try:
            async with self.db.transaction("store directory reload") as conn:
                rows = (await conn.execute(_ALL_STORES)).all()
            for store_id, closed, version in rows:
                self.memory.apply(StoreChange(store_id, bool(closed), int(version)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("store_directory.reload_failed", error=repr(exc))


class DirectoryRunner(SubscriptionRunner):
    """The directory's durable subscription (writes the table, shared by the replicas)
    and this replica's follower (keeps its memory), run and stopped together."""

    def __init__(self, app: Application, nats: NatsConnection, *, service: str) -> None:
        super().__init__(app, nats, subscription(service), service=service)
        self.memory = attach_memory(app.db)
        self.follower = DirectoryFollower(self.memory, app.db, nats)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(super().run(stop), self.follower.run(stop))
