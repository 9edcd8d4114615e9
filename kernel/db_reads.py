"""Reads sent straight to psycopg (see `Database.reader`): statements compiled once per
dialect, run on pooled autocommit connections, rows as plain tuples.

Through SQLAlchemy a one-statement read pays the pool checkout and return in greenlets,
BEGIN and COMMIT round trips, a cache-key walk of the statement and result processing:
about 1 ms of CPU where the database needs a fraction of that (docs/profiles.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Select, TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.errors import Unavailable

Row = tuple[Any, ...]


class ReadQuery:
    """One read statement: a SQLAlchemy select (or text) whose parameters are named
    `bindparam`s, compiled once per dialect (module level is the place to build one).

    On PostgreSQL its rows are psycopg's values (no SQLAlchemy result processing: an aware
    timestamp, an int, a str, parsed JSON); elsewhere SQLAlchemy runs the construct.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Select[Any] | TextClause) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        """The SQL text for `dialect` and the values it binds itself (literals)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            sql = str(compiled)
            if "POSTCOMPILE" in sql:
                raise ValueError("a ReadQuery cannot expand IN lists: use = ANY(:list)")
            literals = {k: v for k, v in compiled.params.items() if v is not None}
            found = self._compiled[dialect.name] = (sql, literals)
        return found


class Reader(Protocol):
    """Where `ReadQuery`s run: one connection, each statement its own snapshot on
    PostgreSQL (no transaction is open; what needs one snapshot across statements uses
    `Database.transaction`)."""

    async def rows(self, query: ReadQuery, params: Mapping[str, Any]) -> list[Row]: ...


class DriverReader:
    """A pooled autocommit psycopg connection (PostgreSQL)."""

    __slots__ = ("_conn", "_dialect")

    def __init__(self, conn: psycopg.AsyncConnection[Any], dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    async def rows(self, query: ReadQuery, params: Mapping[str, Any]) -> list[Row]:
        sql, literals = query.compiled(self._dialect)
        cursor = await self._conn.execute(sql, {**literals, **params} if literals else params)
        return await cursor.fetchall()


class SqlAlchemyReader:
    """A SQLAlchemy connection (SQLite, whose driver has no such shortcut)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rows(self, query: ReadQuery, params: Mapping[str, Any]) -> list[Row]:
        return [tuple(row) for row in await self._conn.execute(query.statement, dict(params))]


def reader_of(source: Reader | AsyncConnection) -> Reader:
    """A read function's source as a `Reader`: the read path's own (`Database.reader`), or
    a SQLAlchemy connection (a transaction, a benchmark's bare row)."""
    return SqlAlchemyReader(source) if isinstance(source, AsyncConnection) else source


class ReadPool:
    """Autocommit psycopg connections for reads, opened on demand: at most `size` kept idle
    and `2 * size` open at once (as the engine's pool: pool_size plus as much overflow),
    each replaced after `recycle` seconds. A connection whose read failed or was cancelled
    is closed, not reused; a dropped one fails its read (Unavailable) and is replaced.

    A caller waits at most `wait` seconds for a connection (as SQLAlchemy's pool_timeout),
    then fails with Unavailable: commands' closing statements also go out here, and one
    waiting on a row lock holds its connection, so a pool drained by lock waits must
    surface as a retryable refusal, never as a wait without end."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
        size: int,
        recycle: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        wait: float = 30.0,
    ) -> None:
        self._connect = connect
        self.size = size
        self._recycle = recycle
        self._clock = clock
        self._wait = wait
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._born: dict[int, float] = {}
        self._slots = asyncio.Semaphore(2 * size)
        self._closed = False
        self._in_use = 0

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def in_use(self) -> int:
        """Connections handed out and not yet back (the pool's gauge)."""
        return self._in_use

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        try:
            if self._slots.locked():  # else a free slot is taken at once, no timer needed
                await asyncio.wait_for(self._slots.acquire(), self._wait)
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise Unavailable(
                f"no database connection free within {self._wait:g} s (pool of {2 * self.size})"
            ) from None
        try:
            now = self._clock()
            while self._idle:
                conn, born = self._idle.pop()
                if not conn.closed and now - born < self._recycle:
                    self._in_use += 1
                    return conn
                await self._discard(conn)
            conn = await self._connect()
            self._born[id(conn)] = now
            self._in_use += 1
            return conn
        except BaseException:
            self._slots.release()
            raise

    async def release(self, conn: psycopg.AsyncConnection[Any], healthy: bool) -> None:
        try:
            if (
                healthy
                and not self._closed
                and len(self._idle) < self.size
                and not conn.closed
                and conn.info.transaction_status == TransactionStatus.IDLE
            ):
                self._idle.append((conn, self._born.get(id(conn), 0.0)))
            else:
                await self._discard(conn)
        finally:
            self._in_use -= 1
            self._slots.release()

    async def lost(self) -> None:
        """The server went away (a restart, a failover): every idle connection is as dead
        as the one that failed, so they are closed now rather than each failing a read."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await self._discard(conn)

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._born.pop(id(conn), None)
        if not conn.closed:
            with contextlib.suppress(psycopg.Error, OSError):  # gone either way
                await conn.close()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await self._discard(conn)
