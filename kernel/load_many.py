"""Loading many streams of one aggregate type in two round trips, for batch commands.

`UnitOfWork.load` costs two round trips per stream (snapshot, then the events after it);
a batch of 500 positions would pay 1,000 before deciding anything. This reads the
snapshots of all the streams in one query and every event after them in another, and
folds each stream exactly as `UnitOfWork.load` does, so the `Loaded` it returns carries
the version an append must expect (a writer that got there first is a conflict, and
Application.handle retries the whole unit of work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, String, and_, any_, bindparam, func, select

from kernel.application import Aggregate, Loaded, UnitOfWork
from kernel.codec import from_json
from kernel.eventstore import events, snapshots

S = TypeVar("S")


async def load_many(
    uow: UnitOfWork, aggregate: Aggregate[S], stream_ids: Sequence[str]
) -> dict[str, Loaded[S]]:
    """Each stream's state and version (a stream with no events: the initial state, 0)."""
    ids = list(dict.fromkeys(stream_ids))
    if not ids:
        return {}
    # On PostgreSQL the ids go as one array parameter: an expanding IN renders (and the
    # driver parses) a placeholder per id, which cost more CPU than the query itself.
    snapshots_of, events_of = _PG if uow.conn.dialect.name == "postgresql" else _ANY_DB
    base: dict[str, tuple[int, S | None]] = {
        row.stream_id: (row.version, from_json(row.state, aggregate.state_type))
        for row in await uow.conn.execute(snapshots_of, {"ids": ids})
    }
    recorded: dict[str, list[object]] = {}
    for row in await uow.conn.execute(events_of, {"ids": ids}):
        recorded.setdefault(row.stream_id, []).append(
            uow.registry.decode(row.event_type, row.payload)
        )
    loaded: dict[str, Loaded[S]] = {}
    for stream_id in ids:
        version, state = base.get(stream_id, (0, None))
        tail = recorded.get(stream_id, [])
        loaded[stream_id] = Loaded(
            stream_id, aggregate.decider.fold(tail, state), version + len(tail)
        )
    return loaded


def _statements(ids: Any) -> tuple[Any, Any]:
    """The snapshots of the streams `ids` names, and their events after them."""
    in_ids: Callable[[Any], Any] = (
        (lambda column: column.in_(ids)) if ids.expanding else (lambda column: column == any_(ids))
    )
    of_snapshots = select(snapshots.c.stream_id, snapshots.c.version, snapshots.c.state).where(
        in_ids(snapshots.c.stream_id)
    )
    after_snapshots = (
        select(events.c.stream_id, events.c.event_type, events.c.payload)
        .select_from(events.outerjoin(snapshots, snapshots.c.stream_id == events.c.stream_id))
        .where(
            and_(
                in_ids(events.c.stream_id),
                events.c.stream_version > func.coalesce(snapshots.c.version, 0),
            )
        )
        .order_by(events.c.stream_id, events.c.stream_version)
    )
    return of_snapshots, after_snapshots


_ANY_DB = _statements(bindparam("ids", expanding=True))
_PG = _statements(bindparam("ids", type_=ARRAY(String)))
