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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg.types.json import Json
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Aggregate, Loaded, UnitOfWork
from kernel.bulk_rows import copy_text, encode_all, escaped
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

    Snapshots are saved where due, the streams' new states are kept in the aggregate cache
    once the unit of work commits (as `UnitOfWork.record` keeps them), and the recorded
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
    if uow.pending and not uow.pending.keys().isdisjoint(ids):
        # Appended now, they would land before the claims the closing statement makes.
        raise ValueError("record_many: a stream with appends waiting for the closing statement")
    now = uow.clock.now()
    events = [event for w in writes for event in w.events]
    encoded = encode_all(uow.registry, events)
    store_of = aggregate.store_of
    # (stream_id, stream_version) of each event, in the order staged; the same rows as
    # COPY text (n, stream, version, expected, last, type, store, payload).
    staged: list[tuple[str, int]] = []
    lines: list[str] = []
    texts: dict[str, str] = {}
    for w in writes:
        stream_id, expected = w.loaded.stream_id, w.loaded.version
        last = expected + len(w.events)
        stream = escaped(stream_id)
        for i, event in enumerate(w.events):
            n = len(staged)
            type_name, payload = encoded[n]
            store_id = store_of(event)
            head = f"{n}\t{stream}\t{expected + 1 + i}\t{expected}\t{last}"
            kind = texts.get(type_name) or texts.setdefault(type_name, escaped(type_name))
            where = texts.get(store_id) or texts.setdefault(store_id, escaped(store_id))
            lines.append(f"{head}\t{kind}\t{where}\t\\\\x{payload.hex()}\n")
            staged.append((stream_id, expected + 1 + i))
    driver = await begun_driver(uow.conn)
    await driver.execute(_STAGING)
    async with driver.cursor() as cur, cur.copy(_COPY_STAGED) as copy:
        await copy.write("".join(lines))
    # Every existing stream of the batch locked first, in stream-id order, then the new
    # ones created in that order: two batches over the same streams (two replicas syncing
    # one store) wait for each other instead of deadlocking.
    await driver.execute(_LOCK_STAGED)
    metadata = dict(uow.metadata)
    cursor = await driver.execute(_APPEND_STAGED, {"metadata": Json(metadata), "at": now})
    # (event_id, position, tx_id) of each appended event, in the order staged: positions
    # are drawn as the events are inserted, in that order.
    keys = await cursor.fetchall()
    if len(keys) != len(staged):
        claimed = await _appended_streams(driver, [position for _, position, _ in keys])
        stale = next(w for w in writes if w.loaded.stream_id not in claimed)
        raise ConcurrencyConflict(stale.loaded.stream_id, stale.loaded.version)
    recorded = [
        RecordedEvent(
            position=position,
            tx_id=tx_id,
            stream_id=stream_id,
            stream_version=version,
            event_id=event_id,
            event_type=type_name,
            store_id=store_of(event),
            payload=payload,
            metadata=metadata,
            recorded_at=now,
        )
        for (stream_id, version), (type_name, payload), event, (event_id, position, tx_id) in zip(
            staged, encoded, events, keys, strict=True
        )
    ]
    await _snapshots_due(uow, aggregate, writes)
    for w in writes:  # as UnitOfWork.record: kept in the cache once committed
        uow.written(Loaded(w.loaded.stream_id, w.state, w.loaded.version + len(w.events)))
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
    json_at = [k for k, c in enumerate(table.columns) if c.type.__class__.__name__ == "JSON"]
    await _stage_and_upsert(
        conn, table, keys, lambda driver, copy: _copy(driver, copy, rows, json_at)
    )


async def copy_upsert_text(
    conn: AsyncConnection, table: Table, keys: Sequence[str], data: str
) -> None:
    """`copy_upsert` of rows already in COPY's text format (every column of `table`, in
    its order, each line ending in a newline; `bulk_rows.escaped` for text): for a
    projection that formats its few simple columns itself, cheaper than a tuple per row."""
    if not data:
        return

    async def write(driver: Any, copy: str) -> None:
        async with driver.cursor() as cur, cur.copy(copy) as writer:
            await writer.write(data)

    await _stage_and_upsert(conn, table, keys, write)


async def _stage_and_upsert(
    conn: AsyncConnection,
    table: Table,
    keys: Sequence[str],
    fill: Callable[[Any, str], Awaitable[None]],
) -> None:
    columns = [c.name for c in table.columns]
    stage = f"bulk_{table.name}"
    driver = await begun_driver(conn)
    await driver.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    listed = ", ".join(columns)
    await fill(driver, f"COPY {stage} ({listed}) FROM STDIN")
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    await driver.execute(
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {stage} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


async def _copy(
    driver: Any, statement: str, rows: Sequence[Sequence[Any]], json_at: Sequence[int] = ()
) -> None:
    """COPY `rows` in: one text buffer when bulk_rows can format every value (a few
    known types), else row by row through psycopg's dumpers."""
    data = copy_text(rows, json_at)
    async with driver.cursor() as cur, cur.copy(statement) as copy:
        if data is not None:
            await copy.write(data)
            return
        for row in rows:
            if json_at:
                row = list(row)
                for k in json_at:
                    row[k] = Json(row[k])
            await copy.write_row(row)


async def _appended_streams(driver: Any, positions: list[int]) -> set[str]:
    """After a batch that appended fewer events than staged (it is rolled back): the
    streams it did append to, to name one that was not at its expected version."""
    cursor = await driver.execute(_STREAMS_AT, {"positions": positions})
    return {row[0] for row in await cursor.fetchall()}


def _refuse_reactions(uow: UnitOfWork, writes: Sequence[StreamWrite[Any]]) -> None:
    for w in writes:
        for event in w.events:
            for policy in uow.policies:
                if isinstance(event, policy.reacts_to):
                    raise ValueError(
                        f"record_many: {type(event).__name__} has a policy reacting to it"
                    )


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
    "CREATE TEMP TABLE IF NOT EXISTS bulk_staged_events (n int, stream_id text, "
    "stream_version int, expected int, last int, event_type text, store_id text, "
    "payload bytea) ON COMMIT DELETE ROWS"
)
_COPY_STAGED = (
    "COPY bulk_staged_events (n, stream_id, stream_version, expected, last, event_type, "
    "store_id, payload) FROM STDIN"
)
# The batch's existing streams, locked in stream-id order (rows are locked as the sorted
# rows come out, so in that order).
_LOCK_STAGED = (
    "SELECT count(*) FROM (SELECT 1 FROM streams WHERE stream_id IN "
    "(SELECT stream_id FROM bulk_staged_events) ORDER BY stream_id FOR UPDATE) locked"
)
# As eventstore's _APPEND_MANY: move (or create) each stream from its expected version, then
# insert only the events of streams so claimed (fewer rows back: a conflict) and queue
# them for the relay, positions in the order staged.
_APPEND_STAGED = (
    "WITH input AS (SELECT DISTINCT stream_id, expected, last FROM bulk_staged_events), "
    "moved AS (UPDATE streams s SET version = i.last FROM input i "
    "WHERE i.expected > 0 AND s.stream_id = i.stream_id AND s.version = i.expected "
    "RETURNING s.stream_id), "
    "created AS (INSERT INTO streams (stream_id, version) "
    "SELECT stream_id, last FROM input WHERE expected = 0 ORDER BY stream_id "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id), "
    "claimed AS (SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created), "
    "appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, "
    "store_id, payload, metadata, recorded_at) "
    "SELECT e.stream_id, e.stream_version, gen_random_uuid(), e.event_type, e.store_id, "
    "e.payload, %(metadata)s, %(at)s FROM bulk_staged_events e "
    "JOIN claimed c ON c.stream_id = e.stream_id "
    "ORDER BY e.n RETURNING event_id, position, tx_id), "
    "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
    "SELECT event_id, position, tx_id FROM appended ORDER BY position"
)
_STREAMS_AT = "SELECT DISTINCT stream_id FROM events WHERE position = ANY(%(positions)s)"
