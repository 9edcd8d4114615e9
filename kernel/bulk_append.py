"""Recording thousands of streams' events in one transaction, for batch commands on
PostgreSQL (a store's whole stock count: one event on each of 5,000 streams).

`UnitOfWork.appends_batched` already appends a block in one statement, but it sends the
events as arrays of parameters (psycopg dumps bytea and json arrays value by value, with
escaping) and then projects, snapshots and reacts event by event. Here the event rows go
to a temporary staging table by COPY, and one statement moves every stream at its
expected version, inserts the events and queues them in the outbox: the same tables and
columns as any append, so the relay and every subscriber see ordinary events. The caller
has decided each stream already (it hands in the new events and the state after them)
and projects its read model itself, set-based (`copy_upsert`).

What this path does not do, so the caller must not need it: per-event projectors (the
caller writes its rows) and policies (refused: a reaction would need the per-event path).
A stream not at its expected version fails the whole batch with ConcurrencyConflict;
Application.handle rolls back and retries the unit of work, as for any append.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg.types.json import Json
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Aggregate, Loaded, UnitOfWork
from kernel.codec import to_json
from kernel.db import begun_driver
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import RecordedEvent

S = TypeVar("S")


@dataclass(frozen=True)
class StreamWrite(Generic[S]):
    """One stream's decision: its new events after `loaded.version`, and its state after them."""

    loaded: Loaded[S]
    events: Sequence[Any]
    state: S


def available(uow: UnitOfWork) -> bool:
    """Whether this unit of work can record in bulk (PostgreSQL; not SQLite, not a fake)."""
    conn = uow.conn
    return conn is not None and conn.dialect.name == "postgresql"


async def record_many(
    uow: UnitOfWork, aggregate: Aggregate[S], writes: Sequence[StreamWrite[S]]
) -> list[RecordedEvent]:
    """Append each write's events at its loaded version, in the unit of work's transaction.

    Snapshots are saved where due, the streams leave the aggregate cache, and the recorded
    events join `uow.recorded` (so the relay is woken at commit). Projections are the
    caller's; policies reacting to these events are refused (ValueError).
    """
    writes = [w for w in writes if w.events]
    if not writes:
        return []
    _refuse_reactions(uow, writes)
    ids = [w.loaded.stream_id for w in writes]
    if len(set(ids)) != len(ids):
        raise ValueError("record_many: one write per stream")
    now = uow.clock.now()
    staged: list[tuple[Any, ...]] = []
    for w in writes:
        expected = w.loaded.version
        last = expected + len(w.events)
        for i, event in enumerate(w.events):
            type_name, payload = uow.registry.encode(event)
            staged.append(
                (
                    len(staged),
                    w.loaded.stream_id,
                    expected + 1 + i,
                    expected,
                    last,
                    uuid.uuid4(),
                    type_name,
                    aggregate.store_of(event),
                    payload,
                )
            )
    driver = await begun_driver(uow.conn)
    await driver.execute(_STAGING)
    async with driver.cursor() as cur, cur.copy(_COPY_STAGED) as copy:
        for row in staged:
            await copy.write_row(row)
    metadata = dict(uow.metadata)
    cursor = await driver.execute(_APPEND_STAGED, {"metadata": Json(metadata), "at": now})
    keys = {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}
    if len(keys) != len(staged):
        stale = next(w for w in writes if w.loaded.stream_id not in _streams_of(staged, keys))
        raise ConcurrencyConflict(stale.loaded.stream_id, stale.loaded.version)
    recorded = [
        RecordedEvent(
            position=keys[row[5]][0],
            tx_id=keys[row[5]][1],
            stream_id=row[1],
            stream_version=row[2],
            event_id=row[5],
            event_type=row[6],
            store_id=row[7],
            payload=row[8],
            metadata=metadata,
            recorded_at=now,
        )
        for row in staged
    ]
    await _snapshots_due(uow, aggregate, writes)
    if uow.cache is not None:
        uow.cache.drop(ids)
    uow.recorded.extend(recorded)
    return recorded


async def copy_upsert(
    conn: AsyncConnection, table: Table, keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert or replace `rows` (every column of `table`, in its order) in one statement:
    COPY into a temporary twin of the table, then INSERT .. ON CONFLICT (keys) DO UPDATE.
    A read model's set-based projection of a batch; JSON columns take JSON-able values
    (`kernel.codec.to_json` of a dataclass).
    """
    if not rows:
        return
    columns = [c.name for c in table.columns]
    json_at = [k for k, c in enumerate(table.columns) if c.type.__class__.__name__ == "JSON"]
    stage = f"bulk_{table.name}"
    driver = await begun_driver(conn)
    await driver.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    listed = ", ".join(columns)
    async with driver.cursor() as cur, cur.copy(f"COPY {stage} ({listed}) FROM STDIN") as copy:
        for row in rows:
            if json_at:
                row = list(row)
                for k in json_at:
                    row[k] = Json(row[k])
            await copy.write_row(row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    await driver.execute(
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {stage} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _refuse_reactions(uow: UnitOfWork, writes: Sequence[StreamWrite[Any]]) -> None:
    for w in writes:
        for event in w.events:
            for policy in uow.policies:
                if isinstance(event, policy.reacts_to):
                    raise ValueError(
                        f"record_many: {type(event).__name__} has a policy reacting to it"
                    )


def _streams_of(staged: Sequence[tuple[Any, ...]], keys: dict[Any, Any]) -> set[str]:
    return {row[1] for row in staged if row[5] in keys}


async def _snapshots_due(
    uow: UnitOfWork, aggregate: Aggregate[S], writes: Sequence[StreamWrite[S]]
) -> None:
    """As `UnitOfWork.record` does: a snapshot whenever a write crosses a multiple of
    `snapshot_every` (rare in a batch: one every that many counts of a position)."""
    every = aggregate.snapshot_every
    for w in writes:
        before = w.loaded.version
        after = before + len(w.events)
        if after // every > before // every:
            await uow.store.save_snapshot(uow.conn, w.loaded.stream_id, after, to_json(w.state))


# One staging table per connection, emptied at every commit or rollback.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS bulk_events (n int, stream_id text, stream_version int, "
    "expected int, last int, event_id uuid, event_type text, store_id text, payload bytea) "
    "ON COMMIT DELETE ROWS"
)
_COPY_STAGED = (
    "COPY bulk_events (n, stream_id, stream_version, expected, last, event_id, event_type, "
    "store_id, payload) FROM STDIN"
)
# As eventstore's _APPEND_MANY: move (or create) each stream from its expected version, then
# insert only the events of streams so claimed (fewer rows back: a conflict) and queue
# them for the relay, positions in the order staged.
_APPEND_STAGED = (
    "WITH input AS (SELECT DISTINCT stream_id, expected, last FROM bulk_events), "
    "moved AS (UPDATE streams s SET version = i.last FROM input i "
    "WHERE i.expected > 0 AND s.stream_id = i.stream_id AND s.version = i.expected "
    "RETURNING s.stream_id), "
    "created AS (INSERT INTO streams (stream_id, version) "
    "SELECT stream_id, last FROM input WHERE expected = 0 "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id), "
    "claimed AS (SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created), "
    "appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, "
    "store_id, payload, metadata, recorded_at) "
    "SELECT e.stream_id, e.stream_version, e.event_id, e.event_type, e.store_id, e.payload, "
    "%(metadata)s, %(at)s FROM bulk_events e JOIN claimed c ON c.stream_id = e.stream_id "
    "ORDER BY e.n RETURNING event_id, position, tx_id), "
    "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
    "SELECT event_id, position, tx_id FROM appended"
)
