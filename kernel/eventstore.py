"""The event store: append with expected version, read a stream, hand out unpublished events.

Publication without gaps and in every stream's order: each append also puts the event's
position into the `outbox` table, in the same transaction. The relay reads committed
outbox rows in position order and deletes them once JetStream has them, so an event
committed late (behind a higher position) is simply still there on the next pass: nothing
is skipped, and no reader waits for transactions it has nothing to do with. Version v+1 of
a stream can only be appended after the transaction holding v committed (the streams row
and the expected version see to it), so v+1 takes a higher position and v is visible (or
already published) whenever v+1 is: position order is every stream's version order.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import Migration, UtcDateTime, driver_execute, upsert
from kernel.errors import ConcurrencyConflict

metadata = MetaData()

_Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    Column("store_id", String(32), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_events_stream", "stream_id", "stream_version", unique=True),
)

# Positions of committed events the relay has not published yet (deleted once it has).
outbox = Table(
    "outbox",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=False),
)

streams = Table(
    "streams",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", JSON, nullable=False),
)

command_log = Table(
    "command_log",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("command_type", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("subscription", String(200), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", UtcDateTime(timezone=True), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=True),
)

timers = Table(
    "timers",
    metadata,
    Column("timer_id", String(200), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("due_at", UtcDateTime(timezone=True), nullable=False, index=True),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)


def _create_kernel_tables(conn: Connection) -> None:
    metadata.create_all(conn)
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "ALTER TABLE events ALTER COLUMN tx_id "
                "SET DEFAULT (pg_current_xact_id()::text::bigint)"
            )
        )


def _add_outbox(conn: Connection) -> None:
    """Queue what the relay's (tx_id, position) checkpoint had not reached yet.

    That checkpoint only ever passed events of transactions that had ended, so everything
    at or before it in (tx_id, position) order is on JetStream already. Events appended by
    a replica still running the old code after this step get no outbox row: stop the old
    replicas before starting the new ones.
    """
    outbox.create(conn, checkfirst=True)
    conn.execute(
        text(
            "INSERT INTO outbox (position) SELECT e.position FROM events e "
            "WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.name = 'relay' "
            "AND (e.tx_id < c.tx_id OR (e.tx_id = c.tx_id AND e.position <= c.position))) "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.position = e.position)"
        )
    )
    conn.execute(text("DROP INDEX IF EXISTS ix_events_global"))


KERNEL_MIGRATIONS = (
    Migration(1, "event store, command log, inbox, checkpoints, timers", _create_kernel_tables),
    Migration(2, "outbox of unpublished events", _add_outbox),
)

ANY_VERSION = -1


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    payload: bytes
    store_id: str
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    tx_id: int
    stream_id: str
    stream_version: int
    event_id: uuid.UUID
    event_type: str
    store_id: str
    payload: bytes
    metadata: dict[str, Any]
    recorded_at: datetime


def _row_to_event(row: Any) -> RecordedEvent:
    return RecordedEvent(
        position=row.position,
        tx_id=row.tx_id,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        event_id=row.event_id,
        event_type=row.event_type,
        store_id=row.store_id,
        payload=row.payload,
        metadata=row.metadata,
        recorded_at=row.recorded_at,
    )


class EventStore:
    """Stateless: every call takes the connection of the caller's transaction."""

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        recorded_at: datetime,
    ) -> list[RecordedEvent]:
        if not new_events:
            return []
        if conn.dialect.name == "postgresql" and expected_version != ANY_VERSION:
            return await self._append_in_one_statement(
                conn, stream_id, expected_version, new_events, recorded_at
            )
        new_version = await self._claim_versions(conn, stream_id, expected_version, len(new_events))
        first = new_version - len(new_events) + 1
        rows: list[dict[str, Any]] = [
            {
                "stream_id": stream_id,
                "stream_version": first + i,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "store_id": e.store_id,
                "payload": e.payload,
                "metadata": e.metadata,
                "recorded_at": recorded_at,
                **({} if conn.dialect.name == "postgresql" else {"tx_id": 0}),
            }
            for i, e in enumerate(new_events)
        ]
        result = await conn.execute(_INSERT_EVENTS, rows)
        keys = result.all()
        await conn.execute(_QUEUE, [{"position": k.position} for k in keys])
        return [
            RecordedEvent(
                position=k.position,
                tx_id=k.tx_id,
                stream_id=stream_id,
                stream_version=r["stream_version"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                store_id=r["store_id"],
                payload=r["payload"],
                metadata=r["metadata"],
                recorded_at=recorded_at,
            )
            for k, r in zip(keys, rows, strict=True)
        ]

    async def _append_in_one_statement(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        recorded_at: datetime,
    ) -> list[RecordedEvent]:
        """PostgreSQL: move the version and insert the events in one round trip.

        The statement goes straight to the psycopg connection of the transaction: on this
        path SQLAlchemy's per-statement work cost more CPU than the database did.
        """
        count = len(new_events)
        params: dict[str, Any] = {
            "stream_id": stream_id,
            "expected": expected_version,
            "new": expected_version + count,
            "recorded_at": recorded_at,
        }
        for i, e in enumerate(new_events):
            params.update(
                {
                    f"v{i}": expected_version + 1 + i,
                    f"id{i}": e.event_id,
                    f"type{i}": e.event_type,
                    f"store{i}": e.store_id,
                    f"payload{i}": e.payload,
                    f"meta{i}": Json(e.metadata),
                }
            )
        cursor = await driver_execute(
            conn, _one_statement_append(count, expected_version == 0), params
        )
        keys = sorted(await cursor.fetchall())  # positions follow the versions
        if len(keys) != count:
            raise ConcurrencyConflict(stream_id, expected_version)
        return [
            RecordedEvent(
                position=position,
                tx_id=tx_id,
                stream_id=stream_id,
                stream_version=expected_version + 1 + i,
                event_id=e.event_id,
                event_type=e.event_type,
                store_id=e.store_id,
                payload=e.payload,
                metadata=e.metadata,
                recorded_at=recorded_at,
            )
            for i, (e, (position, tx_id)) in enumerate(zip(new_events, keys, strict=True))
        ]

    async def append_many(
        self,
        conn: AsyncConnection,
        appends: Sequence[StreamAppend],
        recorded_at: datetime,
    ) -> list[list[RecordedEvent]]:
        """Append to many streams at once, each at its expected version (a batch command:
        a store's whole stock count). On PostgreSQL one statement moves or creates every
        stream and inserts every event and outbox row; any stream not at its expected
        version is a ConcurrencyConflict for the whole batch (the transaction retries).
        Positions follow the order given, so each stream's versions stay in order.
        """
        appends = [a for a in appends if a.events]
        if not appends:
            return []
        ids = [a.stream_id for a in appends]
        if len(set(ids)) != len(ids):
            raise ValueError("append_many: one entry per stream")
        if conn.dialect.name != "postgresql" or any(
            a.expected_version == ANY_VERSION for a in appends
        ):
            return [
                await self.append(conn, a.stream_id, a.expected_version, a.events, recorded_at)
                for a in appends
            ]
        return await self._append_many_in_one_statement(conn, appends, recorded_at)

    async def _append_many_in_one_statement(
        self, conn: AsyncConnection, appends: Sequence[StreamAppend], recorded_at: datetime
    ) -> list[list[RecordedEvent]]:
        columns: dict[str, list[Any]] = {
            k: [] for k in ("stream", "version", "id", "type", "store", "payload", "meta")
        }
        for a in appends:
            for i, e in enumerate(a.events):
                columns["stream"].append(a.stream_id)
                columns["version"].append(a.expected_version + 1 + i)
                columns["id"].append(e.event_id)
                columns["type"].append(e.event_type)
                columns["store"].append(e.store_id)
                columns["payload"].append(e.payload)
                columns["meta"].append(Json(e.metadata))
        params: dict[str, Any] = {
            "streams": [a.stream_id for a in appends],
            "expected": [a.expected_version for a in appends],
            "new": [a.expected_version + len(a.events) for a in appends],
            "recorded_at": recorded_at,
            **columns,
        }
        cursor = await driver_execute(conn, _APPEND_MANY, params)
        keys = await cursor.fetchall()  # (ordinality, position, tx_id), in ordinality order
        if len(keys) != len(columns["stream"]):
            claimed = {row[0] for row in keys}
            owners = _owner_of_each_event(appends)
            stale = next((a for k, a in enumerate(owners) if k not in claimed), appends[0])
            raise ConcurrencyConflict(stale.stream_id, stale.expected_version)
        results: list[list[RecordedEvent]] = []
        rows = iter(keys)
        for a in appends:
            recorded = []
            for i, e in enumerate(a.events):
                _, position, tx_id = next(rows)
                recorded.append(
                    RecordedEvent(
                        position=position,
                        tx_id=tx_id,
                        stream_id=a.stream_id,
                        stream_version=a.expected_version + 1 + i,
                        event_id=e.event_id,
                        event_type=e.event_type,
                        store_id=e.store_id,
                        payload=e.payload,
                        metadata=e.metadata,
                        recorded_at=recorded_at,
                    )
                )
            results.append(recorded)
        return results

    async def _claim_versions(
        self, conn: AsyncConnection, stream_id: str, expected_version: int, count: int
    ) -> int:
        """Move the stream's version row; the row lock orders writers of one stream."""
        if expected_version == 0:
            created = await conn.execute(_CREATE_STREAM, {"stream_id": stream_id, "version": count})
            if created.first() is None:
                raise ConcurrencyConflict(stream_id, expected_version)
            return count
        if expected_version == ANY_VERSION:
            current = await self.stream_version(conn, stream_id)
            if current == 0:
                return await self._claim_versions(conn, stream_id, 0, count)
            expected_version = current
        result = await conn.execute(
            _MOVE_VERSION,
            {
                "b_stream": stream_id,
                "b_expected": expected_version,
                "b_new": expected_version + count,
            },
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(stream_id, expected_version)
        return expected_version + count

    async def stream_version(self, conn: AsyncConnection, stream_id: str) -> int:
        version = await conn.scalar(_STREAM_VERSION, {"stream_id": stream_id})
        return int(version or 0)

    async def stream_versions(
        self, conn: AsyncConnection, stream_ids: Collection[str]
    ) -> dict[str, int]:
        """The current version of each stream that has one (a stream never written has none)."""
        result = await conn.execute(_STREAM_VERSIONS, {"stream_ids": list(stream_ids)})
        return {row.stream_id: row.version for row in result}

    async def read_stream(
        self, conn: AsyncConnection, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        result = await conn.execute(_READ_STREAM, {"stream_id": stream_id, "after": after_version})
        return [_row_to_event(row) for row in result]

    async def read_unpublished(
        self, conn: AsyncConnection, limit: int = 500
    ) -> list[RecordedEvent]:
        """Committed events not yet published, in position order (see the module docstring)."""
        return [_row_to_event(row) for row in await conn.execute(_UNPUBLISHED, {"limit": limit})]

    async def mark_published(self, conn: AsyncConnection, positions: Sequence[int]) -> None:
        """Take published events out of the outbox (in the transaction that read them)."""
        if positions:
            await conn.execute(_PUBLISHED, {"positions": list(positions)})

    async def load_snapshot(self, conn: AsyncConnection, stream_id: str) -> tuple[int, Any] | None:
        row = (await conn.execute(_LOAD_SNAPSHOT, {"stream_id": stream_id})).first()
        return None if row is None else (row.version, row.state)

    async def save_snapshot(
        self, conn: AsyncConnection, stream_id: str, version: int, state: Any
    ) -> None:
        """One upsert, built once (it was an update, then an insert when none existed)."""
        await upsert(
            conn,
            snapshots,
            {"stream_id": stream_id, "version": version, "state": state},
            ["stream_id"],
        )


# Statements built once: building and cache-keying a statement per call costs more CPU
# than the round trip it makes.
_CREATE_STREAM = text(
    "INSERT INTO streams (stream_id, version) VALUES (:stream_id, :version) "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING version"
)
_MOVE_VERSION = (
    update(streams)
    .where(
        and_(
            streams.c.stream_id == bindparam("b_stream"),
            streams.c.version == bindparam("b_expected"),
        )
    )
    .values(version=bindparam("b_new"))
)
_STREAM_VERSIONS = select(streams.c.stream_id, streams.c.version).where(
    streams.c.stream_id.in_(bindparam("stream_ids", expanding=True))
)
_STREAM_VERSION = select(streams.c.version).where(streams.c.stream_id == bindparam("stream_id"))
_READ_STREAM = (
    select(events)
    .where(
        and_(
            events.c.stream_id == bindparam("stream_id"),
            events.c.stream_version > bindparam("after"),
        )
    )
    .order_by(events.c.stream_version)
)
_LOAD_SNAPSHOT = select(snapshots.c.version, snapshots.c.state).where(
    snapshots.c.stream_id == bindparam("stream_id")
)
_INSERT_EVENTS = events.insert().returning(events.c.position, events.c.tx_id)
_QUEUE = outbox.insert()
_UNPUBLISHED = (
    select(events)
    .join(outbox, outbox.c.position == events.c.position)
    .order_by(outbox.c.position)
    .limit(bindparam("limit"))
)
_PUBLISHED = outbox.delete().where(outbox.c.position.in_(bindparam("positions", expanding=True)))


@functools.cache
def _one_statement_append(count: int, new_stream: bool) -> str:
    """The version claim, the inserts of `count` events and their outbox rows as one
    statement (psycopg style).

    The claim is a CTE; when it claims nothing (a stale version, or a stream someone else
    created first) the insert selects no rows, which the caller reads as a conflict.
    """
    claim = (
        "INSERT INTO streams (stream_id, version) VALUES (%(stream_id)s, %(new)s) "
        "ON CONFLICT (stream_id) DO NOTHING RETURNING version"
        if new_stream
        else "UPDATE streams SET version = %(new)s "
        "WHERE stream_id = %(stream_id)s AND version = %(expected)s RETURNING version"
    )
    rows = ", ".join(
        f"(%(v{i})s::int, %(id{i})s::uuid, %(type{i})s::text, %(store{i})s::text, "
        f"%(payload{i})s::bytea, %(meta{i})s::json)"
        for i in range(count)
    )
    return (
        f"WITH claimed AS ({claim}), appended AS ("
        "INSERT INTO events (stream_id, stream_version, event_id, event_type, store_id, "
        "payload, metadata, recorded_at) "
        "SELECT %(stream_id)s, e.version, e.event_id, e.event_type, e.store_id, e.payload, "
        "e.metadata, %(recorded_at)s "
        f"FROM claimed, (VALUES {rows}) AS e(version, event_id, event_type, store_id, payload, "
        "metadata) ORDER BY e.version RETURNING position, tx_id), "
        "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
        "SELECT position, tx_id FROM appended"
    )


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of an append_many: its new events at the version it was read at."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


def _owner_of_each_event(appends: Sequence[StreamAppend]) -> list[StreamAppend]:
    """Index k: the append the k-th event of the batch belongs to."""
    return [a for a in appends for _ in a.events]


# Every stream of the batch is moved (expected > 0) or created (expected = 0) in CTEs; the
# events are inserted only for streams claimed, in the order given (WITH ORDINALITY), so
# positions follow each stream's versions. Fewer rows back than events sent: a conflict.
_APPEND_MANY = (
    "WITH input AS (SELECT * FROM unnest(%(streams)s::text[], %(expected)s::int[], "
    "%(new)s::int[]) AS i(stream_id, expected, new)), "
    "moved AS (UPDATE streams s SET version = i.new FROM input i "
    "WHERE i.expected > 0 AND s.stream_id = i.stream_id AND s.version = i.expected "
    "RETURNING s.stream_id), "
    "created AS (INSERT INTO streams (stream_id, version) "
    "SELECT stream_id, new FROM input WHERE expected = 0 "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id), "
    "claimed AS (SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created), "
    "rows AS (SELECT * FROM unnest(%(stream)s::text[], %(version)s::int[], %(id)s::uuid[], "
    "%(type)s::text[], %(store)s::text[], %(payload)s::bytea[], %(meta)s::json[]) "
    "WITH ORDINALITY AS e(stream_id, version, event_id, event_type, store_id, payload, "
    "metadata, n)), "
    "appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, "
    "store_id, payload, metadata, recorded_at) "
    "SELECT e.stream_id, e.version, e.event_id, e.event_type, e.store_id, e.payload, "
    "e.metadata, %(recorded_at)s FROM rows e JOIN claimed c ON c.stream_id = e.stream_id "
    "ORDER BY e.n RETURNING position, tx_id, event_id), "
    "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
    "SELECT r.n - 1, a.position, a.tx_id FROM appended a JOIN rows r ON r.event_id = a.event_id "
    "ORDER BY r.n"
)
