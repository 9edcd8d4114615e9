"""Loading many streams of one aggregate type in two round trips, for batch commands.

`UnitOfWork.load` costs two round trips per stream (snapshot, then the events after it);
a batch of 500 positions would pay 1,000 before deciding anything. This answers the
streams recorded in the unit of work, and those the aggregate cache holds, as
`UnitOfWork.load` answers them (a cached stream not appended to is re-checked as the
command closes), then reads the snapshots of all the others in one query and every event
after them in another, and folds each stream exactly as `UnitOfWork.load` does, so the
`Loaded` it returns carries the version an append must expect (a writer that got there
first is a conflict, and Application.handle retries the whole unit of work).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, select

from kernel.application import Aggregate, Loaded, UnitOfWork
from kernel.bulk_rows import decode_all
from kernel.codec import from_json
from kernel.db import begun_driver
from kernel.eventstore import events, snapshots

S = TypeVar("S")


async def load_many(
    uow: UnitOfWork, aggregate: Aggregate[S], stream_ids: Sequence[str]
) -> dict[str, Loaded[S]]:
    """Each stream's state and version (a stream with no events: the initial state, 0)."""
    ids = list(dict.fromkeys(stream_ids))
    # Streams recorded in this unit of work and waiting for its closing statement: their
    # state is the recorded one, which the store does not hold yet (as UnitOfWork.load).
    recorded_here = {i: q for i in ids if (q := uow.queued(i)) is not None}
    ids = [i for i in ids if i not in recorded_here]
    # Then, as UnitOfWork.load answers, from the cache (guarded as that load's are).
    loaded: dict[str, Loaded[S]] = recorded_here
    for i in ids:
        hit = uow.cached(i)
        if hit is not None:
            loaded[i] = hit
    ids = [i for i in ids if i not in loaded]
    if not ids:
        return loaded
    if uow.conn.dialect.name == "postgresql":
        base, recorded = await _read_pg(uow, aggregate, ids)
    else:
        base, recorded = await _read_any(uow, aggregate, ids)
    fold = aggregate.decider.fold
    for stream_id in ids:
        version, state = base.get(stream_id, (0, None))
        tail = recorded.get(stream_id, [])
        loaded[stream_id] = Loaded(stream_id, fold(tail, state), version + len(tail))
        uow.loaded_from_store(loaded[stream_id])
    return loaded


Snapshots = dict[str, tuple[int, Any]]
Tails = dict[str, list[Any]]


async def _read_pg(
    uow: UnitOfWork, aggregate: Aggregate[S], ids: list[str]
) -> tuple[Snapshots, Tails]:
    """Through psycopg itself: the ids go as one binary array parameter (a text array is
    quoted and escaped id by id, in Python) and the events are decoded in bulk
    (kernel/bulk_rows.py: each type's plan and each distinct moment once)."""
    driver = await begun_driver(uow.conn)
    cursor = await driver.execute(_PG_SNAPSHOTS, {"ids": ids})
    base = {
        stream_id: (version, from_json(json.loads(state), aggregate.state_type))
        for stream_id, version, state in await cursor.fetchall()
    }
    cursor = await driver.execute(_PG_EVENTS, {"ids": ids})
    rows = await cursor.fetchall()
    decoded = decode_all(uow.registry, [(event_type, payload) for _, event_type, payload in rows])
    recorded: Tails = {}
    for (stream_id, _, _), event in zip(rows, decoded, strict=True):
        recorded.setdefault(stream_id, []).append(event)
    return base, recorded


async def _read_any(
    uow: UnitOfWork, aggregate: Aggregate[S], ids: list[str]
) -> tuple[Snapshots, Tails]:
    snapshots_of, events_of = _ANY_DB
    base: Snapshots = {
        row.stream_id: (row.version, from_json(row.state, aggregate.state_type))
        for row in await uow.conn.execute(snapshots_of, {"ids": ids})
    }
    recorded: Tails = {}
    for row in await uow.conn.execute(events_of, {"ids": ids}):
        recorded.setdefault(row.stream_id, []).append(
            uow.registry.decode(row.event_type, row.payload)
        )
    return base, recorded


def _statements(ids: Any) -> tuple[Any, Any]:
    """The snapshots of the streams `ids` names, and their events after them."""
    of_snapshots = select(snapshots.c.stream_id, snapshots.c.version, snapshots.c.state).where(
        snapshots.c.stream_id.in_(ids)
    )
    after_snapshots = (
        select(events.c.stream_id, events.c.event_type, events.c.payload)
        .select_from(events.outerjoin(snapshots, snapshots.c.stream_id == events.c.stream_id))
        .where(
            and_(
                events.c.stream_id.in_(ids),
                events.c.stream_version > func.coalesce(snapshots.c.version, 0),
            )
        )
        .order_by(events.c.stream_id, events.c.stream_version)
    )
    return of_snapshots, after_snapshots


_ANY_DB = _statements(bindparam("ids", expanding=True))
# As _statements says, in PostgreSQL's words, the ids a binary text[] parameter.
_PG_SNAPSHOTS = (
    "SELECT stream_id, version, state::text FROM snapshots WHERE stream_id = ANY(%(ids)b)"
)
_PG_EVENTS = (
    "SELECT e.stream_id, e.event_type, e.payload FROM events e "
    "LEFT OUTER JOIN snapshots s ON s.stream_id = e.stream_id "
    "WHERE e.stream_id = ANY(%(ids)b) AND e.stream_version > coalesce(s.version, 0) "
    "ORDER BY e.stream_id, e.stream_version"
)
