"""SQLite's one write lock: a wait that runs out names who held it (the log), and the
caller gets UNAVAILABLE, safe to retry."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from structlog.testing import LogCapture

from kernel import db_engines
from kernel.db import Database
from kernel.errors import Unavailable
from tests.integration.kernel_fixtures import kernel_logs

__all__ = ["kernel_logs"]


async def test_a_lock_wait_that_runs_out_names_the_transactions_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_logs: LogCapture
) -> None:
    # A short busy timeout (real time, not business time): the wait must run out here.
    monkeypatch.setattr(db_engines, "SQLITE_BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}")
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.transaction("relay.read") as conn:
            await conn.execute(text("SELECT 1"))
            holding.set()
            await asyncio.wait_for(release.wait(), 30)

    held = asyncio.ensure_future(holder())
    try:
        await asyncio.wait_for(holding.wait(), 30)
        assert [name for name, _ in db.lock_holders.values()] == ["relay.read"]
        with pytest.raises(Unavailable, match="locked"):
            async with db.transaction("command BookAppointment") as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        release.set()
        await held
    [warning] = [e for e in kernel_logs.entries if e["event"] == "db.sqlite_lock_wait_ran_out"]
    assert warning["log_level"] == "warning"
    assert warning["transaction"] == "command BookAppointment"
    assert warning["held_by"].startswith("relay.read for ")
    assert warning["pool"].endswith("Checked out connections: 1")  # the holder's alone

    # The lock given back, the same transaction goes through and nobody is listed.
    async with db.transaction("command BookAppointment") as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    assert db.lock_holders == {}
    await db.engine.dispose()


async def test_a_transaction_cancelled_mid_statement_gives_the_write_lock_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call cancelled (its client's deadline) while its statement runs: SQLAlchemy
    drops the connection, closing it with its transaction open and the statement's cursor
    still alive, unreachable but for the cyclic collector. Closing must roll the
    transaction back: else the closed connection keeps SQLite's write lock until a
    collection frees the cursor, which in a serving process (kernel.gc_tuning) can be
    longer than any writer waits."""
    monkeypatch.setattr(db_engines, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "cancelled.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.transaction("schema") as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    loop = asyncio.get_running_loop()
    inside, release = asyncio.Event(), threading.Event()

    def blocking() -> int:  # runs on the connection's thread, in the statement
        loop.call_soon_threadsafe(inside.set)
        release.wait(30)
        return 1

    async def command() -> None:
        async with db.transaction("command BookAppointment") as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.create_function("blocking", 0, blocking)  # type: ignore[union-attr]
            await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
            await conn.execute(text("SELECT blocking()"))

    collecting = gc.isenabled()
    gc.disable()  # the serving process's collections are rare; here there are none
    try:
        called = asyncio.ensure_future(command())
        await asyncio.wait_for(inside.wait(), 30)
        called.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await called
        async with db.transaction("command BookAppointment") as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            await conn.execute(text("INSERT INTO t (id) VALUES (2)"))
    finally:
        release.set()
        if collecting:
            gc.enable()
        await db.engine.dispose()
