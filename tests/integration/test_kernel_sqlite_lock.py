"""SQLite's one write lock: a wait that runs out names who held it (the log), and the
caller gets UNAVAILABLE, safe to retry."""

from __future__ import annotations

import asyncio
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

    # The lock given back, the same transaction goes through and nobody is listed.
    async with db.transaction("command BookAppointment") as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    assert db.lock_holders == {}
    await db.engine.dispose()
