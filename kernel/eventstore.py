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

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import eventstore_sql as sql
from kernel.codec import json_text
from kernel.db import driver_execute, upsert
from kernel.errors import ConcurrencyConflict

# The tables moved to kernel.event_tables; importers of this module still find them here.
from kernel.event_tables import (
    KERNEL_MIGRATIONS,
    checkpoints,
    command_log,
    events,
    inbox,
    metadata,
    outbox,
    snapshots,
    streams,
    timers,
)

__all__ = [
    "ANY_VERSION",
    "KERNEL_MIGRATIONS",
    "EventStore",
    "NewEvent",
    "RecordedEvent",
    "StreamAppend",
    "checkpoints",
    "command_log",
    "events",
    "inbox",
    "metadata",
    "outbox",
    "snapshots",
    "streams",
    "timers",
]

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
        result = await conn.execute(sql.INSERT_EVENTS, rows)
        keys = result.all()
        await conn.execute(sql.QUEUE, [{"position": k.position} for k in keys])
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
                    f"meta{i}": json_text(e.metadata),
                }
            )
        cursor = await driver_execute(
            conn, sql.one_statement_append(count, expected_version == 0), params
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
                columns["meta"].append(json_text(e.metadata))
        params: dict[str, Any] = {
            "streams": [a.stream_id for a in appends],
            "expected": [a.expected_version for a in appends],
            "new": [a.expected_version + len(a.events) for a in appends],
            "recorded_at": recorded_at,
            **columns,
        }
        cursor = await driver_execute(conn, sql.APPEND_MANY, params)
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
            created = await conn.execute(
                sql.CREATE_STREAM, {"stream_id": stream_id, "version": count}
            )
            if created.first() is None:
                raise ConcurrencyConflict(stream_id, expected_version)
            return count
        if expected_version == ANY_VERSION:
            current = await self.stream_version(conn, stream_id)
            if current == 0:
                return await self._claim_versions(conn, stream_id, 0, count)
            expected_version = current
        result = await conn.execute(
            sql.MOVE_VERSION,
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
        version = await conn.scalar(sql.STREAM_VERSION, {"stream_id": stream_id})
        return int(version or 0)

    async def stream_versions(
        self, conn: AsyncConnection, stream_ids: Collection[str]
    ) -> dict[str, int]:
        """The current version of each stream that has one (a stream never written has none)."""
        result = await conn.execute(sql.STREAM_VERSIONS, {"stream_ids": list(stream_ids)})
        return {row.stream_id: row.version for row in result}

    async def read_stream(
        self, conn: AsyncConnection, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        result = await conn.execute(
            sql.READ_STREAM, {"stream_id": stream_id, "after": after_version}
        )
        return [_row_to_event(row) for row in result]

    async def read_unpublished(
        self, conn: AsyncConnection, limit: int = 500
    ) -> list[RecordedEvent]:
        """Committed events not yet published, in position order (see the module docstring).

        On PostgreSQL straight to psycopg, as are `mark_published`'s and the append's: the
        relay runs these once per batch, and a batch follows every commit under load.
        """
        if conn.dialect.name == "postgresql":
            cursor = await driver_execute(conn, sql.UNPUBLISHED_PG, {"limit": limit})
            return [RecordedEvent(*row) for row in await cursor.fetchall()]
        return [_row_to_event(row) for row in await conn.execute(sql.UNPUBLISHED, {"limit": limit})]

    async def mark_published(self, conn: AsyncConnection, positions: Sequence[int]) -> None:
        """Take published events out of the outbox (in the transaction that read them)."""
        if not positions:
            return
        if conn.dialect.name == "postgresql":
            await driver_execute(conn, sql.PUBLISHED_PG, {"positions": list(positions)})
        else:
            await conn.execute(sql.PUBLISHED, {"positions": list(positions)})

    async def load_snapshot(self, conn: AsyncConnection, stream_id: str) -> tuple[int, Any] | None:
        row = (await conn.execute(sql.LOAD_SNAPSHOT, {"stream_id": stream_id})).first()
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


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of an append_many: its new events at the version it was read at."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


def _owner_of_each_event(appends: Sequence[StreamAppend]) -> list[StreamAppend]:
    """Index k: the append the k-th event of the batch belongs to."""
    return [a for a in appends for _ in a.events]
