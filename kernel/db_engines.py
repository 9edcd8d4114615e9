"""Engine set-up per database: SQLite's connection pragmas and BEGIN IMMEDIATE,
PostgreSQL's pipelined BEGIN (kernel.db builds the engines and owns the transactions)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

# How long a SQLite statement waits for another connection's write lock before it fails
# (UNAVAILABLE to the caller). SQLite takes one writer at a time: a command may queue
# behind the relay and a batch command, and on a loaded machine 10 s was seen to run out
# (a SyncStockCounts retry while a test suite and `make run` shared two cores). A
# caller's deadline still bounds the wait.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Set on a connection whose transaction has begun in SQLAlchemy but not yet on the server.
BEGIN_PENDING = "storemesh.begin_pending"


def configure_postgres(engine: AsyncEngine) -> None:
    """Send a transaction's BEGIN together with its first statement.

    psycopg sends BEGIN in a round trip of its own before a transaction's first statement.
    Here psycopg runs in autocommit mode (it never sends BEGIN; its commit and rollback
    still end a transaction the server has open) and the kernel sends BEGIN itself: in the
    same pipeline as the first statement when that goes straight to psycopg
    (`driver_execute`), else just before SQLAlchemy's first statement. Every statement
    sent straight to psycopg must therefore go through `driver_execute`.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.info[BEGIN_PENDING] = True

    @event.listens_for(sync_engine, "commit")
    @event.listens_for(sync_engine, "rollback")
    def _on_end(conn: Connection) -> None:
        conn.info.pop(BEGIN_PENDING, None)

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before_execute(conn: Connection, *_: Any) -> None:
        if conn.info.pop(BEGIN_PENDING, False):
            driver = conn.connection.driver_connection
            assert driver is not None
            await_only(driver.execute(b"BEGIN"))


class RollingBackConnection(sqlite3.Connection):
    """A SQLite connection that rolls back an open transaction when it is closed.

    SQLAlchemy drops a connection it can no longer trust (a call cancelled mid-statement
    by its client's deadline; one the collector finalised unreturned) by closing it, its
    transaction still open. sqlite3_close_v2 rolls that back only once none of the
    connection's statements is left, and an unfinished statement's cursor lives on,
    unreachable but for the cyclic collector: until a collection (rare in a serving
    process, kernel.gc_tuning) the closed connection kept the file's write lock and every
    writer's wait ran out, naming no holder (as the edge fuzz test met once). A rollback
    first ends the transaction whatever statements remain. Runs on the connection's own
    thread (aiosqlite closes it there)."""

    def close(self) -> None:
        # Closed already (nothing to roll back), or the rollback failed: close all the same.
        with contextlib.suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


# `create_async_engine`'s connect_args for a SQLite file: aiosqlite passes them to
# sqlite3.connect.
SQLITE_CONNECT_ARGS: dict[str, Any] = {"factory": RollingBackConnection}


def configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) and wait for locks, not fail.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: SQLite then serialises writers, so
        # positions are assigned in commit order and no deadlock upgrade can happen.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
