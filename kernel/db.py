"""Database access: engines for PostgreSQL and SQLite, transactions, versioned migrations."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from opentelemetry import trace
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from kernel import edge
from kernel.codec import column_json
from kernel.db_engines import (
    BEGIN_PENDING,
    SQLITE_CONNECT_ARGS,
    configure_postgres,
    configure_sqlite,
)
from kernel.db_reads import DriverReader, Reader, ReadPool, ReadQuery, Row, SqlAlchemyReader
from kernel.errors import ConcurrencyConflict, Unavailable
from kernel.telemetry import span as span_of

log = structlog.get_logger("storemesh.kernel.db")

tracer = trace.get_tracer("storemesh.kernel.db")

# serialization_failure, deadlock_detected
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

migrations_metadata = MetaData()
schema_migrations = Table(
    "schema_migrations",
    migrations_metadata,
    Column("component", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware timestamp on both databases: written in UTC, read back aware.

    SQLite has no time zones: SQLAlchemy stores the wall-clock time and drops the offset,
    so an aware time would come back naive (and off by its offset unless it was UTC).
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


@dataclass(frozen=True)
class Migration:
    """One schema step. `apply` runs on a sync Connection inside the migration transaction."""

    version: int
    name: str
    apply: Callable[[Connection], None]


class Database:
    """`pipelined_begin` (PostgreSQL): see `kernel.db_engines.configure_postgres`. Services
    take it from `Settings.db_pipelined_begin` (off); without it psycopg sends its own BEGIN
    and SQLAlchemy the COMMIT, and `driver_execute` sends just its statement.

    `direct_commit` (PostgreSQL without `pipelined_begin`, on unless switched off for an
    A/B run): see `transaction`. Reads that need no transaction: `read` and `reader`."""

    def __init__(
        self, url: str, *, pool_size: int = 5, echo: bool = False, pipelined_begin: bool = True
    ) -> None:
        self.url = url
        # A JSON column's value may be a dataclass tree as well as plain JSON (see
        # kernel.codec.column_json): written as its to_json structure, wherever bound.
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": column_json}
        if url.startswith("postgresql"):
            # No pre-ping round trip per transaction: a dropped connection fails its call
            # (UNAVAILABLE, safe to retry) and SQLAlchemy then refreshes the pool.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
        elif url.startswith("sqlite"):
            kwargs.update(connect_args=dict(SQLITE_CONNECT_ARGS))
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        self.direct_commit = self.dialect == "postgresql" and not pipelined_begin
        if self.dialect == "sqlite":
            configure_sqlite(self.engine)
        elif self.dialect == "postgresql" and pipelined_begin:
            configure_postgres(self.engine)
        self._reads: ReadPool | None = None
        # SQLite: this process's open transactions (each holds the file's write lock, taken
        # by BEGIN IMMEDIATE), named with when they took it: who to blame for a lock wait
        # that ran out (kernel.db_engines.SQLITE_BUSY_TIMEOUT_MS).
        self.lock_holders: dict[int, tuple[str, float]] = {}
        if self.dialect == "postgresql":
            _, connect_args = self.engine.dialect.create_connect_args(self.engine.url)
            self._reads = ReadPool(
                lambda: psycopg.AsyncConnection.connect(**connect_args, autocommit=True),
                pool_size,
            )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def connections(self) -> dict[tuple[str, str], int]:
        """Open connections by pool and state, for the pool gauge: `engine` (SQLAlchemy's:
        transactions) and, on PostgreSQL, `reads` (the autocommit pool: reads, the relay,
        commands' closing statements); `in_use` or `idle`. A pool class that keeps no
        count (SQLite's may not) is left out."""
        found: dict[tuple[str, str], int] = {}
        pool = self.engine.pool
        checked_out, checked_in = (
            getattr(pool, "checkedout", None),
            getattr(pool, "checkedin", None),
        )
        if callable(checked_out) and callable(checked_in):
            found["engine", "in_use"] = int(checked_out())
            found["engine", "idle"] = int(checked_in())
        if self._reads is not None:
            found["reads", "in_use"] = self._reads.in_use
            found["reads", "idle"] = self._reads.idle
        return found

    @asynccontextmanager
    async def transaction(self, name: str = "db.transaction") -> AsyncIterator[AsyncConnection]:
        """One database transaction: committed when the body ends, rolled back if it raises.

        With `direct_commit` (PostgreSQL, plain psycopg transactions) the connection comes
        from the pool without a SQLAlchemy transaction around it: psycopg begins one with
        the first statement (as it does under SQLAlchemy's), statements sent straight to it
        (`driver_execute`) pay no greenlet hop, and the COMMIT goes to psycopg directly.
        SQLAlchemy statements in the body run as anywhere (SQLAlchemy's own begin sends
        nothing on psycopg); closing the connection rolls back what was not committed and
        returns it to the pool. Two greenlet hops per transaction instead of four, and
        none per statement sent to psycopg, where each cost about what the database did.
        """
        edge.refuse_pending()  # a request with wire faults never reaches the database
        with (
            span_of(tracer, name, attributes={"db.system": self.dialect}),
            _translated(name, self.lock_holders, self.engine.pool),
        ):
            if not self.direct_commit:
                async with self.engine.begin() as conn:
                    if self.is_postgres:
                        yield conn
                        return
                    holder = id(conn)
                    self.lock_holders[holder] = (name, time.monotonic())
                    try:
                        yield conn
                    finally:
                        del self.lock_holders[holder]
                return
            assert self._reads is not None
            conn = LateConnection(self.engine, self._reads)
            try:
                yield conn
                if conn.sync_connection is not None:
                    await _driver_of(conn).commit()
            finally:
                if conn.sync_connection is not None:
                    await conn.close()  # an uncommitted transaction is rolled back here

    async def read(
        self, query: ReadQuery, params: dict[str, Any], name: str = "db.read"
    ) -> list[Row]:
        """The rows of one read statement, outside any transaction (see `reader`)."""
        async with self.reader(name) as reader:
            return await reader.rows(query, params)

    @asynccontextmanager
    async def reader(self, name: str = "db.read") -> AsyncIterator[Reader]:
        """Read statements (`ReadQuery`) on one connection, errors and span as `transaction`.

        On PostgreSQL they go straight to a pooled autocommit psycopg connection kept apart
        from the engine's (kernel.db_reads): one round trip per statement, no BEGIN or
        COMMIT, no greenlet hop, no statement compiled per call; each statement sees its
        own snapshot. On SQLite they run in a `transaction` (which takes the write lock, so
        it is listed with the lock's holders).
        """
        if self._reads is None:
            async with self.transaction(name) as conn:
                yield SqlAlchemyReader(conn)
            return
        edge.refuse_pending()
        with (
            span_of(tracer, name, attributes={"db.system": self.dialect}),
            _translated(name),
        ):
            async with self._pooled(self._reads) as driver:
                yield DriverReader(driver, self.engine.dialect)

    async def autocommit(
        self, sql: str, params: Mapping[str, Any], name: str = "db.autocommit"
    ) -> list[Row]:
        """One SQL statement on its own (PostgreSQL): atomic as any statement is, sent on a
        pooled autocommit connection (the read path's) as one round trip, without BEGIN,
        COMMIT or SQLAlchemy; its rows, if it returns any. For work that is one statement
        by design (the relay's lease-and-read and delete)."""
        if self._reads is None:
            raise RuntimeError("Database.autocommit needs PostgreSQL")
        edge.refuse_pending()
        with span_of(tracer, name, attributes={"db.system": self.dialect}), _translated(name):
            async with self._pooled(self._reads) as driver:
                cursor = await driver.execute(sql, params)
                return await cursor.fetchall() if cursor.description is not None else []

    @staticmethod
    @asynccontextmanager
    async def _pooled(
        pool: ReadPool, *, kept_after_refusal: bool = False
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of the autocommit pool: back in the pool after, unless it failed
        (closed; a lost server closes the idle ones too). A refusal raised between reads
        leaves the connection fit; with `kept_after_refusal`, so does a statement the
        database refused (a constraint, a guard: nothing of it stays in autocommit)."""
        driver = await pool.acquire()
        healthy = True
        try:
            yield driver
        except (psycopg.Error, OSError, asyncio.CancelledError) as exc:
            # A serialization failure or deadlock is an OperationalError too, and no loss.
            lost = isinstance(exc, OSError) or (
                isinstance(exc, psycopg.OperationalError)
                and exc.sqlstate not in RETRYABLE_SQLSTATES
            )
            healthy = kept_after_refusal and isinstance(exc, psycopg.Error) and not lost
            if lost:
                await pool.lost()
            raise
        finally:
            await pool.release(driver, healthy)  # only ever kept idle, out of a transaction

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def migrate(self, component: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply the component's pending migrations once, even with replicas starting at once."""
        applied: list[int] = []
        async with self.engine.begin() as conn:
            if self.is_postgres:
                # Taken before creating the bookkeeping table too: replicas creating it at
                # the same moment collide on the catalogue (pg_type unique violation).
                await lock_for_transaction(conn, "storemesh-migrations")
            await conn.run_sync(migrations_metadata.create_all)
            done = set(
                (
                    await conn.execute(
                        select(schema_migrations.c.version).where(
                            schema_migrations.c.component == component
                        )
                    )
                ).scalars()
            )
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version in done:
                    continue
                await conn.run_sync(migration.apply)
                await conn.execute(
                    schema_migrations.insert().values(
                        component=component,
                        version=migration.version,
                        name=migration.name,
                        applied_at=datetime.now(UTC),
                    )
                )
                applied.append(migration.version)
        return applied

    async def dispose(self) -> None:
        if self._reads is not None:
            await self._reads.close()
        await self.engine.dispose()


@contextmanager
def _translated(
    name: str,
    lock_holders: Mapping[int, tuple[str, float]] | None = None,
    pool: Pool | None = None,
) -> Iterator[None]:
    """The database's errors as the kernel's: a collision PostgreSQL resolved by rolling
    one transaction back is a ConcurrencyConflict (safe to retry), an outage Unavailable.
    SQLite's write lock waited for in vain is logged with the transactions of this
    process that hold it, and for how long, and the pool's state (connections checked
    out beyond those transactions are held outside any)."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            # PostgreSQL rolled back one of two colliding transactions (deadlock,
            # serialization failure): a conflict that is safe to retry, not an outage.
            raise ConcurrencyConflict(name, -1) from exc
        if isinstance(exc, OperationalError) and lock_holders is not None and _locked(exc):
            # Who held it goes to the log, not to the caller.
            log.warning(
                "db.sqlite_lock_wait_ran_out",
                transaction=name,
                held_by=_holding(lock_holders),
                pool=pool.status() if pool is not None else "",
            )
            raise Unavailable("database unavailable: the database is locked") from exc
        if isinstance(exc, OperationalError):
            raise Unavailable(f"database unavailable: {exc.__class__.__name__}") from exc
        if exc.connection_invalidated:
            raise Unavailable("database connection lost") from exc
        raise
    except psycopg.Error as exc:
        # Statements sent straight to the driver (the event store's fast path).
        if exc.sqlstate in RETRYABLE_SQLSTATES:
            raise ConcurrencyConflict(name, -1) from exc
        if isinstance(exc, psycopg.OperationalError):
            raise Unavailable(f"database unavailable: {exc.__class__.__name__}") from exc
        raise
    except (ConnectionError, OSError) as exc:
        raise Unavailable(f"database unavailable: {exc.__class__.__name__}") from exc


class LateConnection(AsyncConnection):
    """A transaction's connection (`direct_commit`), taken from the engine's pool when its
    first statement goes out, through SQLAlchemy (`execute` and the like) or straight to
    psycopg (`driver_execute`, `begun_driver`).

    A command whose aggregates and facts were all cached sends nothing before its closing
    statement, which then goes out on its own (`execute_alone`): the engine's pool is
    never touched, nor its greenlet hops on checkout and return, nor psycopg's switches in
    and out of autocommit, which together cost a quarter of such a command's CPU.
    Methods not made late here (`begin`, `stream`, `info`...) fail before the first
    statement, as on a connection not started."""

    def __init__(self, engine: AsyncEngine, alone: ReadPool) -> None:
        super().__init__(engine)
        self.alone = alone
        self.ended_alone = False

    @property  # type: ignore[misc]  # read-only here: nothing sets a connection's dialect
    def dialect(self) -> Dialect:
        """The engine's, known before the connection is taken (the kernel asks it first)."""
        return self.sync_engine.dialect

    async def checked_out(self) -> None:
        """Take the connection from the pool, if not taken yet."""
        if self.sync_connection is None:
            if self.ended_alone:
                raise RuntimeError("the transaction ended with its closing statement")
            await self.start()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.checked_out()
        return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.checked_out()
        return await super().scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.checked_out()
        return await super().scalars(*args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.checked_out()
        return await super().exec_driver_sql(*args, **kwargs)

    async def run_sync(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.checked_out()
        return await super().run_sync(*args, **kwargs)


async def _checked_out(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    if isinstance(conn, LateConnection):
        await conn.checked_out()
    return _driver_of(conn)


def _driver_of(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `conn`, which must hold one (a transaction's does)."""
    sync = conn.sync_connection
    assert sync is not None and not sync.closed and not sync.invalidated
    # Connection.connection reaches the database only for a connection that has none.
    return sync.connection.driver_connection  # type: ignore[return-value]


async def begun_driver(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection of `conn`'s transaction with its BEGIN sent, for work psycopg
    does itself (COPY); with `pipelined_begin` the kernel sends BEGIN lazily, so a pending
    one goes first."""
    driver = await _checked_out(conn)
    if driver.autocommit and conn.info.pop(BEGIN_PENDING, False):
        await driver.execute(b"BEGIN")
    return driver


async def lock_for_transaction(conn: AsyncConnection, key: str) -> None:
    """Serialise the transactions that name `key` until this one ends (PostgreSQL: a
    transaction-scoped advisory lock on the key's CRC-32; SQLite's writers are serialised
    already): of two at once, the second sees what the first committed."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(key.encode())}
        )


async def without_jit(conn: AsyncConnection) -> None:
    """No JIT compilation for the rest of this transaction (PostgreSQL). A read that probes
    an index per row is estimated far above `jit_above_cost` on a large table, and
    compiling its plan took longer than running it (inventory's stale stock: 0.6 s of JIT
    on a 1.4 s query); the plans are run once, so nothing is won back."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL jit = off"))


async def driver_execute(
    conn: AsyncConnection,
    statement: str,
    params: dict[str, Any],
    *,
    commit: bool = False,
) -> psycopg.AsyncCursor[Any]:
    """A statement straight to the psycopg connection of the caller's transaction (where
    SQLAlchemy's per-statement work costs more CPU than the database does).

    With `pipelined_begin` (see `kernel.db_engines.configure_postgres`) the transaction's
    BEGIN, when not sent yet, and with `commit` its COMMIT go in the same round trip (one
    pipeline); with `commit` the transaction is then over on return: the caller's own
    commit finds nothing to do, and nothing may follow in it. Without, just the statement
    (psycopg has sent BEGIN; the caller's commit ends the transaction).
    """
    driver = await _checked_out(conn)
    if not driver.autocommit:  # `pipelined_begin` off: psycopg begins, SQLAlchemy commits
        return await driver.execute(statement, params)
    begin = conn.info.pop(BEGIN_PENDING, False)
    if not begin and not commit:
        return await driver.execute(statement, params)
    async with driver.pipeline():
        if begin:
            await driver.execute(b"BEGIN")
        cursor = await driver.execute(statement, params)
        if commit:
            await driver.execute(b"COMMIT")
    return cursor


async def execute_alone(conn: AsyncConnection, statement: str, params: dict[str, Any]) -> list[Row]:
    """A statement that ends the caller's transaction, committed with it (nothing may
    follow); its rows. When nothing was sent in the transaction yet (a `LateConnection`
    not taken from the pool), it goes on its own on an autocommit connection of the read
    pool: one round trip, no BEGIN, no COMMIT, atomic as every statement is; the
    transaction then has nothing to commit. Else it goes in the transaction, which
    commits (with `pipelined_begin` in the same round trip, else at its end)."""
    if isinstance(conn, LateConnection) and conn.sync_connection is None and not conn.ended_alone:
        conn.ended_alone = True  # a second one would be a transaction of its own: refused
        async with Database._pooled(conn.alone, kept_after_refusal=True) as alone:
            cursor = await alone.execute(statement, params)
            return await cursor.fetchall() if cursor.description is not None else []
    cursor = await driver_execute(conn, statement, params, commit=True)
    return await cursor.fetchall() if cursor.description is not None else []


def any_of(column: ColumnElement[Any], name: str, dialect: Dialect) -> ColumnElement[bool]:
    """`column` equal to one of the list bound as `name`: on PostgreSQL one array parameter
    (`= ANY(...)`), so a list of thousands is one value, not a statement of thousands of
    placeholders for SQLAlchemy to render and psycopg to parse; elsewhere an expanding IN."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


async def upsert(
    conn: Any,
    table: Table,
    values: dict[str, Any],
    keys: Sequence[str],
    *,
    increment: Sequence[str] = (),
) -> None:
    """Insert a row or update it in place; `increment` columns add to what is there."""
    statement = _upsert_statement(table, tuple(values), tuple(keys), tuple(increment))
    await conn.execute(statement, values)


async def upsert_many(
    conn: Any,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    increment: Sequence[str] = (),
) -> None:
    """`upsert` of many rows of one shape in one executemany."""
    if rows:
        statement = _upsert_statement(table, tuple(rows[0]), tuple(keys), tuple(increment))
        await conn.execute(statement, list(rows))


_UPSERTS: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], Any] = {}


def _upsert_statement(
    table: Table, columns: tuple[str, ...], keys: tuple[str, ...], increment: tuple[str, ...]
) -> Any:
    """One textual upsert per shape, typed by the table's columns.

    The dialects' own `insert()` constructs are not cacheable in SQLAlchemy 2.0, so they
    would be compiled again on every call; the ON CONFLICT text is the same on PostgreSQL
    and SQLite (3.24+).
    """
    shape = (table.name, columns, keys, increment)
    statement = _UPSERTS.get(shape)
    if statement is None:
        updates = [
            f"{c} = {table.name}.{c} + excluded.{c}" if c in increment else f"{c} = excluded.{c}"
            for c in columns
            if c not in keys
        ]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT ({', '.join(keys)}) {action}"
        )
        statement = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
        _UPSERTS[shape] = statement
    return statement


def _locked(exc: DBAPIError) -> bool:
    return "database is locked" in str(exc.orig)


def _holding(lock_holders: Mapping[int, tuple[str, float]]) -> str:
    """The transactions of this process holding SQLite's write lock, longest first."""
    now = time.monotonic()
    held = sorted(lock_holders.values(), key=lambda h: h[1])
    if not held:
        return "no transaction of this process (another process, or one just ended)"
    return ", ".join(f"{name} for {now - since:.1f} s" for name, since in held)
