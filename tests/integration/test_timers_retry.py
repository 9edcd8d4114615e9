"""Durable timers: a handler that meets a concurrent write fires again instead of being lost."""

from __future__ import annotations

from typing import Any

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import ConcurrencyConflict, RuleViolated
from kernel.events import EventRegistry
from kernel.eventstore import KERNEL_MIGRATIONS
from kernel.timers import TimerRunner


async def _runner(pg_url: str, clock: ManualClock, handler: Any) -> tuple[Database, TimerRunner]:
    db = Database(pg_url)
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    app = Application(db, EventRegistry("test", (), None), clock)
    async with db.transaction() as conn:
        await app.unit_of_work(conn).schedule("hold/SZ01/H-1", "expire", clock.now(), {"n": 1})
    return db, TimerRunner(app, {"expire": handler})


async def test_a_timer_that_meets_a_concurrency_conflict_fires_again(
    pg_url: str, clock: ManualClock
) -> None:
    calls: list[Any] = []

    async def handler(uow: UnitOfWork, payload: Any) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise ConcurrencyConflict("book/SZ01/2026-11-02", 3)

    db, runner = await _runner(pg_url, clock, handler)
    try:
        assert await runner.run_due() == 0
        assert await runner.run_due() == 1
        assert calls == [{"n": 1}, {"n": 1}]
        assert await runner.run_due() == 0
    finally:
        await db.dispose()


async def test_a_timer_refused_by_a_business_rule_is_done(pg_url: str, clock: ManualClock) -> None:
    calls: list[Any] = []

    async def handler(uow: UnitOfWork, payload: Any) -> None:
        calls.append(payload)
        raise RuleViolated("HOLD_NOT_LIVE", "already confirmed")

    db, runner = await _runner(pg_url, clock, handler)
    try:
        assert await runner.run_due() == 1
        assert await runner.run_due() == 0
        assert len(calls) == 1
    finally:
        await db.dispose()
