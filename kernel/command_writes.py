"""The rows a command writes besides its events (timers armed, the command log, the
read-model rows its projectors deferred), sent in as few round trips as its transaction
allows."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator, TypeEngine

from kernel.codec import json_text, to_json
from kernel.db import UtcDateTime, driver_execute, execute_alone, upsert, upsert_many
from kernel.errors import ConcurrencyConflict
from kernel.event_tables import (
    CLOSE_GUARD_HINT_CONFLICT,
    CLOSE_GUARD_HINT_STALE,
    command_log,
    timers,
)
from kernel.eventstore import StreamAppend
from kernel.eventstore_sql import closing_appends, closing_select


@dataclass(frozen=True)
class TimerRow:
    timer_id: str
    kind: str
    due_at: datetime
    payload: Any  # what kernel.codec.to_json takes: written as JSON at the write

    def values(self) -> dict[str, Any]:
        return {
            "timer_id": self.timer_id,
            "kind": self.kind,
            "due_at": self.due_at,
            "payload": to_json(self.payload),
            "attempts": 0,
            "last_error": None,
        }


@dataclass(frozen=True)
class CommandLogRow:
    """A command's result under its request id (a repeat hits the primary key)."""

    request_id: str
    command_type: str
    fingerprint: str
    result: Any  # what kernel.codec.to_json takes: written as JSON at the write
    recorded_at: datetime


@dataclass(frozen=True)
class UpsertShape:
    """What the rows of one deferred upsert have in common."""

    table: Table
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    increment: tuple[str, ...] = ()


@dataclass
class DeferredUpserts:
    """Read-model rows a unit of work writes once, at its end: one row per key, however
    often its projectors wrote it (a later write replaces an earlier one, its `increment`
    columns add up). So one statement can carry them all: a data-modifying CTE may touch
    each row only once."""

    rows: dict[tuple[UpsertShape, tuple[Any, ...]], dict[str, Any]]

    def __init__(self) -> None:
        self.rows = {}

    def add(self, shape: UpsertShape, values: dict[str, Any]) -> None:
        key = (shape, tuple(values[k] for k in shape.keys))
        earlier = self.rows.get(key)
        if earlier is not None and shape.increment:
            values = {
                **values,
                **{c: earlier[c] + values[c] for c in shape.increment},
            }
        self.rows[key] = values

    def by_shape(self) -> dict[UpsertShape, list[dict[str, Any]]]:
        grouped: dict[UpsertShape, list[dict[str, Any]]] = {}
        for (shape, _), values in self.rows.items():
            grouped.setdefault(shape, []).append(values)
        return grouped

    def __bool__(self) -> bool:
        return bool(self.rows)


# A group past this many rows goes in an executemany of its own (a statement's parameters
# are limited to 65,535; a batch command's rows are better sent that way anyway).
_MAX_ROWS_IN_STATEMENT = 100


async def write(
    conn: AsyncConnection,
    armed: Sequence[TimerRow],
    logged: CommandLogRow | None,
    deferred: DeferredUpserts | None = None,
    *,
    commit: bool = False,
) -> None:
    """Arm (or re-arm) the timers, write the deferred read-model rows and log the command,
    in the caller's transaction. With `commit` it may also commit it (on PostgreSQL with
    `Database(pipelined_begin=True)`, in the same pipeline); the caller's own commit then
    finds nothing to do, so nothing may follow.

    On PostgreSQL one statement, straight to the psycopg connection: a reservation paid a
    round trip and SQLAlchemy's statement handling for each of the three.
    """
    if conn.dialect.name != "postgresql":
        for shape, rows in (deferred.by_shape() if deferred else {}).items():
            for values in rows:
                await upsert(conn, shape.table, values, shape.keys, increment=shape.increment)
        for timer in armed:
            await upsert(conn, timers, timer.values(), ["timer_id"])
        if logged is not None:
            await conn.execute(
                command_log.insert(), {**vars(logged), "result": to_json(logged.result)}
            )
        return
    closing, params = await _closing(conn, armed, logged, deferred)
    if closing[0] or closing[1] or closing[2]:
        await driver_execute(conn, _statement(*closing), params, commit=commit)


@dataclass(frozen=True)
class Closed:
    """What a closing statement with appends gave back: the transaction's id and the
    events' positions, in the order given."""

    tx_id: int
    positions: list[int]


async def write_with_appends(
    conn: AsyncConnection,
    appends: Sequence[StreamAppend],
    recorded_at: Sequence[Sequence[datetime]],
    unguarded: Mapping[str, int],
    armed: Sequence[TimerRow],
    logged: CommandLogRow | None,
    deferred: DeferredUpserts | None = None,
) -> Closed:
    """(PostgreSQL) The command's appends (`recorded_at`: each event's time, per append), its
    timers, read-model rows and log in ONE statement, which also checks that every stream
    in `unguarded` (read from a cache, not appended to) is still at its version, and
    commits: as the transaction's only statement it goes on its own (no BEGIN, no
    COMMIT: one round trip), else in the transaction, which it commits.

    A stream not at its expected version raises ConcurrencyConflict, a moved `unguarded`
    stream StaleRead; either way nothing of the statement is written.
    """
    closing, params = await _closing(conn, armed, logged, deferred)
    claims = tuple(a.expected_version == 0 for a in appends)
    n = 0
    for j, (a, times) in enumerate(zip(appends, recorded_at, strict=True)):
        params[f"s{j}"] = a.stream_id
        params[f"s{j}e"] = a.expected_version
        params[f"s{j}n"] = a.expected_version + len(a.events)
        for i, (e, at) in enumerate(zip(a.events, times, strict=True)):
            params[f"e{n}s"] = a.stream_id
            params[f"e{n}v"] = a.expected_version + 1 + i
            params[f"e{n}id"] = e.event_id
            params[f"e{n}t"] = e.event_type
            params[f"e{n}st"] = e.store_id
            params[f"e{n}p"] = e.payload
            params[f"e{n}m"] = json_text(e.metadata)
            params[f"e{n}at"] = at
            n += 1
    for k, (stream_id, version) in enumerate(unguarded.items()):
        params[f"u{k}"] = stream_id
        params[f"u{k}v"] = version
    statement = _statement_with_appends(claims, n, len(unguarded), *closing)
    try:
        rows = await execute_alone(conn, statement, params)
    except psycopg.errors.SerializationFailure as exc:
        hint = exc.diag.message_hint
        if hint == CLOSE_GUARD_HINT_CONFLICT:
            raise ConcurrencyConflict(
                ", ".join(a.stream_id for a in appends), appends[0].expected_version
            ) from exc
        if hint == CLOSE_GUARD_HINT_STALE:
            raise StaleRead(tuple(unguarded)) from exc
        raise
    assert len(rows) == 1 and len(rows[0][2]) == n, "the closing statement's guard let it through"
    return Closed(rows[0][1], rows[0][2])


class StaleRead(Exception):
    """A stream read from a cache (and not appended to) had moved on before the commit."""

    def __init__(self, stream_ids: tuple[str, ...]) -> None:
        super().__init__(f"read from the cache and moved on since: {', '.join(stream_ids)}")
        self.stream_ids = stream_ids


_ClosingShape = tuple[int, bool, tuple[tuple["UpsertShape", int], ...]]


async def _closing(
    conn: AsyncConnection,
    armed: Sequence[TimerRow],
    logged: CommandLogRow | None,
    deferred: DeferredUpserts | None,
) -> tuple[_ClosingShape, dict[str, Any]]:
    """(PostgreSQL) The closing statement's shape and parameters; groups too big for it, or
    whose columns need SQLAlchemy's binding, are written first, on their own."""
    inline: list[tuple[UpsertShape, list[dict[str, Any]]]] = []
    for shape, rows in (deferred.by_shape() if deferred else {}).items():
        if len(rows) > _MAX_ROWS_IN_STATEMENT or _casts(shape) is None:
            await upsert_many(conn, shape.table, rows, shape.keys, increment=shape.increment)
        else:
            inline.append((shape, rows))
    params: dict[str, Any] = {}
    for i, timer in enumerate(armed):
        params.update(
            {
                f"id{i}": timer.timer_id,
                f"kind{i}": timer.kind,
                f"due{i}": timer.due_at,
                f"payload{i}": json_text(timer.payload),
            }
        )
    if logged is not None:
        params.update({**vars(logged), "result": json_text(logged.result)})
    for g, (shape, rows) in enumerate(inline):
        adapt = _adapters(shape)
        for r, values in enumerate(rows):
            for c, to_param in zip(shape.columns, adapt, strict=True):
                value = values[c]
                params[f"g{g}r{r}{c}"] = value if to_param is None else to_param(value)
    groups = tuple((shape, len(rows)) for shape, rows in inline)
    return (len(armed), logged is not None, groups), params


@functools.cache
def _statement(
    timer_count: int, with_log: bool, groups: tuple[tuple[UpsertShape, int], ...]
) -> str:
    """Timer and read-model upserts as data-modifying CTEs in front of the command-log
    insert (each touches rows no other part of the statement touches)."""
    *ctes, main = _parts(timer_count, with_log, groups)
    if not ctes:
        return main
    return "WITH " + ", ".join(f"w{i} AS ({c})" for i, c in enumerate(ctes)) + " " + main


@functools.lru_cache(maxsize=256)  # bounded as closing_appends is
def _statement_with_appends(
    claims: tuple[bool, ...],
    events: int,
    unguarded: int,
    timer_count: int,
    with_log: bool,
    groups: tuple[tuple[UpsertShape, int], ...],
) -> str:
    """The appends' CTEs, then every write of `_statement` as a CTE, then the guard's row."""
    ctes = [
        *closing_appends(claims, events),
        *(f"w{i} AS ({c})" for i, c in enumerate(_parts(timer_count, with_log, groups))),
    ]
    return "WITH " + ", ".join(ctes) + " " + closing_select(len(claims), unguarded)


def _parts(
    timer_count: int, with_log: bool, groups: tuple[tuple[UpsertShape, int], ...]
) -> list[str]:
    parts: list[str] = []
    if timer_count:
        parts.append(
            "INSERT INTO timers (timer_id, kind, due_at, payload, attempts, last_error) VALUES "
            + ", ".join(
                f"(%(id{i})s, %(kind{i})s, %(due{i})s, %(payload{i})s::json, 0, NULL)"
                for i in range(timer_count)
            )
            + " ON CONFLICT (timer_id) DO UPDATE SET kind = excluded.kind, "
            "due_at = excluded.due_at, payload = excluded.payload, attempts = 0, "
            "last_error = NULL"
        )
    for g, (shape, count) in enumerate(groups):
        parts.append(_upsert_sql(g, shape, count))
    if with_log:
        parts.append(
            "INSERT INTO command_log (request_id, command_type, fingerprint, result, "
            "recorded_at) VALUES (%(request_id)s, %(command_type)s, %(fingerprint)s, "
            "%(result)s::json, %(recorded_at)s)"
        )
    return parts


def _upsert_sql(g: int, shape: UpsertShape, count: int) -> str:
    casts = _casts(shape)
    assert casts is not None
    name = shape.table.name
    rows = ", ".join(
        "("
        + ", ".join(
            f"%(g{g}r{r}{c})s::{cast}" for c, cast in zip(shape.columns, casts, strict=True)
        )
        + ")"
        for r in range(count)
    )
    updates = [
        f"{c} = {name}.{c} + excluded.{c}" if c in shape.increment else f"{c} = excluded.{c}"
        for c in shape.columns
        if c not in shape.keys
    ]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {name} ({', '.join(shape.columns)}) VALUES {rows} "
        f"ON CONFLICT ({', '.join(shape.keys)}) {action}"
    )


# Column types whose Python values psycopg adapts as SQLAlchemy would bind them (SQLAlchemy's
# psycopg dialect has no bind processor for any of them: it hands psycopg the value as is).
# Float and Numeric too: psycopg sends a float as float8 and a Decimal as numeric, whether
# SQLAlchemy or this statement passes it, and the explicit cast to the column's type is the
# very conversion PostgreSQL's assignment to the column makes.
_PLAIN: tuple[type[TypeEngine[Any]], ...] = (
    String,
    Text,
    Integer,
    BigInteger,
    SmallInteger,
    Boolean,
    Date,
    DateTime,
    LargeBinary,
    Uuid,
    Float,
    Numeric,
)


_POSTGRES = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _casts(shape: UpsertShape) -> tuple[str, ...] | None:
    """Each column's PostgreSQL type, or None when one of them needs SQLAlchemy's own
    binding (the rows then go through SQLAlchemy)."""
    casts = []
    for c in shape.columns:
        column_type = shape.table.c[c].type
        if not isinstance(column_type, (JSON, UtcDateTime, *_PLAIN)):
            return None
        if isinstance(column_type, JSON) and column_type.none_as_null:
            return None
        if isinstance(column_type, Enum):
            # A String to isinstance, but SQLAlchemy binds a member by its name (or by
            # `values_callable`) and checks it; psycopg would pass the member as it is.
            return None
        if isinstance(column_type, TypeDecorator) and not isinstance(column_type, UtcDateTime):
            return None
        casts.append(column_type.compile(dialect=_POSTGRES))
    return tuple(casts)


@functools.cache
def _adapters(shape: UpsertShape) -> tuple[Any, ...]:
    """Per column: None (psycopg adapts the value) or a function making the parameter."""
    adapters: list[Any] = []
    for c in shape.columns:
        column_type = shape.table.c[c].type
        if isinstance(column_type, JSON):
            # The JSON text for the statement's cast; None too ("null": SQLAlchemy binds
            # it as JSON null).
            adapters.append(json_text)
        elif isinstance(column_type, UtcDateTime):
            adapters.append(functools.partial(column_type.process_bind_param, dialect=_POSTGRES))
        else:
            adapters.append(None)
    return tuple(adapters)
